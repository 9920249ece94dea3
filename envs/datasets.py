"""habitat-lab's navigation episode files (``*.json.gz``): read, write and generate PointNav / ObjectNav episodes.

The schema is habitat-lab's ``PointNavDatasetV1`` / ``ObjectNavDatasetV1``::

    {"episodes": [{"episode_id": "0", "scene_id": "apt_test_110000",
                   "start_position": [x, y, z], "start_rotation": [qx, qy, qz, qw],
                   "goals": [{"position": [x, y, z], "radius": null}],
                   "info": {"geodesic_distance": 3.2}},
                  ...]}

ObjectNav episodes carry ``object_category`` and empty ``goals``; the goals of each category live
in the top-level ``goals_by_category`` under ``"<scene basename>_<category>"``, as in habitat-lab.
Positions are world coordinates in metres (y up), rotations ``[x, y, z, w]`` quaternions of the
agent's yaw (:func:`envs.pose.heading_to_quaternion`). ``scene_id`` is resolved as habitat-sim
does (:meth:`envs.gym.scenes_cache.SceneSource.key_for`): a scene file, a handle of the dataset the
env loads, or a procedural apartment's id (``apt_<split>_<seed>``, generated on the fly).

An env plays a file with ``gym.make(id, episodes_path="pointnav_test.json.gz")`` (episodes in file
order, as habitat-lab's iterator without shuffling) or one episode with
``env.reset(options={"episode": episode})``.

Example:
    >>> import gymnasium as gym, envs, tempfile, os
    >>> eps = generate_episodes("VLM2/PointNav-v0", 2, seed=0, env_kwargs={"split": "test", "num_scenes": 1})
    >>> path = write_episodes(os.path.join(tempfile.mkdtemp(), "test.json.gz"), eps)
    >>> [e.scene_id for e in read_episodes(path).episodes]
    ['apt_test_110000', 'apt_test_110000']
    >>> env = gym.make("VLM2/PointNav-v0", episodes_path=str(path), split="test")
    >>> obs, info = env.reset()
    >>> bool(abs(info["distance_to_goal"] - eps[0].info["geodesic_distance"]) < 1e-6)
    True
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vlm2_base.io import atomic_write


class EpisodeFileError(ValueError):
    """An episode file that does not follow habitat-lab's schema; the message names the file and field."""

    def __init__(self, path: str | Path, message: str | None = None):
        if message is None:  # rebuilt from its text alone (gymnasium's vector envs), as SceneLoadError
            path, _, message = str(path).partition(": ")
        super().__init__(f"{path}: {message}")
        self.path = Path(path)
        self.message = message

    def __reduce__(self):  # picklable across processes, as SceneLoadError
        return type(self), (self.path, self.message)


@dataclass
class NavigationEpisode:
    """One habitat-lab navigation episode (``habitat.tasks.nav.nav.NavigationEpisode``'s fields)."""

    episode_id: str
    scene_id: str
    start_position: list[float]
    start_rotation: list[float]
    goals: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    object_category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.object_category is None:
            d.pop("object_category")
        return d

    @property
    def goal_position(self) -> np.ndarray | None:
        """The first goal's position (PointNav), or ``None`` when the episode has no explicit goal."""
        return np.asarray(self.goals[0]["position"], float) if self.goals else None


@dataclass
class EpisodeDataset:
    """The episodes of one file and, for ObjectNav, its ``goals_by_category``."""

    episodes: list[NavigationEpisode]
    goals_by_category: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"episodes": [e.to_dict() for e in self.episodes]}
        if self.goals_by_category:
            d["goals_by_category"] = self.goals_by_category
        return d


def _vector(value: Any, n: int, where: str, path: Path) -> list[float]:
    try:
        v = [float(x) for x in value]
    except (TypeError, ValueError):
        raise EpisodeFileError(path, f"{where}: expected {n} numbers, got {value!r}") from None
    if len(v) != n or not np.all(np.isfinite(v)):
        raise EpisodeFileError(path, f"{where}: expected {n} finite numbers, got {value!r}")
    return v


def parse_episode(d: Any, i: int, path: str | Path) -> NavigationEpisode:
    """Episode ``i`` of a file (or a dict a caller hands to ``reset``), validated; errors name
    ``path`` and the field. The input is not modified."""
    where = f"episodes[{i}]"
    if not isinstance(d, dict):
        raise EpisodeFileError(path, f"{where}: expected an object, got {type(d).__name__}")
    missing = [k for k in ("episode_id", "scene_id", "start_position", "start_rotation") if k not in d]
    if missing:
        raise EpisodeFileError(path, f"{where}: missing field(s) {missing}")
    goals = d.get("goals") or []
    if not isinstance(goals, list):
        raise EpisodeFileError(path, f"{where}.goals: expected a list, got {type(goals).__name__}")
    for j, g in enumerate(goals):
        if not isinstance(g, dict) or "position" not in g:
            raise EpisodeFileError(path, f"{where}.goals[{j}]: expected an object with a 'position'")
    goals = [{**g, "position": _vector(g["position"], 3, f"{where}.goals[{j}].position", path)}
             for j, g in enumerate(goals)]
    category = d.get("object_category")
    if not goals and category is None:
        raise EpisodeFileError(path, f"{where}: needs 'goals' (PointNav) or 'object_category' (ObjectNav)")
    rotation = _vector(d["start_rotation"], 4, f"{where}.start_rotation", path)
    if abs(np.linalg.norm(rotation) - 1.0) > 1e-3:
        raise EpisodeFileError(path, f"{where}.start_rotation: expected a unit quaternion [x, y, z, w], got {rotation}")
    return NavigationEpisode(
        episode_id=str(d["episode_id"]), scene_id=str(d["scene_id"]),
        start_position=_vector(d["start_position"], 3, f"{where}.start_position", path),
        start_rotation=rotation, goals=goals, info=dict(d.get("info") or {}),
        object_category=None if category is None else str(category),
    )


def read_episodes(path: str | Path) -> EpisodeDataset:
    """Read a habitat-lab episode file (``.json.gz`` or plain ``.json``); errors name the field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no episode file at {path}")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        doc = json.loads(raw)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EpisodeFileError(path, f"not a (gzipped) JSON episode file: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("episodes"), list):
        raise EpisodeFileError(path, "expected an object with an 'episodes' list")
    episodes = [parse_episode(d, i, path) for i, d in enumerate(doc["episodes"])]
    if not episodes:
        raise EpisodeFileError(path, "'episodes' is empty")
    goals = doc.get("goals_by_category") or {}
    if not isinstance(goals, dict):
        raise EpisodeFileError(path, "goals_by_category: expected an object")
    return EpisodeDataset(episodes, goals)


def write_episodes(path: str | Path, episodes: Sequence[NavigationEpisode] | EpisodeDataset,
                   goals_by_category: Mapping[str, list] | None = None) -> Path:
    """Write episodes as habitat-lab's ``json.gz`` (atomically; ``mtime`` 0, so equal episodes give equal bytes)."""
    if isinstance(episodes, EpisodeDataset):
        data = episodes
    else:
        data = EpisodeDataset(list(episodes), dict(goals_by_category or {}))
    raw = json.dumps(data.to_dict(), separators=(",", ":")).encode()
    path = Path(path)
    payload = gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw
    return atomic_write(path, payload)


def episode_from_env(env, episode_id: str) -> NavigationEpisode:
    """The episode an env has just been reset into (PointNav: its goal; ObjectNav: its category)."""
    from envs.pose import heading_to_quaternion

    u = env.unwrapped
    ep = NavigationEpisode(
        episode_id=str(episode_id), scene_id=u.scene.scene_id,
        start_position=[float(v) for v in u.position],
        start_rotation=[float(v) for v in heading_to_quaternion(u.heading)],
        info={"geodesic_distance": float(u.distance_to_goal)},
    )
    if hasattr(u, "goal_category"):
        ep.object_category = u.goal_category
    else:
        ep.goals = [{"position": [float(v) for v in u.goal], "radius": None}]
    return ep


def objectnav_goals(env, episodes: Sequence[NavigationEpisode]) -> dict[str, list[dict[str, Any]]]:
    """habitat-lab's ``goals_by_category`` for the scenes and categories of ``episodes``: every
    instance of the category with its centre, id and view points."""
    u = env.unwrapped
    out: dict[str, list[dict[str, Any]]] = {}
    for ep in episodes:
        key = f"{Path(ep.scene_id).name.split('.')[0]}_{ep.object_category}"
        if key in out:
            continue
        u.reset(options={"episode": ep})
        goals = []
        for o in u.scene.objects:
            if o.category != ep.object_category:
                continue
            cells = u.navgrid.goal_cells_near_object(o.box, u.view_radius)
            views = u.navgrid.grid_to_world(cells) if len(cells) else np.zeros((0, 3))
            goals.append({"position": [float(v) for v in o.box.center], "radius": None, "object_id": int(o.instance_id),
                          "object_name": f"{o.category}_{o.instance_id}", "object_category": o.category,
                          "view_points": [{"agent_state": {"position": [float(v) for v in p],
                                                           "rotation": [0.0, 0.0, 0.0, 1.0]}} for p in views]})
        out[key] = goals
    return out


def generate_episodes(env_id: str, num_episodes: int, seed: int = 0,
                      env_kwargs: Mapping[str, Any] | None = None) -> list[NavigationEpisode]:
    """``num_episodes`` episodes of ``env_id`` (PointNav or ObjectNav), episode ``i`` from ``reset(seed=seed + i)``."""
    import gymnasium as gym  # the VLM2/* ids are registered: this module is inside envs

    kw = {"sensors": ("depth",), "sim": {"resolution": (8, 8)}, **dict(env_kwargs or {})}
    env = gym.make(env_id, **kw)
    try:
        eps = []
        for i in range(num_episodes):
            env.reset(seed=seed + i)
            eps.append(episode_from_env(env, str(i)))
        return eps
    finally:
        env.close()


def generate_returnnav_episodes(num_tours: int, seed: int = 0, env_kwargs: Mapping[str, Any] | None = None,
                                age_bins: Sequence[int] | None = None) -> list[NavigationEpisode]:
    """ReturnNav episodes from ``num_tours`` tours, tour ``i`` from ``reset(seed=seed + i)``: the
    episode's own goal (id ``"<i>"``) and, with ``age_bins`` (edges in tour steps, e.g.
    ``(0, 100, 300, 1000)``), one more goal drawn from each bin the own goal's age is not in (ids
    ``"<i>-age<lo>-<hi-1>"``), so that goals last seen at every age are asked. Episodes of one tour
    share its ``info.tour_actions`` and ``info.tour_id``; ``info.seed`` records the reset seed.
    ``env_kwargs`` must render what the evaluation renders: which instances count as seen depends on
    the semantic sensor's resolution."""
    import gymnasium as gym

    env = gym.make("VLM2/ReturnNav-v0", **dict(env_kwargs or {}))
    base = env.unwrapped
    try:
        eps = []
        for i in range(num_tours):
            env.reset(seed=seed + i)
            while base.in_tour:
                env.step(0)
            own = base.to_episode(str(i))
            own.info.update(tour_id=i, seed=seed + i)
            eps.append(own)
            if not age_bins:
                continue
            rng = np.random.default_rng([seed + i, 1])
            key = (base.goal_category, base.goal_room_type)
            goals = base.reachable_goals()
            own_age = next((age for c, r, age in goals if (c, r) == key), -1)
            for lo, hi in zip(age_bins[:-1], age_bins[1:]):
                pool = [(c, r) for c, r, age in goals if lo <= age < hi and (c, r) != key]
                if pool and not lo <= own_age < hi:
                    base.restart_navigation(goal=pool[int(rng.integers(len(pool)))])
                    extra = base.to_episode(f"{i}-age{lo}-{hi - 1}")
                    extra.info.update(tour_id=i, seed=seed + i)
                    eps.append(extra)
        return eps
    finally:
        env.close()


__all__ = ["EpisodeDataset", "EpisodeFileError", "NavigationEpisode", "episode_from_env", "generate_episodes",
           "generate_returnnav_episodes", "objectnav_goals", "parse_episode", "read_episodes", "write_episodes"]
