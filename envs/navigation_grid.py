"""Building blocks of :class:`envs.navigation.NavGrid`: triangle rasterisation onto the floor grid,
clipping to the body slab, floor-height estimation and the grid graph for geodesics.

These are internal: the public API is ``NavGrid``.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import scipy.sparse as sp

from scenes.types import Scene

_CHUNK = 400_000  # candidate (triangle, cell) pairs per vectorised batch: bounds peak memory


def triangle_distances(tri2d: np.ndarray, px: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Distance from points (px, pz) to the filled 2D triangles tri2d (n, 3, 2), pairwise per row."""
    p = np.stack([px, pz], axis=-1)
    best = np.full(len(p), np.inf)
    signs = []
    for k in range(3):
        a, b = tri2d[:, k], tri2d[:, (k + 1) % 3]
        e, ap = b - a, p - a
        ee = np.einsum("ij,ij->i", e, e)
        t = np.clip(np.einsum("ij,ij->i", ap, e) / np.where(ee > 0, ee, 1.0), 0.0, 1.0)
        best = np.minimum(best, np.hypot(*(ap - t[:, None] * e).T))
        signs.append(e[:, 0] * ap[:, 1] - e[:, 1] * ap[:, 0])
    s0, s1, s2 = signs
    e0, e2 = tri2d[:, 1] - tri2d[:, 0], tri2d[:, 2] - tri2d[:, 0]
    area2 = np.abs(e0[:, 0] * e2[:, 1] - e0[:, 1] * e2[:, 0])
    # degenerate (edge-on) triangles are handled by the edge distances alone
    inside = (area2 > 1e-12) & (
        ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))
    )
    return np.where(inside, 0.0, best)


def rasterize(tri2d, origin, cell_size, shape, thresholds) -> list[np.ndarray]:
    """Masks of the cells whose centre lies within each threshold of any triangle (n, 3, 2) in (x, z)."""
    masks = [np.zeros(shape, bool) for _ in thresholds]
    if len(tri2d) == 0:
        return masks
    tol = max(thresholds)
    lo = np.ceil((tri2d.min(1) - tol - origin) / cell_size - 0.5).astype(np.int64)
    hi = np.floor((tri2d.max(1) + tol - origin) / cell_size - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.array([shape[1], shape[0]]) - 1)
    n = np.maximum(hi - lo + 1, 0)  # (T, 2): columns (x) and rows (z)
    counts = n[:, 0] * n[:, 1]
    ends = np.cumsum(counts)
    start = 0
    while start < len(tri2d):
        stop = max(int(np.searchsorted(ends, ends[start] - counts[start] + _CHUNK, "right")), start + 1)
        idx = np.repeat(np.arange(start, stop), counts[start:stop])
        local = np.arange(len(idx)) - np.repeat(ends[start:stop] - counts[start:stop], counts[start:stop])
        col = lo[idx, 0] + local % n[idx, 0]
        row = lo[idx, 1] + local // n[idx, 0]
        d = triangle_distances(tri2d[idx], origin[0] + (col + 0.5) * cell_size, origin[1] + (row + 0.5) * cell_size)
        for mask, t in zip(masks, thresholds):
            sel = d <= t
            mask[row[sel], col[sel]] = True
        start = stop
    return masks


def clip_to_slab(tris: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The parts of triangles (n, 3, 3) with lo <= y <= hi, fan-triangulated and projected to (x, z)."""
    y = tris[..., 1]
    tris = tris[(y.max(1) > lo) & (y.min(1) < hi)]
    y = tris[..., 1]
    whole = (y.min(1) >= lo) & (y.max(1) <= hi)
    out = [tris[whole][..., [0, 2]]]
    part = tris[~whole]
    if len(part):
        m = len(part)
        pts = np.zeros((m, 9, 2))
        valid = np.zeros((m, 9), bool)
        for k in range(3):  # walk the boundary: vertex k, then its edge's crossings in order
            p, q = part[:, k], part[:, (k + 1) % 3]
            pts[:, 3 * k] = p[:, [0, 2]]
            valid[:, 3 * k] = (p[:, 1] >= lo) & (p[:, 1] <= hi)
            dy = q[:, 1] - p[:, 1]
            ts = []
            for level in (lo, hi):
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = (level - p[:, 1]) / dy
                ok = (dy != 0) & (t > 0) & (t < 1)
                ts.append(np.where(ok, t, np.inf))
            ts = np.sort(np.stack(ts, 1), axis=1)
            for s in range(2):
                ok = np.isfinite(ts[:, s])
                t = np.where(ok, ts[:, s], 0.0)[:, None]
                pts[:, 3 * k + 1 + s] = (p + t * (q - p))[:, [0, 2]]
                valid[:, 3 * k + 1 + s] = ok
        order = np.argsort(~valid, axis=1, kind="stable")
        pts = np.take_along_axis(pts, order[..., None], axis=1)
        count = valid.sum(1)
        for j in range(1, 8):
            sel = count > j + 1
            out.append(np.stack([pts[sel, 0], pts[sel, j], pts[sel, j + 1]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 3, 2))


def scene_triangles(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """All triangles (n, 3, 3) and their facing (n,): the y component of the unit face normal."""
    tris, hints = [], []  # hints: summed vertex normals per face, zero where a mesh has none
    for mesh in scene.meshes:
        v = np.asarray(mesh.vertices, np.float64)
        f = np.asarray(mesh.faces, np.int64)
        if f.size == 0:
            continue
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or f.max() >= len(v) or f.min() < 0:
            raise ValueError(
                f"scene {scene.scene_id!r}: mesh {mesh.name!r} has vertices {v.shape} and faces {f.shape} "
                f"with indices up to {f.max()}; expected (N, 3) vertices and (M, 3) faces indexing them"
            )
        tris.append(v[f])
        normals = mesh.normals
        hints.append(np.zeros((len(f), 3)) if normals is None else np.asarray(normals, np.float64)[f].sum(1))
    if not tris:
        raise ValueError(f"scene {scene.scene_id!r} has no triangles; a navigation grid needs floor geometry")
    t, hint = np.concatenate(tris), np.concatenate(hints)
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    n = np.stack([e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1], e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2],
                  e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]], axis=1)
    # trust authored normals over winding, which loaders may flip
    n[np.einsum("ij,ij->i", n, hint) < 0] *= -1
    norm = np.sqrt(np.einsum("ij,ij->i", n, n))
    return t, np.where(norm > 0, n[:, 1] / np.where(norm > 0, norm, 1), 0.0)


def dedupe_footprints(tri2d: np.ndarray, quantum: float = 1e-4) -> np.ndarray:
    """Drop projected triangles that add nothing to a distance query: edge-on ones (vertical faces)
    become their segment, and duplicate segments or segments that are an edge of a kept filled
    triangle go. Boxes project to their top plus nothing else, halving the rasterisation work."""
    e0, e2 = tri2d[:, 1] - tri2d[:, 0], tri2d[:, 2] - tri2d[:, 0]
    flat = np.abs(e0[:, 0] * e2[:, 1] - e0[:, 1] * e2[:, 0]) <= 1e-12
    filled, edge_on = tri2d[~flat], tri2d[flat]
    if len(edge_on) == 0:
        return tri2d
    # a degenerate triangle's footprint is the segment between its two farthest vertices
    d = np.stack([np.linalg.norm(edge_on[:, i] - edge_on[:, j], axis=1) for i, j in ((0, 1), (1, 2), (2, 0))], 1)
    k = np.argmax(d, 1)
    a, b = edge_on[np.arange(len(k)), k], edge_on[np.arange(len(k)), (k + 1) % 3]

    def keys(p, q):
        p, q = np.round(p / quantum).astype(np.int64), np.round(q / quantum).astype(np.int64)
        swap = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
        lo, hi = np.where(swap[:, None], q, p), np.where(swap[:, None], p, q)
        return np.ascontiguousarray(np.concatenate([lo, hi], 1)).view([("", np.int64)] * 4).ravel()

    seg_keys = keys(a, b)
    edge_keys = np.concatenate([keys(filled[:, i], filled[:, (i + 1) % 3]) for i in range(3)])
    _, first = np.unique(seg_keys, return_index=True)
    first = first[~np.isin(seg_keys[first], edge_keys)]
    segments = np.stack([a[first], b[first], b[first]], axis=1)
    return np.concatenate([filled, segments])


def estimate_floor_height(tris: np.ndarray, up: np.ndarray, scene_id: str) -> float:
    """The lowest height holding a large share of upward-facing area (furniture tops hold less)."""
    t = tris[up]
    if len(t) == 0:
        raise ValueError(f"scene {scene_id!r} has no upward-facing surface to stand on; pass floor_height")
    area = 0.5 * np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])[:, 1])
    bins = np.round(t[..., 1].mean(1) / 0.02).astype(np.int64)
    keys, inv = np.unique(bins, return_inverse=True)
    totals = np.bincount(inv, weights=area)
    lowest = keys[np.argmax(totals >= 0.25 * totals.max())]
    sel = bins == lowest
    heights, weights = t[sel][..., 1].mean(1), area[sel]
    order = np.argsort(heights)  # area-weighted median: a rug in the same bin does not shift it
    cum = np.cumsum(weights[order])
    return float(heights[order][np.searchsorted(cum, cum[-1] / 2)])


def grid_graph(navigable: np.ndarray, cell_size: float) -> sp.csr_matrix:
    """Symmetric sparse graph over all cells: straight moves of up to 3 cells over navigable cells."""
    h, w = navigable.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, wts = [], [], []
    for a in range(0, 4):
        for b in range(-3, 4):
            if (a == 0 and b <= 0) or gcd(a, abs(b)) != 1:
                continue
            # cells the move passes through (sampled off the cell-boundary ties)
            s = (np.arange(48) + 0.5) / 48
            via = {(int(round(t * a)), int(round(t * b))) for t in s}
            ok = np.ones((h - a, w - abs(b)), bool)
            for da, db in via:
                ok &= navigable[da : h - a + da, max(0, -b) + db : w - max(0, b) + db]
            src = idx[: h - a, max(0, -b) : w - max(0, b)][ok]
            rows.append(src)
            cols.append(src + a * w + b)
            wts.append(np.full(len(src), np.hypot(a, b) * cell_size))
    r, c, d = np.concatenate(rows), np.concatenate(cols), np.concatenate(wts)
    return sp.csr_matrix((np.concatenate([d, d]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(h * w, h * w))
