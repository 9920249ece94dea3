"""The shared Gymnasium environment: one agent walking a scene, habitat-lab's actions and sensors.

Subclasses (``explore.py``, ``pointnav.py``, ``objectnav.py``, ``returnnav.py``) add the task: goal
sampling, the task's observations, reward, termination and ``info`` measures.

## Action Space

``Discrete(4)``, habitat-lab's ids (:class:`envs.agent.Action`):

| id | action | effect |
|---|---|---|
| 0 | ``stop`` | ends the episode (``terminated``); the task judges success |
| 1 | ``move_forward`` | 0.25 m ahead, unless blocked by a wall or furniture |
| 2 | ``turn_left`` | 10 degrees counter-clockwise seen from above |
| 3 | ``turn_right`` | 10 degrees clockwise |

## Observation Space

A ``Dict`` of the sensors named in ``sensors`` plus the task's keys. The default is habitat-lab's
PointNav-v1 set, ``rgb`` and ``depth`` (with the task's goal sensor); ``semantic`` and ``pose`` are
ground truth that a policy should not see by accident, so they are opt-in:

| key | space | meaning |
|---|---|---|
| ``rgb`` | ``Box(0, 255, (H, W, 3), uint8)`` | colour camera, 1.25 m above the floor |
| ``depth`` | ``Box(0, far, (H, W, 1), float32)`` | z-depth in metres |
| ``semantic`` | ``Box(0, 2**31 - 1, (H, W), int32)`` | object instance id per pixel (0: none) |
| ``pose`` | ``Box((4,), float32)`` | ``[x, y_floor, z, heading]`` in the world frame (``envs.pose``) |

## Episode End

Termination: ``stop``. Truncation: ``max_episode_steps`` steps (``EnvConfig``; no ``TimeLimit``
wrapper is added by ``gym.make``). ``gym.make(id, max_episode_steps=N)`` is gymnasium's own keyword:
it adds gymnasium's ``TimeLimit(N)`` on top and never reaches the env, whose own limit stays; to
change the env's limit pass ``config={"max_episode_steps": N}``.

## Arguments

``gym.make(id, split="train", num_scenes=8, scene_seeds=None, dataset_path=None, sensors=("rgb", "depth"),
config={"max_episode_steps": ...}, sim={"resolution": (H, W), "hfov": 90, ...})``: the fields of
:class:`envs.gym.config.EnvConfig` plus the task's options. A reset with a seed draws the scene and
the start pose from the episode's RNG, so the same seed gives the same episode.

Example:
    >>> import gymnasium as gym, envs
    >>> env = gym.make("VLM2/Explore-v0", sensors=("rgb", "pose"), sim={"resolution": (64, 64)})
    >>> obs, info = env.reset(seed=0)
    >>> obs["rgb"].shape, obs["pose"].shape
    ((64, 64, 3), (4,))
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.action_id("move_forward"))
    >>> env.close()
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.agent import ACTIONS, MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT  # noqa: F401  (re-exported)
from envs.gym.config import EnvConfig
from envs.gym.scenes_cache import SceneSource, SceneWorld, WorldCache


class VLM2NavEnv(gym.Env):
    """Base class. ``config`` is an :class:`EnvConfig` or a mapping of its fields; keyword arguments
    override single fields (what ``gym.make(id, **kwargs)`` passes). ``scenes``: an in-memory pool of
    :class:`scenes.types.Scene` objects that replaces the config's scene source."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: EnvConfig | Mapping[str, Any] | None = None, render_mode: str | None = None,
                 scenes: list | None = None, **kwargs):
        if isinstance(config, EnvConfig):
            import dataclasses

            config = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        self.config = EnvConfig.from_mapping(config, **kwargs)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.sim_config = self.config.sim_config()
        self.source = SceneSource(self.config, scenes)
        self._worlds = WorldCache(self.source, self.sim_config, self.config.cache_capacity(len(self.source.keys())))
        self.world: SceneWorld | None = None
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = spaces.Dict({**self._sensor_spaces(), **self._task_spaces()})
        self.position = np.zeros(3)
        self.heading = 0.0
        self.collided = False
        self.elapsed_steps = 0
        self.episode = None  # the envs.datasets.NavigationEpisode being played, if any
        self._episode_cursor = 0
        self._sim_obs: dict[str, np.ndarray] = {}

    # ----- spaces --------------------------------------------------------------------------------
    def _sensor_spaces(self) -> dict[str, spaces.Space]:
        out: dict[str, spaces.Space] = {}
        for spec in self.sim_config.sensors:
            if spec.uuid not in self.config.sensors and spec.type not in self.config.sensors:
                continue
            h, w = spec.resolution
            if spec.type == "rgb":
                out[spec.uuid] = spaces.Box(0, 255, (h, w, 3), np.uint8)
            elif spec.type == "depth":
                out[spec.uuid] = spaces.Box(0.0, float(self.sim_config.far), (h, w, 1), np.float32)
            else:
                out[spec.uuid] = spaces.Box(0, np.iinfo(np.int32).max, (h, w), np.int32)
        if "pose" in self.config.sensors:
            hi = np.array([1e4, 1e4, 1e4, np.pi], np.float32)
            out["pose"] = spaces.Box(-hi, hi, (4,), np.float32)
        return out

    def _task_spaces(self) -> dict[str, spaces.Space]:
        """Observation entries the task adds (goal sensors)."""
        return {}

    # ----- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options``: ``scene`` (seed, dataset scene id or file path),
        ``position`` + ``heading`` (start pose; else sampled on the largest floor component), or
        ``episode``, a habitat-lab episode (:mod:`envs.datasets`) that sets all of them and the goal.
        With ``episodes_path`` set, a reset without options plays the file's next episode."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"scene", "position", "heading", "episode", *self._task_options()}
        if unknown:
            raise ValueError(f"reset options: unknown keys {sorted(unknown)}")
        if not options and self.source.episodes:
            options["episode"] = self.source.episodes[self._episode_cursor % len(self.source.episodes)]
            self._episode_cursor += 1
        self.episode = None
        if "episode" in options:
            options = self._episode_options(options.pop("episode"), options)
        keys = self.source.keys()
        if "scene" in options:
            key = self.source.key_for(options["scene"])
        else:
            key = keys[int(self.np_random.integers(len(keys)))]
        self.world = self._worlds.get(key)
        if "position" in options:
            self.position = self._place(np.asarray(options["position"], float))
            self.heading = float(options.get("heading", 0.0))
        else:
            self.position = self._sample_start()
            self.heading = float(self.np_random.uniform(-np.pi, np.pi))
        self.elapsed_steps = 0
        self.collided = False
        self._reset_task(options)
        self._render_sensors()
        return self._observation(), self._info()

    def _episode_options(self, episode, options: dict[str, Any]) -> dict[str, Any]:
        """Reset options for a habitat-lab episode (:class:`envs.datasets.NavigationEpisode` or its dict)."""
        from envs.datasets import NavigationEpisode, parse_episode
        from envs.pose import quaternion_to_heading

        if options:
            raise ValueError(f"reset options: 'episode' sets the scene and pose; drop {sorted(options)}")
        if not isinstance(episode, NavigationEpisode):
            episode = parse_episode(episode, 0, "reset(options={'episode': ...})")
        self.episode = episode
        return {"scene": episode.scene_id, "position": episode.start_position,
                "heading": quaternion_to_heading(episode.start_rotation), **self._episode_task_options(episode)}

    def _episode_task_options(self, episode) -> dict[str, Any]:
        """The task's reset options for an episode's goal (PointNav: ``goal``; ObjectNav: ``goal_category``)."""
        return {}

    def step(self, action):
        if self.world is None:
            raise RuntimeError("step() called before reset()")
        a = self._check_action(action)
        self.elapsed_steps += 1
        if a != STOP:
            self._move(a)
            self._render_sensors()
        reward, terminated = self._task_step(a)
        truncated = not terminated and self._steps_toward_limit() >= self.config.max_episode_steps
        return self._observation(), float(reward), bool(terminated), bool(truncated), self._info()

    def _steps_toward_limit(self) -> int:
        """The steps that ``max_episode_steps`` bounds: all of them here (a task with a scripted
        phase, like ReturnNav's tour, counts only the agent's own)."""
        return self.elapsed_steps

    def render(self):
        if self.render_mode == "rgb_array":
            for spec in self.sim_config.sensors:
                if spec.type == "rgb":
                    return self._sim_obs[spec.uuid].copy()
            raise ValueError("render_mode='rgb_array' needs an rgb sensor in the simulator config")
        return None

    def close(self):
        self._worlds.close()
        self.world = None

    # ----- helpers for tasks, wrappers, experts --------------------------------------------------
    @staticmethod
    def action_id(name: str) -> int:
        """The integer for an action name (``"stop"``, ``"move_forward"``, ``"turn_left"``, ``"turn_right"``)."""
        try:
            return ACTIONS.index(name)
        except ValueError:
            raise ValueError(f"unknown action {name!r}, expected one of {ACTIONS}") from None

    @property
    def scene(self):
        return self._require_world().scene

    @property
    def navgrid(self):
        return self._require_world().navgrid

    @property
    def sim(self):
        return self._require_world().sim

    def sensor_observations(self) -> dict[str, np.ndarray]:
        """The latest raw simulator output (every configured sensor, whatever ``sensors`` exposes)."""
        return self._sim_obs

    def camera_to_world(self, sensor: str | None = None) -> np.ndarray:
        """4x4 camera-to-world matrix of ``sensor`` (default: the first one) at the current pose."""
        from envs import pose

        spec = self.sim_config.sensor(sensor) if sensor else self.sim_config.sensors[0]
        return pose.camera_to_world(self.position, self.heading, spec.position)

    def _require_world(self) -> SceneWorld:
        if self.world is None:
            raise RuntimeError("no scene yet: call reset() first")
        return self.world

    def _check_action(self, action) -> int:
        if isinstance(action, (str, bytes)):
            raise ValueError(f"invalid action {action!r}: expected an int in [0, {len(ACTIONS)}), see ACTIONS")
        try:
            a = int(np.asarray(action).item())
            exact = np.asarray(action).item() == a
        except (TypeError, ValueError):
            exact = False
        if not exact or not 0 <= a < len(ACTIONS):
            raise ValueError(f"invalid action {action!r}: expected an int in [0, {len(ACTIONS)}) = {ACTIONS}")
        return a

    def _observation(self) -> dict[str, np.ndarray]:
        from envs.pose import pose_vector

        obs: dict[str, np.ndarray] = {}
        for key, space in self.observation_space.spaces.items():
            if key == "pose":
                obs[key] = pose_vector(self.position, self.heading)
            elif key in self._sim_obs:
                # a fresh array every call: stop does not re-render, and users keep what they get
                obs[key] = np.array(self._sim_obs[key], space.dtype).reshape(space.shape)
        obs.update(self._task_observation())
        return obs

    def _info(self) -> dict[str, Any]:
        return {
            "scene_id": self.scene.scene_id,
            "position": self.position.copy(),
            "heading": float(self.heading),
            "collided": bool(self.collided),
            **self._task_info(),
        }

    # ----- kinematics, sampling, geodesics (envs.agent / envs.navigation / envs.oracle) ---------
    def _kinematics(self):
        from envs.agent import AgentKinematics

        world = self._require_world()
        kin = world.cache.get("kinematics")
        if kin is None:
            kin = world.cache["kinematics"] = AgentKinematics(world.navgrid)
        return kin

    def _turn_deg(self) -> float:
        return float(self._kinematics().turn_angle)

    def _simulate(self, position: np.ndarray, heading: float, action: int) -> tuple[np.ndarray, float, bool]:
        """One action from a pose, without rendering: (position, heading, collided)."""
        from envs.agent import AgentState

        result = self._kinematics().step(AgentState(position, heading), int(action))
        return result.state.position, float(result.state.heading), bool(result.collided)

    def _move(self, action: int) -> None:
        self.position, self.heading, self.collided = self._simulate(self.position, self.heading, action)

    def _sample_navigable(self) -> np.ndarray:
        return self.navgrid.sample_navigable_point(self.np_random)

    def _sample_start(self) -> np.ndarray:
        return self._sample_navigable()

    def _snap(self, point: np.ndarray) -> np.ndarray:
        """The nearest point on the largest navigable component to ``point`` (x, y, z)."""
        from scipy.spatial import cKDTree

        world = self._require_world()
        p = np.asarray(point, float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"expected a point (x, y, z) of 3 finite numbers, got {point!r}")
        tree = world.cache.get("snap_tree")
        if tree is None:
            cells = np.argwhere(world.navgrid.largest_component)
            if len(cells) == 0:
                raise RuntimeError(f"scene {world.scene.scene_id}: the navigation grid has no navigable cell")
            tree = world.cache["snap_tree"] = cKDTree(world.navgrid.grid_to_world(cells)[:, [0, 2]])
        _, i = tree.query(p[[0, 2]])
        xz = tree.data[i]
        return np.array([xz[0], world.navgrid.floor_height, xz[1]])

    def _place(self, point: np.ndarray) -> np.ndarray:
        """A start or goal a caller gave: ``point`` itself at floor height when it lies on the largest
        navigable component (so an episode file's positions replay exactly), else :meth:`_snap`."""
        p = np.asarray(point, float)
        grid = self._require_world().navgrid
        if p.shape == (3,) and np.all(np.isfinite(p)):
            r, c = grid.world_to_grid(p[None])[0]
            if 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1] and grid.largest_component[r, c]:
                return np.array([p[0], grid.floor_height, p[2]])
        return self._snap(p)

    def snap_to_navigable(self, point: np.ndarray) -> np.ndarray:
        """The nearest point of the largest navigable component to ``point`` (habitat's ``snap_point``)."""
        return self._snap(point)

    def shortest_path_action(self, goal: np.ndarray, success_distance: float = 0.2) -> int:
        """The shortest-path follower's next action from the current pose toward the world point
        ``goal`` (``stop`` once within ``success_distance``), e.g. to reach an estimated goal."""
        from envs.agent import AgentState

        key = (tuple(np.round(np.asarray(goal, float), 6)), float(success_distance), id(self.world))
        cached = getattr(self, "_goal_follower", None)
        if cached is None or cached[0] != key:
            cached = self._goal_follower = (key, self._follower(goal=np.asarray(goal, float), success_distance=success_distance))
        return int(cached[1].get_next_action(AgentState(self.position, self.heading)))

    def _geodesic(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.navgrid.geodesic_distance(a, b))

    def _follower(self, goal: np.ndarray | None = None, goal_cells: np.ndarray | None = None,
                  success_distance: float = 0.2):
        from envs.oracle import ShortestPathFollower

        return ShortestPathFollower(self.navgrid, self._kinematics(), goal=goal, goal_cells=goal_cells,
                                    success_distance=success_distance)

    def _follow(self, position: np.ndarray, heading: float, target: np.ndarray) -> list[int]:
        """Dry-run the follower from a pose to ``target``: the actions, without the final stop."""
        from envs.agent import AgentState

        follower = self._follower(goal=target)
        d0 = follower.distance(position)
        if not np.isfinite(d0):
            return []
        limit = int(4 * d0 / self._kinematics().forward_step_size) + 80  # guards against dithering
        actions: list[int] = []
        pos, head = np.asarray(position, float), float(heading)
        while len(actions) < limit:
            a = int(follower.get_next_action(AgentState(pos, head)))
            if a == STOP:
                break
            pos, head, _ = self._simulate(pos, head, a)
            actions.append(a)
        return actions

    def _render_sensors(self) -> None:
        sim = self.sim
        sim.set_agent_state(self.position, self.heading)
        self._sim_obs = sim.get_observations()

    # ----- task hooks ----------------------------------------------------------------------------
    def _task_options(self) -> tuple[str, ...]:
        return ()

    def _reset_task(self, options: dict[str, Any]) -> None:
        pass

    def _task_step(self, action: int) -> tuple[float, bool]:
        return 0.0, action == STOP

    def _task_observation(self) -> dict[str, np.ndarray]:
        return {}

    def _task_info(self) -> dict[str, Any]:
        return {}
