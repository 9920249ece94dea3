"""habitat-lab's navigation measures, with the same names and meanings.

- ``distance_to_goal``: geodesic distance from the agent to the (nearest) goal, in metres.
- ``success``: 1.0 when the agent called ``stop`` with ``distance_to_goal < success_distance``
  (habitat compares strictly). habitat-lab uses 0.2 m for PointNav; for ObjectNav it uses 0.1 m to the
  goal's view points (navigable points within about 1 m of the object), so here the ObjectNav goal is
  the set of navigable cells near the object's footprint and success_distance is 0.1.
- ``spl``: ``success * d_start / max(d_start, path_length)`` (Anderson et al. 2018).
- ``soft_spl``: ``max(0, 1 - d_T / d_start) * d_start / max(d_start, path_length)``.

``path_length`` sums the straight distances between successive agent positions, as habitat does.
Each measure is a small class with ``reset(start)`` / ``update(position, stopped)`` / ``value``;
:class:`NavigationMeasures` runs the four together and :func:`evaluate_path` scores a recorded path.

Example:
    >>> m = NavigationMeasures(lambda p: float(np.hypot(p[0] - 3, p[2])), success_distance=0.2)
    >>> _ = m.reset(np.zeros(3))
    >>> _ = m.update(np.array([1.5, 0, 0]), stopped=False)
    >>> m.update(np.array([2.9, 0, 0]), stopped=True)["spl"]
    1.0
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DistanceFn = Callable[[np.ndarray], float]

POINTNAV_SUCCESS_DISTANCE = 0.2
OBJECTNAV_SUCCESS_DISTANCE = 0.1


def _ratio(d_start: float, path_length: float) -> float:
    """d_start / max(d_start, path_length); 1.0 for a zero-length episode that started on the goal."""
    denom = max(d_start, path_length)
    return 1.0 if denom == 0 else d_start / denom


def spl(success: float, d_start: float, path_length: float) -> float:
    """Success weighted by (normalised inverse) path length."""
    return float(success) * _ratio(d_start, path_length)


def soft_spl(d_final: float, d_start: float, path_length: float) -> float:
    """habitat's SoftSPL: progress toward the goal (clipped at 0) weighted like SPL."""
    if d_start == 0:
        soft_success = 1.0 if d_final == 0 else 0.0
    else:
        soft_success = max(0.0, 1.0 - d_final / d_start)
    return soft_success * _ratio(d_start, path_length)


def path_length(positions: np.ndarray) -> float:
    """Sum of straight distances between successive positions (K, 3)."""
    p = np.asarray(positions, np.float64)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0


class DistanceToGoal:
    """Geodesic distance to the goal; ``distance_fn(position) -> float`` (e.g. a bound
    ``NavGrid.geodesic_distance``). Reset raises when the goal cannot be reached from the start."""

    uuid = "distance_to_goal"

    def __init__(self, distance_fn: DistanceFn):
        self.distance_fn = distance_fn
        self.value = float("nan")
        self.start_distance = float("nan")

    def reset(self, start: np.ndarray) -> float:
        self.value = self.start_distance = float(self.distance_fn(np.asarray(start, np.float64)))
        if not np.isfinite(self.start_distance):
            raise ValueError(f"goal is unreachable from start {np.asarray(start).tolist()}: invalid episode")
        return self.value

    def update(self, position: np.ndarray, stopped: bool = False) -> float:
        self.value = float(self.distance_fn(np.asarray(position, np.float64)))
        return self.value


class Success:
    """1.0 once ``stop`` was called within ``success_distance`` of the goal, else 0.0."""

    uuid = "success"

    def __init__(self, distance: DistanceToGoal, success_distance: float = POINTNAV_SUCCESS_DISTANCE):
        if not success_distance > 0:
            raise ValueError(f"success_distance must be > 0, got {success_distance!r}")
        self.distance, self.success_distance = distance, float(success_distance)
        self.value = 0.0

    def reset(self, start: np.ndarray) -> float:
        self.value = 0.0
        return self.value

    def update(self, position: np.ndarray, stopped: bool = False) -> float:
        self.value = float(bool(stopped) and self.distance.value < self.success_distance)
        return self.value


class _PathMeasure:
    def __init__(self, distance: DistanceToGoal):
        self.distance = distance
        self.path_length = 0.0
        self._last: np.ndarray | None = None
        self.value = 0.0

    def _advance(self, position: np.ndarray) -> None:
        position = np.asarray(position, np.float64)
        if self._last is not None:
            self.path_length += float(np.linalg.norm(position - self._last))
        self._last = position.copy()

    def reset(self, start: np.ndarray) -> float:
        self.path_length, self._last = 0.0, np.asarray(start, np.float64).copy()
        self.value = 0.0
        return self.value


class SPL(_PathMeasure):
    """SPL; reads the start distance from ``distance`` and success from ``success``."""

    uuid = "spl"

    def __init__(self, distance: DistanceToGoal, success: Success):
        super().__init__(distance)
        self.success = success

    def update(self, position: np.ndarray, stopped: bool = False) -> float:
        self._advance(position)
        self.value = spl(self.success.value, self.distance.start_distance, self.path_length)
        return self.value


class SoftSPL(_PathMeasure):
    """habitat's SoftSPL (no stop needed: credit for the fraction of distance covered)."""

    uuid = "soft_spl"

    def update(self, position: np.ndarray, stopped: bool = False) -> float:
        self._advance(position)
        self.value = soft_spl(self.distance.value, self.distance.start_distance, self.path_length)
        return self.value


class NavigationMeasures:
    """The four measures updated in habitat's order; ``update`` returns ``{uuid: value}``."""

    def __init__(self, distance_fn: DistanceFn, success_distance: float = POINTNAV_SUCCESS_DISTANCE):
        self.distance_to_goal = DistanceToGoal(distance_fn)
        self.success = Success(self.distance_to_goal, success_distance)
        self.spl = SPL(self.distance_to_goal, self.success)
        self.soft_spl = SoftSPL(self.distance_to_goal)
        self._all = (self.distance_to_goal, self.success, self.spl, self.soft_spl)

    def reset(self, start: np.ndarray) -> dict[str, float]:
        for m in self._all:
            m.reset(start)
        return self.values

    def update(self, position: np.ndarray, stopped: bool = False) -> dict[str, float]:
        for m in self._all:
            m.update(position, stopped)
        return self.values

    @property
    def values(self) -> dict[str, float]:
        return {m.uuid: m.value for m in self._all}


def evaluate_path(
    positions: np.ndarray,
    distance_fn: DistanceFn,
    stopped: bool = True,
    success_distance: float = POINTNAV_SUCCESS_DISTANCE,
) -> dict[str, float]:
    """Measures for a recorded episode: ``positions`` (K, 3) from the start, ``stopped`` whether the
    episode ended with ``stop`` at the last position. Also returns ``path_length``."""
    p = np.asarray(positions, np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise ValueError(f"positions must be a non-empty (K, 3) array, got shape {p.shape}")
    d_start = float(distance_fn(p[0]))
    if not np.isfinite(d_start):
        raise ValueError(f"goal is unreachable from start {p[0].tolist()}: invalid episode")
    d_final = float(distance_fn(p[-1]))
    length = path_length(p)
    success = float(bool(stopped) and d_final < success_distance)
    return {
        "distance_to_goal": d_final,
        "success": success,
        "spl": spl(success, d_start, length),
        "soft_spl": soft_spl(d_final, d_start, length),
        "path_length": length,
    }
