"""Room culling through doorways: draw the camera's room and the rooms seen through door openings.

On llvmpipe the cost of a frame follows the triangles and fragments sent to it, and rooms behind a
wall still cost their full fill even though the depth test hides them. A scene's ``rooms`` and
``doorways`` (:mod:`scenes.types`) give a cell-and-portal graph: starting from the room(s) holding
the camera, a neighbour is visible when its doorway opening projects into the screen rectangle that
is still open along the path, and the rectangle narrows to the opening (Luebke & Georges 1995).

Each draw belongs to every room whose floor polygon its bounding box overlaps; draws that overlap no
room (outside geometry, scenes without rooms) are always drawn. The test is conservative: it can
draw too much, never too little, as long as rooms are closed by walls except at their doorways.

Example:
    >>> import numpy as np
    >>> from scenes.types import Doorway, Room
    >>> rooms = [Room(0, "a", np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float), 2.5),
    ...          Room(1, "b", np.array([[4, 0], [8, 0], [8, 4], [4, 4]], float), 2.5)]
    >>> vis = RoomVisibility(rooms, [Doorway(0, 1, np.array([4.0, 2.0]), 0.9, "z")],
    ...                      lo=np.array([[0, 0, 0], [4.5, 0, 1]]), hi=np.array([[4, 0, 4], [5.5, 1, 2]]))
    >>> from envs.render.camera import perspective
    >>> from envs.pose import camera_to_world
    >>> def view_proj(heading):
    ...     return perspective(90, 64, 64, 0.05, 50) @ np.linalg.inv(camera_to_world([2, 0, 2], heading, (0, 1.25, 0)))
    >>> vis.visible_draws(np.array([2, 1.25, 2]), view_proj(-np.pi / 2)).tolist()  # facing the door (+x)
    [True, True]
    >>> vis.visible_draws(np.array([2, 1.25, 2]), view_proj(np.pi / 2)).tolist()  # back to the door
    [True, False]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scenes.types import Doorway, Room

MAX_EXPANSIONS = 512  # portal paths explored per frame before giving up and drawing everything


class RoomVisibility:
    """Which draws (given by their bounds ``lo``/``hi`` (N, 3)) can be seen from a camera."""

    def __init__(self, rooms: Sequence[Room], doorways: Sequence[Doorway], lo: np.ndarray, hi: np.ndarray,
                 margin: float = 0.3):
        import shapely

        self.margin = float(margin)
        self.room_ids = [int(r.room_id) for r in rooms]
        index = {rid: i for i, rid in enumerate(self.room_ids)}
        self._polys = np.array([shapely.Polygon(np.asarray(r.polygon, float)) for r in rooms], dtype=object)
        for p in self._polys:
            shapely.prepare(p)
        lo, hi = np.asarray(lo, float).reshape(-1, 3), np.asarray(hi, float).reshape(-1, 3)
        boxes = shapely.box(lo[:, 0], lo[:, 2], hi[:, 0], hi[:, 2])
        # member[i, j]: draw j overlaps room i (touching an edge only does not count)
        shrunk = [p.buffer(-1e-3) for p in self._polys]
        self.member = np.array([shapely.intersects(s, boxes) for s in shrunk], bool).reshape(len(rooms), len(lo))
        self.always = ~self.member.any(axis=0)
        self._portals: list[list[tuple[int, int]]] = [[] for _ in rooms]  # room -> (neighbour, portal)
        quads = []
        for d in doorways:
            if d.room_a not in index or d.room_b not in index:
                continue  # a doorway to the outside or to an unknown room opens onto nothing we draw
            a, b = index[d.room_a], index[d.room_b]
            self._portals[a].append((b, len(quads)))
            self._portals[b].append((a, len(quads)))
            quads.append(_opening(d, rooms[a], rooms[b]))
        self._quads = np.array(quads, float).reshape(-1, 4, 4)
        self._last_xz: tuple[float, float] | None = None
        self._last_rooms: list[int] = []

    def camera_rooms(self, position: np.ndarray) -> list[int]:
        """Indices of the rooms within ``margin`` of the camera (x, z); several near a doorway."""
        import shapely

        xz = (float(position[0]), float(position[2]))
        if xz != self._last_xz:  # turning in place keeps the room: skip the polygon tests
            dist = shapely.distance(self._polys, shapely.Point(*xz))
            self._last_rooms = np.flatnonzero(dist <= self.margin).tolist()
            self._last_xz = xz
        return self._last_rooms

    def visible_rooms(self, position: np.ndarray, view_proj: np.ndarray) -> np.ndarray | None:
        """Boolean mask over rooms, or None when the camera is in no room (then draw everything)."""
        start = self.camera_rooms(position)
        if not start:
            return None
        seen = np.zeros(len(self.room_ids), bool)
        screen = _portal_rects(self._quads, view_proj)
        stack = [(i, (-1.0, -1.0, 1.0, 1.0), frozenset([i])) for i in start]
        expansions = 0
        while stack:
            room, rect, path = stack.pop()
            seen[room] = True
            for other, portal in self._portals[room]:
                if other in path or screen[portal] is None:
                    continue
                expansions += 1
                if expansions > MAX_EXPANSIONS:
                    return None
                r = screen[portal]
                cut = (max(rect[0], r[0]), max(rect[1], r[1]), min(rect[2], r[2]), min(rect[3], r[3]))
                if cut[0] < cut[2] and cut[1] < cut[3]:
                    stack.append((other, cut, path | {other}))
        return seen

    def visible_draws(self, position: np.ndarray, view_proj: np.ndarray) -> np.ndarray:
        """Boolean mask over draws: in a visible room, or in no room at all."""
        rooms = self.visible_rooms(position, view_proj)
        if rooms is None:
            return np.ones(self.member.shape[1], bool)
        return self.always | self.member[rooms].any(axis=0)


def _opening(d: Doorway, a: Room, b: Room) -> np.ndarray:
    """The doorway's opening as 4 world corners (floor to the lower ceiling), homogeneous (4, 4)."""
    cx, cz = (float(v) for v in np.asarray(d.center, float)[:2])
    half = float(d.width) / 2
    y0 = min(float(a.floor_height), float(b.floor_height))
    y1 = max(y0, min(float(a.floor_height) + float(a.height), float(b.floor_height) + float(b.height)))
    if d.axis == "x":  # the opening runs along x, in a wall of constant z
        xs, zs = (cx - half, cx + half), (cz, cz)
    else:
        xs, zs = (cx, cx), (cz - half, cz + half)
    return np.array([[xs[0], y0, zs[0], 1], [xs[1], y0, zs[1], 1], [xs[1], y1, zs[1], 1], [xs[0], y1, zs[0], 1]])


def _portal_rects(quads: np.ndarray, view_proj: np.ndarray) -> list[tuple[float, float, float, float] | None]:
    """Screen bounds (x0, y0, x1, y1 in NDC) of each opening (P, 4 corners, 4); None when it cannot be seen.

    An opening that straddles the camera plane (the camera stands in the doorway) gets the whole screen.
    """
    clip = (quads @ np.asarray(view_proj, float).T).tolist()  # (P, 4, 4); plain floats are faster here
    out: list[tuple[float, float, float, float] | None] = []
    for corners in clip:
        ws = [c[3] for c in corners]
        if max(ws) <= 1e-6:
            out.append(None)  # all behind the camera
            continue
        # All four corners outside one clip plane: the opening cannot be seen.
        if any(all(c[a] > c[3] for c in corners) or all(c[a] < -c[3] for c in corners) for a in range(3)):
            out.append(None)
        elif min(ws) <= 1e-6:
            out.append((-1.0, -1.0, 1.0, 1.0))
        else:
            xs = [c[0] / c[3] for c in corners]
            ys = [c[1] / c[3] for c in corners]
            out.append((min(xs), min(ys), max(xs), max(ys)))
    return out
