"""Pack a scene's MeshParts into one interleaved vertex array and one index array, split into draws.

Each draw is a contiguous index range with one instance id, one texture, a bounding sphere for
frustum culling, an axis-aligned box for room culling and whether its triangles may be back-face
culled (only parts whose surface is closed and wound outwards: see :func:`closed_outward`). Large parts (a whole stage glb is often one mesh) are cut into spatial chunks of
``chunk_size`` metres so that culling can skip what is behind the camera.

Example:
    >>> import numpy as np
    >>> from scenes.types import MeshPart
    >>> tri = MeshPart("t", np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32),
    ...                np.array([[0, 1, 2]], np.uint32), instance_id=3)
    >>> packed = pack_parts([tri])
    >>> len(packed.vertices), packed.indices.tolist(), packed.draws[0].instance_id
    (3, [0, 1, 2], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scenes.types import MeshPart

# Interleaved layout; the matching moderngl format string is VERTEX_FORMAT.
# Instance id and texture layer ride on the vertices, so every visible range is drawn by one
# multi-draw call without per-draw uniforms or texture binds.
VERTEX_DTYPE = np.dtype([("pos", "<f4", 3), ("normal", "<f4", 3), ("color", "u1", 4), ("uv", "<f4", 2),
                         ("layer", "<f4"), ("instance", "<i4")])
VERTEX_FORMAT = "3f 3f 4f1 2f 1f 1i"
VERTEX_ATTRIBUTES = ("in_pos", "in_normal", "in_color", "in_uv", "in_layer", "in_instance")
DEFAULT_COLOR = (200, 200, 200, 255)  # parts with neither colours nor texture


@dataclass(frozen=True)
class Draw:
    """One draw call: ``count`` indices from ``first`` in the shared index buffer."""

    first: int
    count: int
    instance_id: int
    texture: int  # index into PackedScene.textures, -1 for none
    center: np.ndarray
    radius: float
    lo: np.ndarray  # axis-aligned bounds of the draw's triangles
    hi: np.ndarray
    cull_back: bool = False  # closed, outward-wound part: back faces are never visible from outside


@dataclass
class PackedScene:
    vertices: np.ndarray  # structured VERTEX_DTYPE (N,); "layer" indexes textures, len(textures) = none
    indices: np.ndarray  # uint32 (3M,)
    draws: list[Draw]
    textures: list[np.ndarray]  # (H, W, 3|4) uint8, shared by identity between parts


def pack_parts(parts: Sequence[MeshPart], chunk_size: float = 4.0, chunk_min_triangles: int = 1024) -> PackedScene:
    """Concatenate ``parts`` (validated) into one vertex/index array pair with draw ranges."""
    verts, idx, draws, textures = [], [], [], []
    tex_slot: dict[int, int] = {}
    n_vert = n_idx = 0
    for part in parts:
        v = _check_part(part)
        if v is None:
            continue
        slot = -1
        if part.uv is not None and part.texture is not None:
            key = id(part.texture)
            if key not in tex_slot:
                tex_slot[key] = len(textures)
                textures.append(part.texture)
            slot = tex_slot[key]
        v["layer"] = slot
        v["instance"] = int(part.instance_id)
        verts.append(v)
        faces = np.asarray(part.faces, np.int64)
        closed = closed_outward(v["pos"], faces)
        for chunk in _chunks(v["pos"], faces, chunk_size, chunk_min_triangles):
            corners = v["pos"][chunk.reshape(-1)]
            lo, hi = corners.min(0), corners.max(0)
            center = (lo + hi) / 2
            radius = float(np.linalg.norm(corners - center, axis=1).max())
            draws.append(Draw(n_idx, chunk.size, int(part.instance_id), slot, center.astype(float), radius,
                              lo.astype(float), hi.astype(float), closed))
            idx.append((chunk + n_vert).astype(np.uint32).reshape(-1))
            n_idx += chunk.size
        n_vert += len(v)
    vertices = np.concatenate(verts) if verts else np.zeros(0, VERTEX_DTYPE)
    vertices["layer"][vertices["layer"] < 0] = len(textures)  # the white layer after the textures
    indices = np.concatenate(idx) if idx else np.zeros(0, np.uint32)
    return PackedScene(vertices, indices, draws, textures)


def closed_outward(pos: np.ndarray, faces: np.ndarray, tol: float = 1e-5) -> bool:
    """Whether back-face culling cannot change what a camera outside the part sees.

    True when, after merging vertices closer than ``tol``, every directed edge a->b is matched by an
    edge b->a (a closed, consistently oriented surface, possibly several touching boxes) and every
    connected piece encloses a positive signed volume (wound outwards). Open sheets such as floor
    quads, inverted or inconsistent meshes and T-junctions give False, so those parts stay two-sided.

    >>> import trimesh
    >>> box = trimesh.creation.box()
    >>> closed_outward(box.vertices, box.faces), closed_outward(box.vertices, box.faces[:, ::-1])
    (True, False)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pos = np.asarray(pos, np.float64)
    faces = np.asarray(faces, np.int64)
    if len(faces) < 4:
        return False
    _, merged = np.unique(np.round(pos / tol).astype(np.int64), axis=0, return_inverse=True)
    f = merged.reshape(-1)[faces]
    a, b = f.reshape(-1), np.roll(f, -1, axis=1).reshape(-1)
    keep = a != b
    a, b = a[keep], b[keep]
    n = int(f.max()) + 1
    if not np.array_equal(np.sort(a * n + b), np.sort(b * n + a)):
        return False
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    p = pos[faces]
    signed = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])) / 6.0
    volumes = np.bincount(label[f[:, 0]], weights=signed)
    return bool(np.all(volumes[np.unique(label[f[:, 0]])] > 1e-9))


def _chunks(pos: np.ndarray, faces: np.ndarray, size: float, min_tris: int) -> list[np.ndarray]:
    """Faces grouped by the grid cell of their centroid (one group when the part is small)."""
    if len(faces) < min_tris:
        return [faces]
    cells = np.floor(pos[faces].mean(axis=1) / size).astype(np.int64)
    _, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [faces[g] for g in np.split(order, bounds)]


def _check_part(part: MeshPart) -> np.ndarray | None:
    """The part's interleaved vertices, or None when it has no triangles; raises on malformed arrays."""
    name = f"MeshPart {part.name!r}"
    v = np.asarray(part.vertices)
    f = np.asarray(part.faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{name}: vertices must have shape (N, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"{name}: faces must have shape (M, 3), got {f.shape}")
    if len(f) == 0 or len(v) == 0:
        return None
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"{name}: face indices must be in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: vertices contain NaN or inf")
    out = np.zeros(len(v), VERTEX_DTYPE)
    out["pos"] = v
    normals = _optional(part.normals, (len(v), 3), name, "normals")
    # Lighting is per vertex, so a vertex without a usable normal takes the area-weighted one.
    if normals is None or not np.all(np.einsum("ij,ij->i", normals, normals) > 1e-12):
        computed = _vertex_normals(v, f)
        if normals is not None:
            computed = np.where((np.einsum("ij,ij->i", normals, normals) > 1e-12)[:, None], normals, computed)
        normals = computed
    out["normal"] = normals
    colors = _optional(part.colors, (len(v), 4), name, "colors")
    textured = part.texture is not None and part.uv is not None
    if colors is not None:
        out["color"] = colors
    else:  # white lets the texture show as is; untextured parts get a neutral grey
        out["color"] = 255 if textured else DEFAULT_COLOR
    uv = _optional(part.uv, (len(v), 2), name, "uv")
    if uv is not None:
        # Images are uploaded top row first, so texture row 0 sits at t=0: flip v (glTF/OBJ have v up).
        out["uv"] = np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1)
    if part.texture is not None:
        t = np.asarray(part.texture)
        if t.ndim != 3 or t.shape[2] not in (3, 4) or t.dtype != np.uint8:
            raise ValueError(f"{name}: texture must be (H, W, 3) uint8, got {t.shape} {t.dtype}")
    return out


def _optional(value: np.ndarray | None, shape: tuple[int, int], name: str, field: str) -> np.ndarray | None:
    if value is None:
        return None
    a = np.asarray(value)
    if a.shape != shape:
        raise ValueError(f"{name}: {field} must have shape {shape}, got {a.shape}")
    return a


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (zero for unused vertices and degenerate faces: ambient light only)."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=v, faces=f, process=False)
    return np.asarray(mesh.vertex_normals, np.float32)
