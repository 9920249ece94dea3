"""Procedural, tileable surface textures for floors, walls and ceilings (deterministic from a seed).

Each texture is a small square RGB image that tiles seamlessly (noise is filtered with wrap-around
boundaries, patterns have whole periods per tile) and covers ``tile`` metres of surface, so UVs are
world coordinates divided by ``tile`` and the sampler repeats (glTF's default wrap mode).

Example:
    >>> import numpy as np
    >>> m = room_materials(np.random.default_rng(0), "kitchen", size=32)
    >>> m["floor"].texture.shape, m["floor"].texture.dtype.name
    ((32, 32, 3), 'uint8')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class Material:
    """A tileable texture (H, W, 3) uint8 covering ``tile`` x ``tile`` metres."""

    name: str
    texture: np.ndarray
    tile: float


def _noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Periodic smooth noise with zero mean and unit standard deviation."""
    n = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-9)


def _finish(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.08) -> np.ndarray:
    return np.asarray(rgb, float) * (1 + amount * rng.uniform(-1, 1))


def planks(rng: np.random.Generator, base, size: int = 64, n_planks: int = 4) -> np.ndarray:
    """Wood planks along u: per-plank tone, staggered joints, grain streaks, dark seams."""
    base = _jitter(rng, base)
    v = np.arange(size)
    plank = (v * n_planks) // size
    tone = 1 + 0.12 * rng.uniform(-1, 1, n_planks)
    grain = gaussian_filter(rng.standard_normal((size, size)), (0.6, 6.0), mode="wrap")
    grain = grain / (grain.std() + 1e-9)
    img = base[None, None, :] * (tone[plank][:, None, None] + 0.06 * grain[..., None])
    seam = (v * n_planks) % size < n_planks  # one-pixel line at each plank edge
    img[seam] *= 0.55
    for p in range(n_planks):  # a butt joint per plank at a random (whole-pixel) offset
        rows = plank == p
        img[rows, int(rng.integers(size)) % size] *= 0.6
    return _finish(img)


def tiles(rng: np.random.Generator, base, size: int = 64, n_tiles: int = 4, grout=(200, 200, 195)) -> np.ndarray:
    """Square ceramic tiles with slight per-tile colour variation and grout lines."""
    base = _jitter(rng, base, 0.05)
    idx = (np.arange(size) * n_tiles) // size
    tone = 1 + 0.05 * rng.uniform(-1, 1, (n_tiles, n_tiles))
    img = base[None, None, :] * tone[idx[:, None], idx[None, :]][..., None]
    img = img * (1 + 0.02 * _noise(rng, size, 1.0))[..., None]
    line = (np.arange(size) * n_tiles) % size < n_tiles
    img[line, :] = grout
    img[:, line] = grout
    return _finish(img)


def carpet(rng: np.random.Generator, base, size: int = 64) -> np.ndarray:
    """Soft carpet: fine fibre noise over a broad mottle."""
    base = _jitter(rng, base)
    shade = 1 + 0.08 * _noise(rng, size, 0.5) + 0.05 * _noise(rng, size, 6.0)
    return _finish(base[None, None, :] * shade[..., None])


def plaster(rng: np.random.Generator, base, size: int = 64) -> np.ndarray:
    """Painted plaster: low-contrast blotches and a little grain, so walls are not uniform."""
    base = _jitter(rng, base, 0.04)
    shade = 1 + 0.035 * _noise(rng, size, 5.0) + 0.015 * _noise(rng, size, 0.7)
    return _finish(base[None, None, :] * shade[..., None])


def stripes(rng: np.random.Generator, base, size: int = 64, n: int = 4) -> np.ndarray:
    """Striped wallpaper: alternating bands along u (vertical on walls)."""
    base = _jitter(rng, base, 0.04)
    band = ((np.arange(size) * 2 * n) // size) % 2
    tone = np.where(band == 1, 0.88, 1.0)
    shade = tone[None, :] * (1 + 0.02 * _noise(rng, size, 1.0))
    return _finish(base[None, None, :] * shade[..., None])


_WOOD_FLOOR = [(160, 120, 75), (185, 145, 100), (120, 85, 55), (205, 170, 125)]
_TILE_FLOOR = [(200, 200, 195), (170, 160, 150), (110, 115, 120), (215, 205, 185)]
_CARPET = [(150, 140, 125), (110, 120, 140), (140, 110, 100)]
_PAINT = [(236, 232, 222), (222, 228, 232), (235, 225, 205), (214, 226, 212), (240, 238, 236), (230, 214, 210)]
_WALL_TILE = [(235, 240, 240), (205, 225, 230), (225, 230, 220)]

# Per room type: (floor options, wall options); an option is (pattern, palette, tile metres).
_ROOM_STYLE = {
    "bathroom": ([(tiles, _TILE_FLOOR, 1.2)], [(tiles, _WALL_TILE, 0.8)]),
    "kitchen": ([(tiles, _TILE_FLOOR, 1.6), (planks, _WOOD_FLOOR, 1.2)], [(plaster, _PAINT, 2.0)]),
    "bedroom": ([(planks, _WOOD_FLOOR, 1.2), (carpet, _CARPET, 1.0)],
                [(plaster, _PAINT, 2.0), (stripes, _PAINT, 1.0)]),
    "living_room": ([(planks, _WOOD_FLOOR, 1.2)], [(plaster, _PAINT, 2.0), (stripes, _PAINT, 1.2)]),
    "office": ([(planks, _WOOD_FLOOR, 1.2), (carpet, _CARPET, 1.0)], [(plaster, _PAINT, 2.0)]),
    "dining_room": ([(planks, _WOOD_FLOOR, 1.2)], [(plaster, _PAINT, 2.0), (stripes, _PAINT, 1.2)]),
    "hallway": ([(tiles, _TILE_FLOOR, 1.6), (planks, _WOOD_FLOOR, 1.2)], [(plaster, _PAINT, 2.0)]),
}


def _pick(rng: np.random.Generator, options, size: int, name: str) -> Material:
    pattern, palette, tile = options[int(rng.integers(len(options)))]
    base = palette[int(rng.integers(len(palette)))]
    return Material(f"{name}_{pattern.__name__}", pattern(rng, base, size=size), tile)


def room_materials(rng: np.random.Generator, room_type: str, size: int = 64) -> dict[str, Material]:
    """Floor, wall and ceiling materials for a room of ``room_type`` (keys ``floor``, ``wall``, ``ceiling``)."""
    if room_type not in _ROOM_STYLE:
        raise ValueError(f"room_type: expected one of {sorted(_ROOM_STYLE)}, got {room_type!r}")
    floors, walls = _ROOM_STYLE[room_type]
    return {
        "floor": _pick(rng, floors, size, "floor"),
        "wall": _pick(rng, walls, size, "wall"),
        "ceiling": Material("ceiling_plaster", plaster(rng, (242, 242, 240), size=size), 2.0),
    }
