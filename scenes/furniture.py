"""Low-poly furniture meshes composed of boxes, cylinders and blobs, one builder per category.

Every builder draws in the object's local frame: x in [-w/2, w/2] (left-right), y in [0, h] (up),
z in [-d/2, d/2] with the front at +z, so the object's oriented box is exactly that extent.
Faces are flat-shaded (vertices duplicated per face) with per-vertex colours.

Example:
    >>> import numpy as np
    >>> mb = MeshBuilder()
    >>> BUILDERS["dining_table"](mb, 1.2, 0.8, 0.75, {"top": (150, 111, 51), "legs": (150, 111, 51)})
    >>> part = mb.build("object_1_dining_table", 1, np.eye(3), np.zeros(3))
    >>> part.num_triangles  # a top and four legs
    60
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from scenes.types import MeshPart

RGB = tuple[int, int, int]
_ROT_Y_TO_Z = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # maps +y to +z


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about +y by ``yaw`` radians; it turns the local front (+z) to (sin, 0, cos)."""
    c, s = np.cos(yaw), np.sin(yaw)
    m = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.where(np.abs(m) < 1e-12, 0.0, m)  # exact zeros for multiples of 90 degrees


class MeshBuilder:
    """Accumulates flat-shaded primitives, then bakes them into one :class:`MeshPart`."""

    def __init__(self, uv_tile: float | None = None):
        self._v: list[np.ndarray] = []
        self._n: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._f: list[np.ndarray] = []
        self._count = 0
        self.uv_tile = uv_tile  # planar UVs from world coordinates when set (structure)

    def _add(self, verts, normals, color: RGB, faces) -> None:
        verts = np.asarray(verts, float)
        self._v.append(verts)
        self._n.append(np.asarray(normals, float))
        rgba = np.array([*color, 255], np.uint8)
        self._c.append(np.broadcast_to(rgba, (len(verts), 4)))
        self._f.append(np.asarray(faces, np.int64) + self._count)
        self._count += len(verts)

    def box(self, lo, hi, color: RGB, faces: str = "xXyYzZ") -> None:
        """An axis-aligned box; ``faces`` lists the sides to emit (x=-x side, X=+x side, ...)."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        c, half = (lo + hi) / 2, (hi - lo) / 2
        verts, normals, tris = [], [], []
        for k in range(3):
            for sign, key in ((-1, "xyz"[k]), (1, "XYZ"[k])):
                if key not in faces:
                    continue
                e = np.eye(3)
                u, v = e[(k + 1) % 3] * half[(k + 1) % 3], e[(k + 2) % 3] * half[(k + 2) % 3]
                if sign < 0:
                    u, v = v, u
                fc = c + sign * e[k] * half[k]
                base = len(verts)
                verts += [fc - u - v, fc + u - v, fc + u + v, fc - u + v]
                normals += [sign * e[k]] * 4
                tris += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
        self._add(verts, normals, color, tris)

    def cylinder(self, bottom, radius: float, height: float, color: RGB, segments: int = 8,
                 radius_top: float | None = None, axis: str = "y") -> None:
        """A (possibly tapered) capped cylinder standing on ``bottom``; ``axis`` "y" or "z"."""
        rt = radius if radius_top is None else radius_top
        a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        ring = np.stack([np.cos(a), np.zeros_like(a), np.sin(a)], 1)
        up = np.array([0.0, 1, 0])
        b, t = ring * radius, ring * rt + up * height
        verts, normals, tris = [], [], []
        for i in range(segments):  # side quads, smooth normals
            j = (i + 1) % segments
            base = len(verts)
            verts += [b[i], b[j], t[j], t[i]]
            normals += [ring[i], ring[j], ring[j], ring[i]]
            tris += [[base, base + 2, base + 1], [base, base + 3, base + 2]]
        for cap, ny in ((b, -1.0), (t, 1.0)):
            base = len(verts)
            verts += list(cap)
            normals += [up * ny] * segments
            for i in range(1, segments - 1):
                tris.append([base, base + i + 1, base + i] if ny > 0 else [base, base + i, base + i + 1])
        verts, normals = np.asarray(verts), np.asarray(normals)
        if axis == "z":
            verts, normals = verts @ _ROT_Y_TO_Z.T, normals @ _ROT_Y_TO_Z.T
        self._add(verts + np.asarray(bottom, float), normals, color, tris)

    def blob(self, center, radii, color: RGB) -> None:
        """A flat-shaded icosahedron scaled to ``radii`` (foliage, shades)."""
        g = (1 + 5**0.5) / 2
        p = np.array([[-1, g, 0], [1, g, 0], [-1, -g, 0], [1, -g, 0], [0, -1, g], [0, 1, g],
                      [0, -1, -g], [0, 1, -g], [g, 0, -1], [g, 0, 1], [-g, 0, -1], [-g, 0, 1]], float)
        p /= np.linalg.norm(p[0])
        tri = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
               [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
               [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
        verts = p[np.array(tri)].reshape(-1, 3) * np.asarray(radii, float)
        fn = np.cross(verts[1::3] - verts[0::3], verts[2::3] - verts[0::3])
        fn /= np.linalg.norm(fn, axis=1, keepdims=True)
        self._add(verts + np.asarray(center, float), np.repeat(fn, 3, 0), color,
                  np.arange(len(verts)).reshape(-1, 3))

    def build(self, name: str, instance_id: int, rotation: np.ndarray, translation: np.ndarray,
              texture: np.ndarray | None = None) -> MeshPart:
        """Bake into world coordinates: ``world = rotation @ local + translation``."""
        v = np.concatenate(self._v) @ np.asarray(rotation).T + np.asarray(translation)
        n = np.concatenate(self._n) @ np.asarray(rotation).T
        uv = None
        if self.uv_tile is not None:
            uv = _planar_uv(v, n, self.uv_tile)
        return MeshPart(
            name=name,
            vertices=v.astype(np.float32),
            faces=np.concatenate(self._f).astype(np.uint32),
            normals=n.astype(np.float32),
            colors=None if texture is not None else np.concatenate(self._c).astype(np.uint8),
            uv=uv,
            texture=texture,
            instance_id=instance_id,
        )


def _planar_uv(v: np.ndarray, n: np.ndarray, tile: float) -> np.ndarray:
    """UVs by projecting on the plane the normal faces: (z, y), (x, z) or (x, y), in tiles."""
    k = np.argmax(np.abs(n), axis=1)
    u = np.where(k == 0, v[:, 2], v[:, 0])
    w = np.where(k == 1, v[:, 2], v[:, 1])
    return (np.stack([u, w], 1) / tile).astype(np.float32)


# ----------------------------------------------------------------------------- category builders
Colors = dict[str, RGB]


def _legs(mb: MeshBuilder, w, d, h, t, color, inset=0.02) -> None:
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (w / 2 - inset - t / 2), sz * (d / 2 - inset - t / 2)
            mb.box((x - t / 2, 0, z - t / 2), (x + t / 2, h, z + t / 2), color)


def _table(mb, w, d, h, c: Colors) -> None:
    top = 0.03
    mb.box((-w / 2, h - top, -d / 2), (w / 2, h, d / 2), c["top"])
    _legs(mb, w, d, h - top, 0.05, c["legs"], inset=0.04)


def _side_table(mb, w, d, h, c) -> None:
    mb.cylinder((0, h - 0.03, 0), min(w, d) / 2, 0.03, c["top"])
    mb.cylinder((0, 0, 0), 0.025, h - 0.03, c["top"], segments=6)
    mb.cylinder((0, 0, 0), min(w, d) / 3, 0.02, c["top"])


def _coffee_table(mb, w, d, h, c) -> None:
    _table(mb, w, d, h, c)
    mb.box((-w / 2 + 0.06, 0.1, -d / 2 + 0.06), (w / 2 - 0.06, 0.12, d / 2 - 0.06), c["top"])


def _desk(mb, w, d, h, c) -> None:
    mb.box((-w / 2, h - 0.03, -d / 2), (w / 2, h, d / 2), c["top"])
    for sx in (-1, 1):  # side panels
        x = sx * (w / 2 - 0.03)
        mb.box((x - 0.02, 0, -d / 2 + 0.03), (x + 0.02, h - 0.03, d / 2 - 0.03), c["legs"])
    mb.box((-w / 2 + 0.05, h - 0.35, -d / 2 + 0.02), (w / 2 - 0.05, h - 0.03, -d / 2 + 0.04), c["legs"])


def _chair(mb, w, d, h, c) -> None:
    seat = 0.45
    mb.box((-w / 2, seat - 0.04, -d / 2), (w / 2, seat, d / 2), c["seat"])
    mb.box((-w / 2, seat, -d / 2), (w / 2, h, -d / 2 + 0.04), c["seat"])
    _legs(mb, w, d, seat - 0.04, 0.035, c["legs"], inset=0.0)


def _office_chair(mb, w, d, h, c) -> None:
    seat = 0.48
    mb.box((-w / 2 + 0.05, seat - 0.08, -d / 2 + 0.08), (w / 2 - 0.05, seat, d / 2), c["seat"])
    mb.box((-w / 2 + 0.07, seat + 0.05, -d / 2), (w / 2 - 0.07, h, -d / 2 + 0.07), c["seat"])
    mb.box((-0.03, seat - 0.05, -d / 2 + 0.02), (0.03, seat + 0.1, -d / 2 + 0.08), c["frame"])
    mb.cylinder((0, 0.08, 0), 0.025, seat - 0.16, c["frame"], segments=6)
    mb.box((-w / 2, 0.0, -0.03), (w / 2, 0.08, 0.03), c["frame"])
    mb.box((-0.03, 0.0, -d / 2), (0.03, 0.08, d / 2), c["frame"])


def _sofa(mb, w, d, h, c, arm=0.18) -> None:
    seat, legs = 0.42, 0.08
    mb.box((-w / 2, legs, -d / 2), (w / 2, seat, d / 2), c["body"])
    mb.box((-w / 2, seat, -d / 2), (w / 2, h, -d / 2 + 0.2), c["body"])
    for sx in (-1, 1):
        x0, x1 = sorted((sx * w / 2, sx * (w / 2 - arm)))
        mb.box((x0, seat, -d / 2 + 0.2), (x1, min(h, seat + 0.22), d / 2), c["body"])
    n = max(1, int(round((w - 2 * arm) / 0.65)))
    cw = (w - 2 * arm) / n
    cushion = tuple(int(v * 0.9) for v in c["body"])
    for i in range(n):  # seat cushions, slightly darker so the seats read as separate
        x0 = -w / 2 + arm + i * cw
        mb.box((x0 + 0.01, seat, -d / 2 + 0.21), (x0 + cw - 0.01, seat + 0.08, d / 2 - 0.02), cushion)
    _legs(mb, w, d, legs, 0.05, c["legs"])


def _armchair(mb, w, d, h, c) -> None:
    _sofa(mb, w, d, h, c, arm=0.15)


def _bed(mb, w, d, h, c) -> None:
    mt = min(0.5, h - 0.12)
    base = mt - 0.18
    mb.box((-w / 2 + 0.02, 0, -d / 2 + 0.06), (w / 2 - 0.02, base, d / 2), c["frame"])
    mb.box((-w / 2 + 0.04, base, -d / 2 + 0.06), (w / 2 - 0.04, mt, d / 2 - 0.02), c["sheet"])
    mb.box((-w / 2, 0, -d / 2), (w / 2, h, -d / 2 + 0.06), c["frame"])
    n = 1 if w < 1.2 else 2
    pw = (w - 0.2) / n
    for i in range(n):
        x0 = -w / 2 + 0.1 + i * pw
        mb.box((x0 + 0.03, mt, -d / 2 + 0.1), (x0 + pw - 0.03, mt + 0.1, -d / 2 + 0.45), c["sheet"])
    mb.box((-w / 2 + 0.03, mt, -d / 2 + 0.6), (w / 2 - 0.03, mt + 0.05, d / 2 - 0.01), c["blanket"])


def _cabinet_body(mb, w, d, h, c, doors: int, drawers: int = 0) -> None:
    body = c["body"]
    mb.box((-w / 2, 0.05, -d / 2), (w / 2, h, d / 2 - 0.02), body)
    mb.box((-w / 2 + 0.03, 0, -d / 2 + 0.03), (w / 2 - 0.03, 0.05, d / 2 - 0.06), (40, 40, 40))
    front = tuple(int(v * 0.92) for v in body)
    handle = c.get("handle", (60, 60, 65))
    rows = max(drawers, 1) if drawers else 1
    cols = doors if not drawers else 1
    ch, cw = (h - 0.07) / rows, (w - 0.02) / cols
    for r in range(rows):
        for k in range(cols):
            x0, y0 = -w / 2 + 0.01 + k * cw, 0.06 + r * ch
            mb.box((x0 + 0.005, y0 + 0.005, d / 2 - 0.02), (x0 + cw - 0.005, y0 + ch - 0.005, d / 2), front,
                   faces="xXyYZ")
            hx = x0 + cw / 2 if drawers else (x0 + cw - 0.06 if k % 2 == 0 else x0 + 0.06)
            if drawers:  # a horizontal pull in the middle of the drawer
                lo3, hi3 = (hx - 0.05, y0 + ch / 2 - 0.01), (hx + 0.05, y0 + ch / 2 + 0.01)
            else:  # a vertical bar that stays within the door on low cabinets
                lo3, hi3 = (hx - 0.01, y0 + ch * 0.55), (hx + 0.01, y0 + ch * 0.55 + min(0.12, ch * 0.3))
            mb.box((lo3[0], lo3[1], d / 2 - 0.005), (hi3[0], hi3[1], d / 2), handle, faces="xXyYZ")


def _wardrobe(mb, w, d, h, c) -> None:
    _cabinet_body(mb, w, d, h, c, doors=2 if w < 1.4 else 3)


def _cabinet(mb, w, d, h, c) -> None:
    _cabinet_body(mb, w, d, h, c, doors=2 if w > 0.7 else 1)


def _dresser(mb, w, d, h, c) -> None:
    _cabinet_body(mb, w, d, h, c, doors=1, drawers=3 if h < 0.9 else 4)


def _nightstand(mb, w, d, h, c) -> None:
    _cabinet_body(mb, w, d, h, {**c, "handle": (180, 170, 140)}, doors=1, drawers=2)


def _bookshelf(mb, w, d, h, c) -> None:
    t, body = 0.025, c["body"]
    mb.box((-w / 2, 0, -d / 2), (-w / 2 + t, h, d / 2), body)
    mb.box((w / 2 - t, 0, -d / 2), (w / 2, h, d / 2), body)
    mb.box((-w / 2 + t, 0, -d / 2), (w / 2 - t, h, -d / 2 + 0.01), body)
    n = max(2, int(h / 0.35))
    for i in range(n + 1):
        y = min(i * (h - t) / n, h - t)
        mb.box((-w / 2 + t, y, -d / 2 + 0.01), (w / 2 - t, y + t, d / 2), body)
    for i in range(n):  # one block of books per shelf, alternating colours
        y0 = i * (h - t) / n + t
        gap = (h - t) / n - t
        bw = (w - 2 * t) * (0.45 + 0.1 * (i % 3))
        x0 = -w / 2 + t + (0.02 if i % 2 == 0 else (w - 2 * t) - bw - 0.02)
        mb.box((x0, y0, -d / 2 + 0.03), (x0 + bw, y0 + gap * 0.8, d / 2 - 0.03), c["books"])


def _tv_stand(mb, w, d, h, c) -> None:
    _cabinet_body(mb, w, d, h, {**c, "handle": (30, 30, 30)}, doors=2 if w < 1.6 else 3)


def _tv(mb, w, d, h, c) -> None:
    panel = min(0.05, d)
    mb.box((-w / 2, 0.06, -panel / 2), (w / 2, h, panel / 2), c["frame"])
    mb.box((-w / 2 + 0.02, 0.08, panel / 2), (w / 2 - 0.02, h - 0.02, panel / 2 + 0.001), (15, 15, 20),
           faces="Z")
    mb.box((-0.15, 0, -d / 2), (0.15, 0.015, d / 2), c["frame"])
    mb.box((-0.03, 0.015, -0.02), (0.03, 0.06, 0.02), c["frame"])


def _monitor(mb, w, d, h, c) -> None:
    mb.box((-w / 2, h * 0.3, -0.02), (w / 2, h, 0.02), c["screen"])
    mb.box((-0.025, 0.01, -0.04), (0.025, h * 0.3, -0.02), c["screen"])
    mb.box((-0.1, 0, -d / 2), (0.1, 0.01, d / 2), c["screen"])


def _rug(mb, w, d, h, c) -> None:
    mb.box((-w / 2, 0, -d / 2), (w / 2, h - 0.001, d / 2), c["rug"], faces="xXYzZ")
    inner = tuple(int(v * 0.7) for v in c["rug"])  # a darker field inside a border
    mb.box((-w / 2 + 0.1, h - 0.001, -d / 2 + 0.1), (w / 2 - 0.1, h, d / 2 - 0.1), inner, faces="Y")


def _plant(mb, w, d, h, c) -> None:
    r = min(w, d) / 2
    pot = min(0.35, 0.35 * h)
    mb.cylinder((0, 0, 0), r * 0.55, pot, c["pot"], radius_top=r * 0.7)
    mb.cylinder((0, pot, 0), 0.015, h * 0.4, (90, 70, 40), segments=4)
    fh = h - pot
    mb.blob((0, pot + fh * 0.55, 0), (r, fh * 0.45, r), c["leaves"])


def _lamp(mb, w, d, h, c) -> None:
    r = min(w, d) / 2
    mb.cylinder((0, 0, 0), r * 0.6, 0.03, c["pole"])
    mb.cylinder((0, 0.03, 0), 0.012, h - 0.33, c["pole"], segments=4)
    mb.cylinder((0, h - 0.3, 0), r, 0.3, c["shade"], radius_top=r * 0.6)


def _fridge(mb, w, d, h, c) -> None:
    mb.box((-w / 2, 0, -d / 2), (w / 2, h, d / 2 - 0.04), c["body"])
    split = h * 0.62
    for y0, y1 in ((0.02, split - 0.01), (split + 0.01, h - 0.01)):
        mb.box((-w / 2 + 0.005, y0, d / 2 - 0.04), (w / 2 - 0.005, y1, d / 2 - 0.01), c["body"], faces="xXyYZ")
        mb.box((w / 2 - 0.07, y0 + 0.1, d / 2 - 0.01), (w / 2 - 0.05, min(y1 - 0.05, y0 + 0.5), d / 2),
               c["handle"], faces="xXyYZ")


def _stove(mb, w, d, h, c) -> None:
    mb.box((-w / 2, 0, -d / 2), (w / 2, h - 0.02, d / 2 - 0.01), c["body"])
    mb.box((-w / 2, h - 0.02, -d / 2), (w / 2, h - 0.01, d / 2 - 0.01), c["top"])
    for sx in (-1, 1):
        for sz in (-1, 1):
            mb.cylinder((sx * w / 4, h - 0.01, sz * d / 5), min(w, d) / 9, 0.01, (70, 70, 70), segments=6)
    mb.box((-w / 2 + 0.05, 0.1, d / 2 - 0.01), (w / 2 - 0.05, h - 0.2, d / 2), (30, 30, 35), faces="Z")


def _sink(mb, w, d, h, c) -> None:
    mb.box((-w / 2, 0, -d / 2), (w / 2, h - 0.04, d / 2), c["body"])
    mb.box((-w / 2, h - 0.04, -d / 2), (w / 2, h - 0.01, d / 2), c["basin"])
    mb.box((-w / 2 + 0.08, h - 0.01, -d / 2 + 0.12), (w / 2 - 0.08, h - 0.009, d / 2 - 0.06), (120, 125, 130),
           faces="Y")
    mb.cylinder((0, h - 0.01, -d / 2 + 0.06), 0.015, 0.01, c["tap"], segments=6)


def _toilet(mb, w, d, h, c) -> None:
    bowl, seat = c["bowl"], 0.42
    mb.box((-w / 2 * 0.7, 0, -d / 2 + 0.15), (w / 2 * 0.7, seat - 0.05, d / 2 - 0.1), bowl)
    mb.cylinder((0, seat - 0.05, d / 2 - w / 2 - 0.0), w / 2 * 0.95, 0.05, bowl, segments=8)
    mb.box((-w / 2, 0.35, -d / 2), (w / 2, h, -d / 2 + 0.18), bowl)
    mb.box((-w / 2 + 0.04, seat, -d / 2 + 0.18), (w / 2 - 0.04, seat + 0.02, d / 2 - 0.02), (225, 225, 228))


def _bathtub(mb, w, d, h, c) -> None:
    t, tub = 0.07, c["tub"]
    mb.box((-w / 2, 0, -d / 2), (w / 2, 0.1, d / 2), tub)
    mb.box((-w / 2, 0.1, -d / 2), (w / 2, h, -d / 2 + t), tub)
    mb.box((-w / 2, 0.1, d / 2 - t), (w / 2, h, d / 2), tub)
    mb.box((-w / 2, 0.1, -d / 2 + t), (-w / 2 + t, h, d / 2 - t), tub)
    mb.box((w / 2 - t, 0.1, -d / 2 + t), (w / 2, h, d / 2 - t), tub)
    mb.box((-w / 2 + t, 0.1, -d / 2 + t), (w / 2 - t, 0.101, d / 2 - t), (200, 215, 225), faces="Y")


def _washing_machine(mb, w, d, h, c) -> None:
    mb.box((-w / 2, 0, -d / 2), (w / 2, h, d / 2 - 0.02), c["body"])
    mb.cylinder((0, h * 0.45, d / 2 - 0.02), min(w, h) * 0.28, 0.02, c["door"], axis="z")
    mb.box((-w / 2 + 0.03, h - 0.12, d / 2 - 0.02), (w / 2 - 0.03, h - 0.03, d / 2 - 0.01), (200, 200, 205),
           faces="xXyYZ")


def _trash_can(mb, w, d, h, c) -> None:
    r = min(w, d) / 2
    mb.cylinder((0, 0, 0), r * 0.9, h - 0.03, c["body"], radius_top=r)
    mb.cylinder((0, h - 0.03, 0), r, 0.03, (50, 50, 55))


def _piano(mb, w, d, h, c) -> None:
    body = c["body"]
    mb.box((-w / 2, 0.05, -d / 2), (w / 2, h, -d / 2 + 0.3), body)
    mb.box((-w / 2, 0.6, -d / 2 + 0.3), (w / 2, 0.72, d / 2), body)
    mb.box((-w / 2 + 0.08, 0.72, -d / 2 + 0.32), (w / 2 - 0.08, 0.74, d / 2 - 0.02), (245, 245, 240))
    mb.box((-w / 2 + 0.08, 0.74, -d / 2 + 0.32), (w / 2 - 0.08, 0.75, -d / 2 + 0.4), (20, 20, 20))
    for sx in (-1, 1):
        x = sx * (w / 2 - 0.05)
        mb.box((x - 0.04, 0, -d / 2 + 0.3), (x + 0.04, 0.6, d / 2 - 0.05), body)


def _shoe_rack(mb, w, d, h, c) -> None:
    body = c["body"]
    for sx in (-1, 1):
        x = sx * (w / 2 - 0.01)
        mb.box((x - 0.01, 0, -d / 2), (x + 0.01, h, d / 2), body)
    n = max(2, int(h / 0.2))
    for i in range(n):
        y = 0.05 + i * (h - 0.07) / (n - 1)
        mb.box((-w / 2 + 0.02, y, -d / 2), (w / 2 - 0.02, y + 0.02, d / 2), body)


def _coat_rack(mb, w, d, h, c) -> None:
    pole = c["pole"]
    mb.box((-w / 2, 0, -0.025), (w / 2, 0.04, 0.025), pole)
    mb.box((-0.025, 0, -d / 2), (0.025, 0.04, d / 2), pole)
    mb.cylinder((0, 0.04, 0), 0.02, h - 0.04, pole, segments=6)
    mb.box((-w / 4, h - 0.2, -0.015), (w / 4, h - 0.17, 0.015), pole)
    mb.box((-0.015, h - 0.25, -d / 4), (0.015, h - 0.22, d / 4), pole)


Builder = Callable[[MeshBuilder, float, float, float, Colors], None]
BUILDERS: dict[str, Builder] = {
    "bed": _bed, "nightstand": _nightstand, "wardrobe": _wardrobe, "dresser": _dresser,
    "desk": _desk, "office_chair": _office_chair, "monitor": _monitor, "bookshelf": _bookshelf,
    "sofa": _sofa, "armchair": _armchair, "coffee_table": _coffee_table, "tv_stand": _tv_stand,
    "tv": _tv, "rug": _rug, "plant": _plant, "lamp": _lamp, "dining_table": _table, "chair": _chair,
    "cabinet": _cabinet, "fridge": _fridge, "stove": _stove, "sink": _sink, "toilet": _toilet,
    "bathtub": _bathtub, "washing_machine": _washing_machine, "trash_can": _trash_can,
    "piano": _piano, "side_table": _side_table, "shoe_rack": _shoe_rack, "coat_rack": _coat_rack,
}
