"""Image helpers for videos: depth colour maps, a fixed colour per instance id, panel layout.

Example:
    >>> import numpy as np
    >>> colorize_semantic(np.array([[0, 7]], np.int32)).shape
    (1, 2, 3)
    >>> bool((colorize_semantic(np.array([[7]])) == colorize_semantic(np.array([[7]]))).all())
    True
"""

from __future__ import annotations

import numpy as np


def colorize_depth(depth: np.ndarray, max_depth: float = 10.0, cmap: str = "turbo") -> np.ndarray:
    """Metric depth (H, W) or (H, W, 1) -> (H, W, 3) uint8 with a matplotlib colour map; 0 / inf = black."""
    import matplotlib

    d = np.asarray(depth, np.float32).reshape(depth.shape[0], depth.shape[1])
    valid = np.isfinite(d) & (d > 0)
    x = np.clip(np.where(valid, d, 0) / max(float(max_depth), 1e-6), 0, 1)
    lut = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    out = lut[(x * 255).astype(np.uint8)]
    out[~valid] = 0
    return out


def instance_colors(ids: np.ndarray) -> np.ndarray:
    """A stable RGB colour per id (a hash, so colours do not depend on which ids a frame shows); 0 is dark grey."""
    ids = np.asarray(ids, np.uint64)
    # Knuth-style multiplicative hash spreads neighbouring ids over distant colours.
    h = (ids * np.uint64(2654435761)) & np.uint64(0xFFFFFF)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(0xFF) for s in (16, 8, 0)], -1).astype(np.uint8)
    rgb = (rgb // 2 + 96).astype(np.uint8)  # keep colours away from black so objects stand out
    rgb[ids == 0] = 40
    return rgb


def colorize_semantic(sem: np.ndarray) -> np.ndarray:
    """Instance ids (H, W) or (H, W, 1) -> (H, W, 3) uint8, one colour per id."""
    s = np.asarray(sem).reshape(sem.shape[0], sem.shape[1])
    uniq, inv = np.unique(s, return_inverse=True)
    return instance_colors(uniq)[inv.reshape(s.shape)]


def fit_height(img: np.ndarray, height: int) -> np.ndarray:
    """Resize an (h, w, 3) uint8 image to the given height, keeping its aspect ratio (nearest pixel)."""
    h, w = img.shape[:2]
    if h == height:
        return img
    new_w = max(1, int(round(w * height / h)))
    rows = np.minimum((np.arange(height) * h / height).astype(int), h - 1)
    cols = np.minimum((np.arange(new_w) * w / new_w).astype(int), w - 1)
    return img[rows][:, cols]


def hstack_panels(panels: list[np.ndarray], height: int, gap: int = 2) -> np.ndarray:
    """Panels side by side at a common height with thin white gaps; width padded to a multiple of 16
    (what H.264 encoders want) so no encoder rescales the frame."""
    parts: list[np.ndarray] = []
    for i, p in enumerate(panels):
        if i:
            parts.append(np.full((height, gap, 3), 255, np.uint8))
        parts.append(fit_height(np.asarray(p, np.uint8), height))
    frame = np.concatenate(parts, axis=1)
    pad_w = (-frame.shape[1]) % 16
    pad_h = (-frame.shape[0]) % 16
    if pad_w or pad_h:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=255)
    return frame
