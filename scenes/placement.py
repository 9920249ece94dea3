"""Furniture placement inside one rectangular room by rejection sampling.

Rules (the tests check the same ones independently):
- every footprint lies inside the room's inner rectangle (room minus half the wall thickness);
- no footprint touches a doorway's clear zone (on both sides of each doorway);
- two non-rug objects never overlap (footprints apart by ``GAP``; objects stacked on a parent
  such as a tv on its stand share the parent's footprint but not its height range);
- rugs are floor coverings of negligible height: they may lie under furniture, but not under
  other rugs or in a doorway's clear zone;
- each object keeps a clearance strip in front of it free of other footprints (its group excepted,
  e.g. the chairs of a table), and all doorways of the room stay connected on foot through free
  floor (a grid of 0.1 m cells, furniture inflated by an agent radius).

Yaws are multiples of 90 degrees, so footprints are axis-aligned rectangles here.

Example:
    >>> import numpy as np
    >>> p = RoomPlacer(np.random.default_rng(0), 0, "bedroom", (0.05, 0.05, 3.95, 3.45), [])
    >>> p.fill()
    >>> "bed" in [o.category for o in p.placed]
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from scenes.catalog import CATALOG, FLOOR_COVERINGS, ROOM_CONTENTS, Item

Rect = tuple[float, float, float, float]  # x0, z0, x1, z1
GAP = 0.02  # min distance between footprints (m)
AGENT_RADIUS = 0.2  # furniture inflation for the walkability check (m)
CELL = 0.1  # walkability grid resolution (m)
_FRONT = [(0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0)]  # front (x, z) for yaw index k


@dataclass
class Placed:
    """A placed object: category, size (w, d, h), centre (x, z), yaw index k (k * 90 degrees), base y."""

    category: str
    size: tuple[float, float, float]
    x: float
    z: float
    k: int
    y0: float
    colors: dict
    group: int
    rect: Rect
    clear: Rect | None


def footprint(x: float, z: float, w: float, d: float, k: int) -> Rect:
    hx, hz = (w / 2, d / 2) if k % 2 == 0 else (d / 2, w / 2)
    return (x - hx, z - hz, x + hx, z + hz)


def _overlap(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _inside(a: Rect, outer: Rect) -> bool:
    return a[0] >= outer[0] - 1e-9 and a[1] >= outer[1] - 1e-9 and a[2] <= outer[2] + 1e-9 and a[3] <= outer[3] + 1e-9


def pick_colors(rng: np.random.Generator, category: str) -> dict:
    """One palette entry per part role, brightness jittered by up to 10 %."""
    out = {}
    for role, palette in CATALOG[category].colors.items():
        base = np.asarray(palette[int(rng.integers(len(palette)))], float)
        out[role] = tuple(int(v) for v in np.clip(base * rng.uniform(0.9, 1.1), 0, 255))
    return out


def sample_size(rng: np.random.Generator, category: str, scale: float = 1.0) -> tuple[float, float, float]:
    """Width, depth, height drawn in the catalogue ranges (``scale`` in [0, 1] biases to small)."""
    c = CATALOG[category]
    return tuple(round(float(lo + (hi - lo) * rng.random() * scale), 3) for lo, hi in (c.width, c.depth, c.height))


class RoomPlacer:
    """Places the furniture of one room; ``placed`` holds the result in placement order."""

    def __init__(self, rng: np.random.Generator, room_id: int, room_type: str, inner: Rect,
                 door_zones: list[Rect], tries: int = 40):
        self.rng, self.room_id, self.room_type = rng, room_id, room_type
        self.inner, self.door_zones, self.tries = inner, door_zones, tries
        self.placed: list[Placed] = []
        self._group = 0
        nx = max(1, int(round((inner[2] - inner[0]) / CELL)))
        nz = max(1, int(round((inner[3] - inner[1]) / CELL)))
        xs = inner[0] + (np.arange(nx) + 0.5) * (inner[2] - inner[0]) / nx
        zs = inner[1] + (np.arange(nz) + 0.5) * (inner[3] - inner[1]) / nz
        self._gx, self._gz = np.meshgrid(xs, zs, indexing="ij")
        self._door_cells = [self._cells(r) for r in door_zones]
        self._door_cells = [c for c in self._door_cells if c.any()]

    # ------------------------------------------------------------------------------- checks
    def _cells(self, r: Rect, pad: float = 0.0) -> np.ndarray:
        return ((self._gx > r[0] - pad) & (self._gx < r[2] + pad) & (self._gz > r[1] - pad) & (self._gz < r[3] + pad))

    def _fits(self, cand: Placed, ignore_group: int | None = None) -> bool:
        if not _inside(cand.rect, self.inner):
            return False
        if any(_overlap(cand.rect, dz) for dz in self.door_zones):
            return False
        rug = cand.category in FLOOR_COVERINGS
        for o in self.placed:
            if (o.category in FLOOR_COVERINGS) != rug:
                continue
            if _overlap(cand.rect, o.rect, GAP):
                return False
            if rug or o.group == ignore_group:
                continue
            if o.clear is not None and _overlap(cand.rect, o.clear):
                return False
            if cand.clear is not None and _overlap(cand.clear, o.rect):
                return False
        return rug or self._walkable(cand)

    def _walkable(self, cand: Placed) -> bool:
        """All doorways stay in one free-floor component holding most of the free floor."""
        if not self._door_cells:
            return True
        occ = np.zeros(self._gx.shape, bool)
        for o in [*self.placed, cand]:
            if o.category not in FLOOR_COVERINGS and o.y0 == 0.0:
                occ |= self._cells(o.rect, AGENT_RADIUS)
        labels, _ = ndimage.label(~occ)
        comps = set()
        for cells in self._door_cells:
            ids = np.unique(labels[cells & ~occ])
            if len(ids) == 0:
                return False
            comps.update(int(i) for i in ids)
        if len(comps) != 1:
            return False
        return (labels == comps.pop()).sum() >= 0.75 * (~occ).sum()

    def _make(self, cat, size, x, z, k, colors, group, y0=0.0) -> Placed:
        w, d, _ = size
        rect = footprint(x, z, w, d, k)
        clear = None
        c = CATALOG[cat].clearance
        if c > 0:
            fx, fz = _FRONT[k]
            x0, z0, x1, z1 = rect
            clear = (x1 if fx > 0 else x0 - c if fx < 0 else x0, z1 if fz > 0 else z0 - c if fz < 0 else z0,
                     x1 + c if fx > 0 else x0 if fx < 0 else x1, z1 + c if fz > 0 else z0 if fz < 0 else z1)
        return Placed(cat, size, float(x), float(z), k, y0, colors, group, rect, clear)

    def _commit(self, p: Placed) -> Placed:
        self.placed.append(p)
        return p

    # ---------------------------------------------------------------------------- samplers
    def _wall_candidate(self, cat, size, colors, group, wall: int | None = None) -> Placed | None:
        """At a wall, back against it, facing into the room (``wall`` = yaw index of its front)."""
        w, d, _ = size
        x0, z0, x1, z1 = self.inner
        k = int(self.rng.integers(4)) if wall is None else wall
        along = (x0, x1) if k % 2 == 0 else (z0, z1)
        if along[1] - along[0] < w:
            return None
        t = float(self.rng.uniform(along[0] + w / 2, along[1] - w / 2))
        off = d / 2 + 0.005
        x, z = {0: (t, z0 + off), 1: (x0 + off, t), 2: (t, z1 - off), 3: (x1 - off, t)}[k]
        return self._make(cat, size, x, z, k, colors, group)

    def _free_candidate(self, cat, size, colors, group) -> Placed | None:
        w, d, _ = size
        k = int(self.rng.integers(4))
        hx, hz = (w / 2, d / 2) if k % 2 == 0 else (d / 2, w / 2)
        x0, z0, x1, z1 = self.inner
        if x1 - x0 < 2 * hx or z1 - z0 < 2 * hz:
            return None
        x = self.rng.uniform(x0 + hx, x1 - hx)
        z = self.rng.uniform(z0 + hz, z1 - hz)
        return self._make(cat, size, x, z, k, colors, group)

    def place_one(self, cat: str, mode: str, colors: dict | None = None, group: int | None = None,
                  wall: int | None = None) -> Placed | None:
        """Try ``tries`` random sizes and positions; commit and return the first that fits."""
        group = self._new_group() if group is None else group
        colors = colors or pick_colors(self.rng, cat)
        for i in range(self.tries):
            size = sample_size(self.rng, cat, scale=1.0 if i < self.tries // 2 else 0.4)
            if mode == "wall":
                cand = self._wall_candidate(cat, size, colors, group, wall)
            else:
                cand = self._free_candidate(cat, size, colors, group)
            if cand is not None and self._fits(cand, ignore_group=group):
                return self._commit(cand)
        return None

    def place_at(self, cat: str, size, x: float, z: float, k: int, colors: dict, group: int,
                 y0: float = 0.0) -> Placed | None:
        """Commit an object at a given pose if it fits (group members ignore each other's clearance)."""
        cand = self._make(cat, size, x, z, k, colors, group, y0)
        if y0 > 0:  # stacked: lies on its parent, checked by the caller
            return self._commit(cand)
        return self._commit(cand) if self._fits(cand, ignore_group=group) else None

    def _new_group(self) -> int:
        self._group += 1
        return self._group

    # ------------------------------------------------------------------------------- filling
    def fill(self) -> None:
        """Place the room type's contents (``ROOM_CONTENTS``), anchors first."""
        for item in ROOM_CONTENTS[self.room_type]:
            if self.rng.random() >= item.prob:
                continue
            n = int(self.rng.integers(item.count[0], item.count[1] + 1))
            for _ in range(n):
                self.place_item(item)

    def place_item(self, item: Item) -> None:
        if item.placement in GROUPS:
            GROUPS[item.placement](self)
        else:
            self.place_one(item.category, item.placement)

    def world(self, anchor: Placed, lx: float, lz: float) -> tuple[float, float]:
        """A point given in ``anchor``'s frame (x right, z front) in room coordinates."""
        fx, fz = _FRONT[anchor.k]
        rx, rz = _FRONT[(anchor.k + 1) % 4]
        return anchor.x + lx * rx + lz * fx, anchor.z + lx * rz + lz * fz


# ----------------------------------------------------------------------------------- groups
def _clamp_size(cat: str, size, max_w: float | None = None, max_d: float | None = None):
    c = CATALOG[cat]
    w, d, h = size
    w = max(c.width[0], min(w, max_w)) if max_w is not None else w
    d = max(c.depth[0], min(d, max_d)) if max_d is not None else d
    return (round(w, 3), round(d, 3), h)


def bed_set(p: RoomPlacer) -> None:
    """A bed with its headboard at a wall and nightstands on either side."""
    g = p._new_group()
    bed = p.place_one("bed", "wall", group=g)
    if bed is None:
        return
    w, d, _ = bed.size
    colors = pick_colors(p.rng, "nightstand")
    for side in (-1, 1):
        if p.rng.random() < 0.85:
            size = sample_size(p.rng, "nightstand")
            x, z = p.world(bed, side * (w / 2 + 0.05 + size[0] / 2), -d / 2 + size[1] / 2)
            p.place_at("nightstand", size, x, z, bed.k, colors, g)


def sofa_set(p: RoomPlacer) -> None:
    """A sofa at a wall, a coffee table (maybe on a rug) in front, a tv stand and tv facing it."""
    g = p._new_group()
    sofa = p.place_one("sofa", "wall", group=g)
    if sofa is None:
        return
    w, d, _ = sofa.size
    ct = sample_size(p.rng, "coffee_table")
    gap = p.rng.uniform(0.35, 0.45)
    x, z = p.world(sofa, 0.0, d / 2 + gap + ct[1] / 2)
    table = p.place_at("coffee_table", ct, x, z, sofa.k, pick_colors(p.rng, "coffee_table"), g)
    if table is not None and p.rng.random() < 0.6:
        rug = sample_size(p.rng, "rug")
        rug = (max(rug[0], min(3.0, ct[0] + 1.0)), max(rug[1], min(2.0, ct[1] + 0.8)), rug[2])
        p.place_at("rug", rug, table.x, table.z, sofa.k, pick_colors(p.rng, "rug"), g)
    stand = p.place_one("tv_stand", "wall", group=g, wall=(sofa.k + 2) % 4)
    stand = stand or p.place_one("tv_stand", "wall", group=g)
    if stand is not None:
        tv = _clamp_size("tv", sample_size(p.rng, "tv"), stand.size[0] - 0.1, stand.size[1])
        p.place_at("tv", tv, stand.x, stand.z, stand.k, pick_colors(p.rng, "tv"), g, y0=stand.size[2])


def dining_set(p: RoomPlacer) -> None:
    """A free-standing table with 2-8 matching chairs around it (retried until >= 2 chairs fit)."""
    chair_colors = pick_colors(p.rng, "chair")
    for _ in range(6):
        before = len(p.placed)
        g = p._new_group()
        table = p.place_one("dining_table", "free", group=g)
        if table is None:
            return
        w, d, _ = table.size
        cs = sample_size(p.rng, "chair")
        seats = []
        n = max(1, int((w - 0.1) / 0.6))
        for i in range(n):
            lx = -w / 2 + (i + 0.5) * w / n
            seats += [(lx, d / 2 + 0.05 + cs[1] / 2, 2), (lx, -d / 2 - 0.05 - cs[1] / 2, 0)]
        if p.rng.random() < 0.5:
            seats += [(w / 2 + 0.05 + cs[1] / 2, 0.0, 3), (-w / 2 - 0.05 - cs[1] / 2, 0.0, 1)]
        chairs = 0
        for lx, lz, dk in seats:
            x, z = p.world(table, lx, lz)
            chairs += p.place_at("chair", cs, x, z, (table.k + dk) % 4, chair_colors, g) is not None
        if chairs >= 2:
            return
        del p.placed[before:]


def desk_set(p: RoomPlacer) -> None:
    """A desk at a wall, an office chair in front of it and usually a monitor on it."""
    g = p._new_group()
    desk = p.place_one("desk", "wall", group=g)
    if desk is None:
        return
    w, d, h = desk.size
    cs = sample_size(p.rng, "office_chair")
    x, z = p.world(desk, p.rng.uniform(-0.1, 0.1) * w, d / 2 + 0.03 + cs[1] / 2)
    p.place_at("office_chair", cs, x, z, (desk.k + 2) % 4, pick_colors(p.rng, "office_chair"), g)
    if p.rng.random() < 0.85:
        ms = _clamp_size("monitor", sample_size(p.rng, "monitor"), w - 0.1)
        x, z = p.world(desk, 0.0, -d / 2 + ms[1] / 2 + 0.05)
        p.place_at("monitor", ms, x, z, desk.k, pick_colors(p.rng, "monitor"), g, y0=h)


GROUPS = {"bed_set": bed_set, "sofa_set": sofa_set, "dining_set": dining_set, "desk_set": desk_set}
