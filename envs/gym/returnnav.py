"""``VLM2/ReturnNav-v0``: follow an expert tour, then go back to an object seen long before.

## Action Space

``Discrete(4)``: ``stop``, ``move_forward``, ``turn_left``, ``turn_right`` (:mod:`envs.gym.base`).
During the tour the action passed to ``step`` is ignored and replaced by the expert's.

## Observation Space

The sensors of :mod:`envs.gym.base` plus

| key | space | meaning |
|---|---|---|
| ``objectgoal`` | ``Box(0, C - 1, (1,), int64)`` | goal category, index into ``categories`` (0 during the tour) |
| ``roomgoal`` | ``Box(0, R - 1, (1,), int64)`` | goal room type, index into ``room_types`` (0 during the tour) |
| ``gps``, ``compass`` | as ObjectNav's | relative to the *tour's* start pose (the frame VLM2's oracle geometry uses) |
| ``tour`` | ``Box(0, 1, (1,), float32)`` | 1.0 during the tour |

## Phases

Tour: the exploration expert (``envs.expert.plan_tour``) walks ``tour`` steps through the scene;
reward is 0. Every frame's semantic pixel counts record which object instances were seen.
Navigation: the goal is a (category, room type) pair of an instance seen during the tour with at
least ``min_pixels`` pixels in some frame (any visible instance if none is that large) ("go to the
armchair you saw in the bedroom"), preferring instances last seen in the first half of the tour;
its view points are those of every instance of that category in a room of that type.

Episode files: habitat-lab's ``json.gz`` (:mod:`envs.datasets`), one episode per (tour, goal):
``object_category`` and ``info.room_type`` name the goal, ``info.tour_actions`` the tour, which is
replayed as it is (``to_episode`` writes an episode after its tour; ``restart_navigation(goal=)``
asks another goal of the same tour).

## Rewards and Episode End

ObjectNav's (``success_distance`` 0.1 m to a view point, ``spl``, ``soft_spl``), counted from the
tour's end; ``max_episode_steps`` bounds the navigation phase only.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/ReturnNav-v0", tour=60, sensors=("rgb",), sim={"resolution": (32, 32)})
    >>> obs, info = env.reset(seed=0)
    >>> while env.unwrapped.in_tour:
    ...     obs, r, term, trunc, info = env.step(0)
    >>> info["goal_category"] in env.unwrapped.categories, obs["tour"].item()
    (True, 0.0)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.gym.config import EnvConfig
from envs.gym.objectnav import ObjectNavEnv
from envs.pose import wrap_angle


def default_room_types() -> tuple[str, ...]:
    """The scene catalogue's room types, in its fixed order (the ``roomgoal`` index space)."""
    from scenes.catalog import ROOM_TYPES

    return tuple(ROOM_TYPES)


def _with_semantic(config, kwargs: dict) -> EnvConfig:
    """The env config with a semantic sensor rendered (not necessarily observed)."""
    from envs.config import SENSOR_TYPES

    if isinstance(config, EnvConfig):
        config = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    cfg = EnvConfig.from_mapping(config, **kwargs)
    sim = dict(cfg.sim)
    if sim.get("sensors") is None:
        types = tuple(sim.get("sensor_types") or (s for s in cfg.sensors if s in SENSOR_TYPES)) or ("rgb",)
        if "semantic" not in types:
            sim["sensor_types"] = (*types, "semantic")
    cfg.sim = sim
    cfg.validate()
    return cfg


class ReturnNavEnv(ObjectNavEnv):
    """ReturnNav. Extra arguments: ``tour`` (expert steps before the question), ``min_pixels``
    (pixels an instance must cover in one frame to count as seen), ``min_goal_distance`` (metres;
    goals nearer to the tour's end are avoided when others exist), ``room_types``, and ObjectNav's
    ``categories``, ``success_distance``, ``view_radius``."""

    def __init__(self, config=None, render_mode=None, tour: int = 300, min_pixels: int = 20,
                 min_goal_distance: float = 1.0, room_types: tuple[str, ...] | None = None, **kwargs):
        if not isinstance(tour, (int, np.integer)) or isinstance(tour, bool) or tour < 0:
            raise ValueError(f"tour: expected a number of steps >= 0, got {tour!r}")
        if not isinstance(min_pixels, (int, np.integer)) or min_pixels < 1:
            raise ValueError(f"min_pixels: expected an int >= 1, got {min_pixels!r}")
        task_keys = ("categories", "success_distance", "view_radius")
        task_kwargs = {k: kwargs.pop(k) for k in task_keys if k in kwargs}
        cfg = _with_semantic(config, kwargs)
        self.tour_budget = int(tour)
        self.min_pixels = int(min_pixels)
        self.min_goal_distance = float(min_goal_distance)
        self.room_types = tuple(room_types) if room_types is not None else default_room_types()
        self.tour: list[int] = []
        self.tour_step = 0
        self.nav_steps = 0
        self.in_tour = False
        self.seen: dict[int, list[int]] = {}  # instance id -> [first step, last step, max pixels]
        self.goal_room_type = ""
        self.goal_instances: tuple[int, ...] = ()
        self.tour_end_pose: tuple[np.ndarray, float] | None = None
        self._asked_goal: tuple[str, str] | None = None
        self.measures = None
        super().__init__(cfg, render_mode, **task_kwargs)
        self._semantic_uuid = next(s.uuid for s in self.sim_config.sensors if s.type == "semantic")

    # ----- spaces and observations ---------------------------------------------------------------
    def _task_spaces(self) -> dict[str, spaces.Space]:
        return {**super()._task_spaces(),
                "roomgoal": spaces.Box(0, len(self.room_types) - 1, (1,), np.int64),
                "tour": spaces.Box(0.0, 1.0, (1,), np.float32)}

    def _task_observation(self) -> dict[str, np.ndarray]:
        gps = self.to_start_frame(self.position)[0].astype(np.float32)  # ObjectNav's gps frame, from the tour's start
        obs = {"gps": gps, "compass": np.array([wrap_angle(self.heading - self.start_heading)], np.float32)}
        cat = self.categories.index(self.goal_category) if self.goal_category else 0
        room = self.room_types.index(self.goal_room_type) if self.goal_room_type else 0
        return {**obs, "objectgoal": np.array([cat], np.int64), "roomgoal": np.array([room], np.int64),
                "tour": np.array([1.0 if self.in_tour else 0.0], np.float32)}

    def to_start_frame(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) or (3,) world points -> (N, 2) ``[forward, right]`` metres in the frame of the tour's
        start pose: the frame of ``gps`` (and of VLM2's oracle geometry, whose first frame it is)."""
        d = np.atleast_2d(np.asarray(points, float)) - self.start_position
        h = self.start_heading
        return np.stack([-np.sin(h) * d[:, 0] - np.cos(h) * d[:, 2], np.cos(h) * d[:, 0] - np.sin(h) * d[:, 2]], axis=1)

    def from_start_frame(self, xy: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_start_frame` on the floor: (2,) ``[forward, right]`` -> (3,) world point."""
        h, (f, r) = self.start_heading, np.asarray(xy, float)
        dx, dz = -np.sin(h) * f + np.cos(h) * r, -np.cos(h) * f - np.sin(h) * r
        return np.array([self.start_position[0] + dx, self.start_position[1], self.start_position[2] + dz])

    def _task_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"in_tour": self.in_tour, "tour_step": self.tour_step, "nav_steps": self.nav_steps,
                                "goal_category": self.goal_category, "goal_room_type": self.goal_room_type}
        if not self.in_tour and self.measures is not None:
            info.update(self._measures())
            info["goal_instances"] = self.goal_instances
            info["goal_last_seen"] = max(self.seen[i][1] for i in self.goal_instances if i in self.seen)
        return info

    # ----- episode -------------------------------------------------------------------------------
    def _task_options(self) -> tuple[str, ...]:
        return ("tour_actions", "goal")

    def _episode_task_options(self, episode) -> dict[str, Any]:
        """A ReturnNav episode of a file: ``object_category`` and ``info.room_type`` (the goal) and
        ``info.tour_actions`` (the tour, replayed as it is; see :meth:`to_episode`)."""
        where = f"episode {episode.episode_id!r}"
        if episode.object_category is None:
            raise ValueError(f"{where}: a ReturnNav episode needs object_category")
        for key in ("room_type", "tour_actions"):
            if key not in episode.info:
                raise ValueError(f"{where}: a ReturnNav episode needs info.{key}")
        return {"tour_actions": episode.info["tour_actions"],
                "goal": (episode.object_category, str(episode.info["room_type"]))}

    def to_episode(self, episode_id: str):
        """This episode (after its tour) as a habitat-lab episode that :meth:`reset` replays: the
        start pose, the goal (``object_category``, ``info.room_type``), the tour's actions
        (``info.tour_actions``), the goal's age (``info.goal_age``: tour steps since it was last seen)
        and ``info.geodesic_distance`` from the tour's end."""
        from envs.datasets import NavigationEpisode
        from envs.pose import heading_to_quaternion

        if self.in_tour or self.measures is None:
            raise RuntimeError("ReturnNavEnv.to_episode: only after the tour of a reset episode has ended")
        last = max(self.seen[i][1] for i in self.goal_instances if i in self.seen)
        distance = float(self._distance_to_goal_at(self.tour_end_pose[0]))
        return NavigationEpisode(
            episode_id=str(episode_id), scene_id=self.scene.scene_id,
            start_position=[float(v) for v in self.start_position],
            start_rotation=[float(v) for v in heading_to_quaternion(self.start_heading)],
            object_category=self.goal_category,
            info={"room_type": self.goal_room_type, "tour_actions": [int(a) for a in self.tour],
                  "goal_age": len(self.tour) - int(last), "geodesic_distance": distance})

    def _reset_task(self, options: dict[str, Any]) -> None:
        from envs.expert import plan_tour

        self.start_position = self.position.copy()
        self.start_heading = self.heading
        self.goal_category, self.goal_room_type, self.goal_instances = "", "", ()
        self.measures = None
        self.seen = {}
        self.tour_step = self.nav_steps = 0
        self._asked_goal = None if options.get("goal") is None else tuple(options["goal"])
        if self._asked_goal is not None and len(self._asked_goal) != 2:
            raise ValueError(f"reset options: goal must be (category, room type), got {options['goal']!r}")
        if "tour_actions" in options:
            tour = [int(a) for a in options["tour_actions"]]
            if any(a not in (1, 2, 3) for a in tour):
                raise ValueError("reset options: tour_actions must be move_forward / turn_left / turn_right "
                                 f"(1, 2, 3), got {sorted(set(tour) - {1, 2, 3})}")
            self.tour = tour
        else:
            self.tour = []
            if self.tour_budget:
                self.tour = plan_tour(self, self.tour_budget, rng=np.random.default_rng(self.np_random.integers(2**63)))
        self.in_tour = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._count_visible()
        if not self.tour:
            self._begin_navigation()
        return self._observation(), self._info()

    def step(self, action):
        if self.world is None or not self.in_tour:
            if self.world is not None:
                self._check_action(action)  # an invalid action must not count as a navigation step
                self.nav_steps += 1
            return super().step(action)
        self._check_action(action)
        self.elapsed_steps += 1
        self._move(int(self.tour[self.tour_step]))
        self.tour_step += 1
        self._render_sensors()
        self._count_visible()
        if self.tour_step >= len(self.tour):
            self._begin_navigation()
        return self._observation(), 0.0, False, False, self._info()

    def _steps_toward_limit(self) -> int:
        return self.nav_steps  # max_episode_steps bounds the navigation phase only

    def _count_visible(self) -> None:
        ids, counts = np.unique(np.asarray(self._sim_obs[self._semantic_uuid]).ravel(), return_counts=True)
        t = self.tour_step
        for i, c in zip(ids.tolist(), counts.tolist()):
            if i < 1:
                continue
            rec = self.seen.get(i)
            if rec is None:
                self.seen[i] = [t, t, c]
            else:
                rec[1], rec[2] = t, max(rec[2], c)

    # ----- goal ----------------------------------------------------------------------------------
    def goal_candidates(self, min_pixels: int | None = None) -> dict[tuple[str, str], list[int]]:
        """(category, room type) -> instance ids seen with >= ``min_pixels`` (default: the env's) pixels
        in one frame of the tour."""
        min_pixels = self.min_pixels if min_pixels is None else min_pixels
        rooms = {r.room_id: r.room_type for r in self.scene.rooms}
        out: dict[tuple[str, str], list[int]] = {}
        for o in self.scene.objects:
            rec = self.seen.get(int(o.instance_id))
            if rec is None or rec[2] < min_pixels or o.category not in self.categories:
                continue
            rt = rooms.get(o.room_id)
            if rt in self.room_types:
                out.setdefault((o.category, rt), []).append(int(o.instance_id))
        return out

    def _begin_navigation(self) -> None:
        self.in_tour = False
        if self._asked_goal is not None:  # an episode file's goal
            self._set_goal(self._asked_goal, "the episode's goal")
            self.tour_end_pose = (self.position.copy(), float(self.heading))
            self._start_measures()
            return
        scored = self._score(self.goal_candidates()) or self._score(self.goal_candidates(min_pixels=1))
        if not scored:
            raise RuntimeError(f"scene {self.scene.scene_id}: no object seen during the {len(self.tour)}-step tour "
                               "is reachable; use a longer tour")
        half = max(len(self.tour), 1) / 2
        for keep in (lambda s: s[2] >= self.min_goal_distance and s[3] < half,
                     lambda s: s[2] >= self.min_goal_distance, lambda s: True):
            pool = [s for s in scored if keep(s)]
            if pool:
                break
        cat, rt, _, _ = pool[int(self.np_random.integers(len(pool)))]
        self.goal_category, self.goal_room_type = cat, rt
        self.goal_instances = tuple(self.instances(cat, rt))
        self.tour_end_pose = (self.position.copy(), float(self.heading))
        self._start_measures()

    def restart_navigation(self, goal: tuple[str, str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Put the agent back where the tour ended and restart the navigation phase (measures, step
        count): several navigators can then be compared on one tour without replaying it.
        ``goal``: a ``(category, room type)`` key of :meth:`goal_candidates` to ask for instead (e.g.
        goals last seen at other ages); the episode keeps it until the next reset or restart.
        Returns ``(observation, info)`` like ``reset``."""
        if self.world is None or self.in_tour or self.measures is None:
            raise RuntimeError("restart_navigation: only after the tour of a reset episode has ended")
        if goal is not None:
            self._set_goal(goal, "restart_navigation: goal")
        self.position, self.heading = self.tour_end_pose[0].copy(), self.tour_end_pose[1]
        self.collided = False
        self.nav_steps = 0
        self._render_sensors()
        self._start_measures()
        return self._observation(), self._info()

    def reachable_goals(self) -> list[tuple[str, str, int]]:
        """(category, room type, age) of every goal the tour just finished could ask for (seen with
        ``min_pixels``, reachable, not already within success distance), sorted; ``age``: tour steps
        since an instance of it was last seen."""
        return [(cat, rt, len(self.tour) - last) for cat, rt, _, last in self._score(self.goal_candidates())]

    def _set_goal(self, goal: tuple[str, str], what: str) -> None:
        cands = self.goal_candidates(min_pixels=1)
        goal = tuple(goal)
        if goal not in cands:
            raise ValueError(f"{what} {goal!r} was not seen in this tour; expected one of {sorted(cands)}")
        self.goal_category, self.goal_room_type = goal
        self.goal_instances = tuple(self.instances(*goal))

    def _score(self, cands: dict[tuple[str, str], list[int]]) -> list[tuple[str, str, float, int]]:
        """(category, room type, geodesic distance, last seen step) of the reachable candidates."""
        scored = []
        for (cat, rt), seen_ids in sorted(cands.items()):
            d = float(self.navgrid.geodesic_distance_to_cells(self.position, self._goal_cells_for(cat, rt)))
            if np.isfinite(d) and d > self.success_distance:
                last = max(self.seen[i][1] for i in seen_ids)
                scored.append((cat, rt, d, last))
        return scored

    def instances(self, category: str, room_type: str) -> list[int]:
        """Instance ids of every ``category`` object in a room of ``room_type``: the goal's instances."""
        rooms = {r.room_id: r.room_type for r in self.scene.rooms}
        return [int(o.instance_id) for o in self.scene.objects
                if o.category == category and rooms.get(o.room_id) == room_type]

    def _goal_cells_for(self, category: str, room_type: str) -> np.ndarray:
        key = ("returnnav_goal", category, room_type, self.view_radius)
        cells = self.world.cache.get(key)
        if cells is None:
            rooms = {r.room_id: r.room_type for r in self.scene.rooms}
            per_obj = [self.navgrid.goal_cells_near_object(o.box, self.view_radius) for o in self.scene.objects
                       if o.category == category and rooms.get(o.room_id) == room_type]
            cells = np.unique(np.concatenate(per_obj), axis=0) if per_obj else np.zeros((0, 2), np.int64)
            self.world.cache[key] = cells
        return cells

    def _distance_to_goal_at(self, position: np.ndarray) -> float:
        return float(self.navgrid.geodesic_distance_to_cells(position, self._goal_cells_for(
            self.goal_category, self.goal_room_type)))

    def oracle_action(self) -> int:
        """The shortest-path follower's action to the goal's nearest view point (the expert's during the tour)."""
        from envs.agent import AgentState

        if self.in_tour:
            return int(self.tour[self.tour_step])
        follower = self._follower(goal_cells=self._goal_cells_for(self.goal_category, self.goal_room_type),
                                  success_distance=self.success_distance)
        return int(follower.get_next_action(AgentState(self.position, self.heading)))


__all__ = ["ReturnNavEnv", "default_room_types"]
