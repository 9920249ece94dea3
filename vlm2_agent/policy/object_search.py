"""Memory-guided object search: explore to a frontier until a goal estimate exists, then go there and stop.

The modular recipe of the ObjectNav literature (a map, a goal estimate, a planner), on VLM2:

- :class:`ExplorationMap` marks the cells of the env's navigation grid that the depth camera has
  seen (rays from the camera to every back-projected pixel, on the floor plane, up to
  ``max_range``); its *frontier* is the seen navigable cells that border navigable cells not yet
  seen. The navigable grid itself is given, as habitat's pathfinder is; what the agent must find
  out is where things are.
- A goal estimator turns what the agent has seen into a world point for the goal category, or
  None: :class:`MemoryGoalEstimator` reads VLM2's memory (``dual`` / ``working`` / ``none``): each
  entry's token is scored by the perception's patch classifier and the best-scoring entry with
  geometry gives its 3D centroid; :class:`SemanticGoalEstimator` is the same search with the
  ground-truth semantic sensor as its recogniser (an upper bound that isolates recognition).
- :class:`ObjectSearchAgent` plans on the navigable grid (the shortest-path follower) to the
  estimate, snapped to the floor, and stops there; without an estimate it walks to the nearest
  frontier. The estimate is re-read every step, so it is refined as the agent sees more.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/ObjectNav-v0", sensors=("depth", "semantic"), sim={"resolution": (32, 32)},
    ...                num_scenes=1, config={"max_episode_steps": 500})
    >>> agent = ObjectSearchAgent(SemanticGoalEstimator())
    >>> obs, info = env.reset(seed=3)
    >>> agent.reset()
    >>> done = False
    >>> while not done:
    ...     obs, reward, terminated, truncated, info = env.step(agent(obs, env))
    ...     done = terminated or truncated
    >>> info["success"]
    1.0
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from envs.agent import STOP, TURN_LEFT, TURN_RIGHT, heading_towards
from envs.pose import wrap_angle
from envs.render.camera import backproject, intrinsics
from vlm2_agent.policy.exploration_map import ExplorationMap, _sensor

__all__ = ["ExplorationMap", "GoalEstimator", "MemoryGoalEstimator", "ObjectSearchAgent", "SemanticGoalEstimator",
           "best_entry", "entry_world_points", "goal_floor_distance", "goal_instance_ids", "vote_point"]

REJECT_RADIUS = 1.0  # m around an estimate that the check on arrival did not confirm
CONFIRM_RADIUS = 1.5  # m: how near the estimate the confirming pixels or entries must lie
CONFIRM_MEMORY = "working"  # the check on arrival reads the last frames (the approach), not the first
CONFIRM_FRAMES = 8  # frames the ground-truth recogniser's check looks back (a working memory's span)


def _world_points(base, spec, depth: np.ndarray) -> np.ndarray:
    """(H, W, 3) world points of a depth image from the sensor ``spec`` at the env's current pose."""
    h, w = spec.resolution
    return backproject(depth.reshape(h, w), intrinsics(spec.hfov, w, h), base.camera_to_world(spec.uuid))


class GoalEstimator(Protocol):
    """What the search asks of a recogniser + memory. ``rejected``: the estimates the check on
    arrival turned down this episode (the agent clears it once nothing is left to explore)."""

    rejected: list[np.ndarray]

    def reset(self, env) -> None: ...

    def observe(self, env) -> None: ...

    def estimate(self, env) -> np.ndarray | None:
        """World point (3,) of the episode's goal category, or None while nothing is recognised."""

    def confirm(self, env, point: np.ndarray) -> bool:
        """Whether the last frames (the approach) show the goal near ``point`` (the check on arrival)."""

    def reject(self, point: np.ndarray) -> None:
        """Never estimate within ``REJECT_RADIUS`` of ``point`` again this episode."""


def _not_rejected(points: np.ndarray, rejected: list[np.ndarray]) -> np.ndarray:
    """(N,) bool: which world points (N, 3) lie farther than REJECT_RADIUS from every rejected estimate."""
    keep = np.ones(len(points), bool)
    for r in rejected:
        keep &= np.hypot(points[:, 0] - r[0], points[:, 2] - r[2]) > REJECT_RADIUS
    return keep


def goal_instance_ids(base) -> set[int]:
    """The instances that are the episode's goal: ``goal_instances`` where the task names them
    (ReturnNav: the category in the room type), else every instance of ``goal_category``."""
    named = getattr(base, "goal_instances", None)
    if named:
        return {int(i) for i in named}
    return {int(o.instance_id) for o in base.scene.objects if o.category == base.goal_category}


def goal_floor_distance(base, point: np.ndarray | None) -> float:
    """Floor-plane distance (m) from ``point`` (3,) to the nearest goal instance's box centre
    (:func:`goal_instance_ids`): how far an estimate is off. NaN for no point."""
    if point is None:
        return float("nan")
    ids = goal_instance_ids(base)
    centres = np.array([o.box.center for o in base.scene.objects if int(o.instance_id) in ids])
    return float(np.min(np.linalg.norm(centres[:, [0, 2]] - np.asarray(point)[[0, 2]], axis=1)))


class SemanticGoalEstimator:
    """Ground-truth recognition: every object pixel of the semantic sensor, back-projected and kept
    for the whole episode per instance (a perfect map of what was seen, the goal not yet known, as
    in a ReturnNav tour). The estimate is the seen point of a goal instance nearest to the agent.
    ``max_range``: pixels farther than this (m) are not trusted."""

    def __init__(self, max_range: float = 3.0):
        self.max_range = float(max_range)
        self.points: dict[int, list[np.ndarray]] = {}
        self.rejected: list[np.ndarray] = []
        self._objects = np.zeros(0, np.int64)
        self._recent: list[dict[int, np.ndarray]] = []

    def reset(self, env) -> None:
        self._objects = np.array(sorted(int(o.instance_id) for o in env.unwrapped.scene.objects), np.int64)
        self.points = {}
        self.rejected = []
        self._recent = []

    def observe(self, env) -> None:
        base = env.unwrapped
        raw = base.sensor_observations()
        depth_spec, sem_spec = _sensor(base, "depth"), _sensor(base, "semantic")
        depth = np.asarray(raw[depth_spec.uuid], np.float64).reshape(depth_spec.resolution)
        ids = np.asarray(raw[sem_spec.uuid]).reshape(sem_spec.resolution)
        hit = np.isin(ids, self._objects) & (depth > 0) & (depth <= self.max_range)
        frame: dict[int, np.ndarray] = {}
        if hit.any():
            world = _world_points(base, depth_spec, depth)[hit]
            for i in np.unique(ids[hit]):
                frame[int(i)] = world[ids[hit] == i]
                self.points.setdefault(int(i), []).append(frame[int(i)])
        self._recent = [*self._recent[-(CONFIRM_FRAMES - 1):], frame]

    def estimate(self, env) -> np.ndarray | None:
        seen = [p for i in sorted(goal_instance_ids(env.unwrapped)) for p in self.points.get(i, [])]
        if not seen:
            return None
        points = np.concatenate(seen)
        if self.rejected:
            points = points[_not_rejected(points, self.rejected)]
            if not len(points):
                return None
        p = env.unwrapped.position
        return points[np.argmin(np.linalg.norm(points[:, [0, 2]] - p[[0, 2]], axis=1))]

    def confirm(self, env, point: np.ndarray) -> bool:
        goal = goal_instance_ids(env.unwrapped)
        now = [frame[i] for frame in self._recent for i in goal if i in frame]
        if not now:
            return False
        near = np.concatenate(now)
        return bool((np.hypot(near[:, 0] - point[0], near[:, 2] - point[2]) <= CONFIRM_RADIUS).any())

    def reject(self, point: np.ndarray) -> None:
        self.rejected.append(np.asarray(point, float).copy())


class MemoryGoalEstimator:
    """VLM2 recognition and memory: every frame streams into ``memory_mode``'s memory (one VLM2 with
    oracle geometry); an entry's score is the patch classifier's probability of the goal category
    (``semantic_head``: the perception's head, ``checkpoints/vlm2_cpu_small_semantic``); the estimate
    is the 3D centroid of the best entry (``read="max"``) or of the entries that together score
    highest (``read="vote"``, :func:`vote_point`), if its score reaches ``threshold``. ``region(env, points)``
    (optional) keeps only entries whose centroids (N, 3) it accepts, e.g. those in the goal's room
    type for ReturnNav. :meth:`load_state` starts from a memory streamed elsewhere (a tour)."""

    def __init__(self, model, semantic_head: str, memory_mode: str = "dual", threshold: float = 0.5,
                 min_valid: float = 0.05, region=None, read: str = "max"):
        from safetensors.torch import load_file

        from vlm2_agent.policy.memory_goal import MultiMemoryStreamer

        # a working memory beside the mode holds the last frames alone, for the check on arrival
        self.streamer = MultiMemoryStreamer(model, tuple(dict.fromkeys((memory_mode, CONFIRM_MEMORY))))
        self.mode = memory_mode
        self.rejected: list[np.ndarray] = []
        head = load_file(str(semantic_head))
        self.head = torch.nn.Linear(head["weight"].shape[1], head["weight"].shape[0])
        self.head.load_state_dict(head)
        if read not in READS:
            raise ValueError(f"MemoryGoalEstimator: read must be one of {READS}, got {read!r}")
        self.threshold = float(threshold)
        self.min_valid = float(min_valid)
        self.region = region
        self.read = read
        self._first_c2w = np.eye(4)
        self.last_score = 0.0

    def reset(self, env) -> None:
        base = env.unwrapped
        self.streamer.reset()
        self.rejected = []
        self._first_c2w = base.camera_to_world(_sensor(base, "depth").uuid)

    def load_state(self, states, first_camera_to_world: np.ndarray) -> None:
        """Continue from memories streamed elsewhere (``MultiMemoryStreamer.states`` after a tour, with
        this mode and ``working``; copied) whose reference camera was ``first_camera_to_world``."""
        import copy

        missing = [m for m in self.streamer.modes if m not in states]
        if missing:
            raise ValueError(f"MemoryGoalEstimator.load_state: no state for memory mode(s) {missing}")
        self.streamer.states = {mode: copy.deepcopy(states[mode]) for mode in self.streamer.modes}
        self.rejected = []
        self._first_c2w = np.asarray(first_camera_to_world, np.float64).copy()

    def observe(self, env) -> None:
        from vlm2_agent.policy.memory_wrapper import frame_inputs

        base = env.unwrapped
        self.streamer.observe(*frame_inputs(base, _sensor(base, "rgb"), _sensor(base, "depth")))

    def _read(self, env, mode: str, near: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
        base = env.unwrapped
        tokens, coords, mask = self.streamer.snapshot(mode)
        world = entry_world_points(coords, self._first_c2w)
        if self.region is not None:
            mask = mask & np.asarray(self.region(env, world), bool)
        if self.rejected:
            mask = mask & _not_rejected(world, self.rejected)
        if near is not None:
            mask = mask & (np.hypot(world[:, 0] - near[0], world[:, 2] - near[2]) <= CONFIRM_RADIUS)
        return best_entry(tokens, coords, mask, self.head, base.categories.index(base.goal_category),
                          self._first_c2w, self.threshold, self.min_valid, self.read)

    def estimate(self, env) -> np.ndarray | None:
        point, self.last_score = self._read(env, self.mode)
        return point

    def confirm(self, env, point: np.ndarray) -> bool:
        return self._read(env, CONFIRM_MEMORY, near=np.asarray(point, float))[0] is not None

    def reject(self, point: np.ndarray) -> None:
        self.rejected.append(np.asarray(point, float).copy())


def entry_world_points(coords: np.ndarray, first_camera_to_world: np.ndarray) -> np.ndarray:
    """(P, 3) world positions of memory entry centroids ``coords`` (P, 4), which are in the frame of
    the episode's first camera (``MultiMemoryStreamer.snapshot``), given that camera's pose.

    >>> pose = np.eye(4); pose[:3, 3] = [1.0, 0.0, 2.0]
    >>> entry_world_points(np.array([[0.5, 0.0, -1.0, 1.0]]), pose).tolist()
    [[1.5, 0.0, 1.0]]
    """
    c2w = np.asarray(first_camera_to_world, np.float64)
    return np.asarray(coords, np.float64)[:, :3] @ c2w[:3, :3].T + c2w[:3, 3]


@torch.no_grad()
def best_entry(tokens: np.ndarray, coords: np.ndarray, mask: np.ndarray, head: torch.nn.Module, category: int,
               first_camera_to_world: np.ndarray, threshold: float = 0.5, min_valid: float = 0.05,
               read: str = "max") -> tuple[np.ndarray | None, float]:
    """The goal estimate read from memory entries: (world point (3,) or None, its score).

    ``tokens`` (P, D), ``coords`` (P, 4) (centroid in the first camera's frame + valid fraction) and
    ``mask`` (P,) are one memory snapshot (``MultiMemoryStreamer.snapshot``); ``head`` maps a token
    to class logits (class 0 = no object, ``category + 1`` = the goal). Among the entries with
    geometry, ``read="max"`` takes the entry with the highest goal probability, ``read="vote"`` the
    neighbourhood of entries that together hold the most (:func:`vote_point`). The score is the
    best goal probability there; below ``threshold`` there is no estimate.
    """
    if read not in READS:
        raise ValueError(f"best_entry: read must be one of {READS}, got {read!r}")
    usable = np.asarray(mask, bool) & (np.asarray(coords)[:, 3] >= min_valid)
    if not usable.any():
        return None, 0.0
    p = torch.softmax(head(torch.as_tensor(tokens[usable], dtype=torch.float32)), dim=-1)[:, category + 1].numpy()
    world = entry_world_points(coords[usable], first_camera_to_world)
    if read == "max":
        best = int(np.argmax(p))
        point, score = world[best], float(p[best])
    else:
        point, score = vote_point(world, p)
    return (point if score >= threshold else None), score


READS = ("max", "vote")
VOTE_RADIUS = 0.75  # m (floor plane): entries this near each other are taken as views of one thing


def vote_point(world: np.ndarray, p_goal: np.ndarray, radius: float = VOTE_RADIUS) -> tuple[np.ndarray, float]:
    """Where the goal probability of memory entries piles up: each entry's neighbourhood (entries
    within ``radius`` on the floor plane) sums its entries' probabilities; the neighbourhood with the
    most gives the point, its entries' probability-weighted mean centroid, and the score, the best
    probability in it. Many views of an object agree where one confident wrong patch does not.

    >>> world = np.array([[0.0, 0, 0], [0.2, 0, 0], [0.1, 0, 0.1], [3.0, 0, 0]])
    >>> point, score = vote_point(world, np.array([0.6, 0.6, 0.6, 0.9]))
    >>> np.round(point, 2).tolist(), score
    ([0.1, 0.0, 0.03], 0.6)
    """
    world, p_goal = np.asarray(world, np.float64), np.asarray(p_goal, np.float64)
    near = np.hypot(world[:, None, 0] - world[None, :, 0], world[:, None, 2] - world[None, :, 2]) <= radius
    k = int(np.argmax(near @ p_goal))
    w = p_goal * near[k]
    return (w[:, None] * world).sum(0) / max(w.sum(), 1e-12), float(p_goal[near[k]].max())


class ObjectSearchAgent:
    """Frontier exploration until ``estimator`` gives a goal point; then the shortest path to it on
    the navigable grid and ``stop`` within ``stop_distance`` of it (snapped to the floor). With
    ``verify``, the check on arrival (:meth:`_check_on_arrival`); once no frontier is left, the
    estimates it rejected are taken back and the next is accepted unchecked. Call it as
    ``agent(obs, env)`` after each reset and step; :meth:`reset` at each episode start.
    ``trace`` keeps, per step, the mode (``explore`` / ``goal``) and the estimate, for reports."""

    def __init__(self, estimator: GoalEstimator, max_range: float = 3.0, stop_distance: float = 0.25,
                 verify: bool = False, turn_angle: float = 10.0):
        self.estimator = estimator
        self.max_range = float(max_range)
        self.stop_distance = float(stop_distance)
        self.verify = bool(verify)
        self.turn_angle = float(turn_angle)
        self._facing = 0
        self._explored = False  # no frontier left this episode: the check on arrival is off
        self.map: ExplorationMap | None = None
        self.trace: list[dict[str, Any]] = []
        self._target: np.ndarray | None = None

    def reset(self) -> None:
        self.map = None
        self.trace = []
        self._target = None

    def begin(self, env, seen: np.ndarray | None = None, reset_estimator: bool = True) -> None:
        """Start an episode's map (with ``seen`` cells already known, e.g. from a tour) and, unless
        told not to (a ReturnNav navigation after its tour), the estimator's memory. A call on the
        first frame does this by itself."""
        self._explored = False
        self.map = ExplorationMap(env.unwrapped.navgrid, self.max_range)
        if seen is not None:
            self.map.seen |= np.asarray(seen, bool)
        if reset_estimator:
            self.estimator.reset(env)

    def __call__(self, obs, env) -> int:
        base = env.unwrapped
        if self.map is None:  # first frame of an episode
            self.begin(env)
        self.map.observe_env(env)
        self.estimator.observe(env)
        goal = self.estimator.estimate(env)
        if goal is not None:
            target = base.snap_to_navigable(goal)
            self.trace.append({"mode": "goal", "estimate": np.asarray(goal, float).copy()})
            action = int(base.shortest_path_action(target, self.stop_distance))
            if action != STOP or not self.verify or self._explored:
                self._facing = 0
                return action
            action = self._check_on_arrival(env, goal)
            if action is not None:
                return action
            self.trace[-1]["mode"] = "rejected"
        else:
            self.trace.append({"mode": "explore", "estimate": None})
        return self._explore(base)

    def _check_on_arrival(self, env, goal: np.ndarray) -> int | None:
        """At the estimate: turn to face it, then ``stop`` if the last frames show the goal near it;
        else reject it (None: go on searching)."""
        base = env.unwrapped
        off = wrap_angle(heading_towards(base.position, goal) - base.heading)
        if abs(np.degrees(off)) > self.turn_angle and self._facing < 360 / self.turn_angle:
            self._facing += 1
            return TURN_LEFT if off > 0 else TURN_RIGHT
        self._facing = 0
        if self.estimator.confirm(env, goal):
            return STOP
        self.estimator.reject(goal)
        return None

    def _explore(self, base) -> int:
        # Keep a frontier target until it is reached or no longer a frontier: re-choosing the nearest
        # frontier every step makes the agent swing between two of them.
        frontier = self.map.frontier()
        for _ in range(2):
            if self._target is not None and not self._near_frontier(self._target, frontier):
                self._target = None
            if self._target is None:
                self._target = self.map.nearest_frontier(base.position, base.heading, frontier=frontier)
            if self._target is None:
                if self.verify and self.estimator.rejected:
                    # Nothing left to explore: the rejected estimates are all there is. Take them back
                    # and stop at the next one without the check (the check can reject true ones).
                    self.estimator.rejected.clear()
                    self._explored = True
                return TURN_LEFT  # nothing left to explore: turn and keep looking
            action = int(base.shortest_path_action(self._target, self.stop_distance))
            if action != STOP:
                return action
            self._target = None  # reached this frontier: plan the next one
        return TURN_LEFT

    def _near_frontier(self, point: np.ndarray, frontier: np.ndarray, radius: int = 2) -> bool:
        r, c = self.map.grid.world_to_grid(np.asarray(point)[None])[0]
        window = frontier[max(r - radius, 0): r + radius + 1, max(c - radius, 0): c + radius + 1]
        return bool(window.any())
