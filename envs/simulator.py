"""The simulator: one scene, one agent (floor position + yaw heading), several camera sensors.

Movement (``step``, collisions, geodesic distances) lives in ``envs.navigation`` / ``envs.agent``;
this class only holds the agent state and renders it. A navigator can be passed in and is kept as
``Simulator.navigator`` for those layers to use.

Example:
    >>> import numpy as np
    >>> from scenes.types import MeshPart, Scene
    >>> floor = MeshPart("floor", np.array([[-5, 0, -5], [5, 0, -5], [5, 0, 5], [-5, 0, 5]], np.float32),
    ...                  np.array([[0, 1, 2], [0, 2, 3]], np.uint32))
    >>> with Simulator(Scene("demo", [floor]), SimulatorConfig(resolution=(64, 64))) as sim:
    ...     sim.set_agent_state([0.0, 0.0, 0.0], heading=0.0)
    ...     obs = sim.get_observations()
    >>> sorted(obs), obs["rgb"].shape, obs["pose"].tolist()
    (['depth', 'pose', 'rgb', 'semantic'], (64, 64, 3), [0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs import pose as P
from envs.config import SensorSpec, SimulatorConfig
from envs.render.base import RenderBackend
from envs.render.camera import intrinsics as _intrinsics
from scenes.types import Scene


@dataclass(frozen=True)
class AgentState:
    """Agent pose: ``position`` on the floor (x, y_floor, z) and ``heading`` (yaw about +Y, radians)."""

    position: np.ndarray
    heading: float

    @property
    def rotation(self) -> np.ndarray:
        """The heading as habitat's ``[x, y, z, w]`` quaternion."""
        return P.heading_to_quaternion(self.heading)


SMALL_IMAGE_PIXELS = 128 * 128


def sensors_by_mount(sensors: Sequence[SensorSpec]) -> dict[tuple[float, float, float], list[SensorSpec]]:
    """The sensors grouped by mount point (position on the agent), in their order: one camera
    pose per group."""
    groups: dict[tuple[float, float, float], list[SensorSpec]] = {}
    for s in sensors:
        groups.setdefault(s.position, []).append(s)
    return groups


def make_backend(scene: Scene, config: SimulatorConfig) -> RenderBackend:
    """The render backend named by ``config.backend``."""
    if config.backend == "gl":
        from envs.render.gl_backend import GLBackend

        if max(s.height * s.width for s in config.sensors) <= SMALL_IMAGE_PIXELS:
            # llvmpipe's worker threads cost more than they save on small images (experiments/
            # bench_env.py, bench_sb3.py): render in the calling thread unless the user chose.
            # Mesa reads the variable once, at the process's first context; GPU drivers ignore it.
            os.environ.setdefault("LP_NUM_THREADS", "0")
        return GLBackend(scene, near=config.near, far=config.far, device_index=config.egl_device)
    if config.backend == "habitat":
        from envs.render.habitat_backend import HabitatBackend

        return HabitatBackend(scene, config)
    raise ValueError(f"unknown backend {config.backend!r}")  # config validation makes this unreachable


class Simulator:
    """Render ``scene`` from the agent's sensors.

    Observations: one entry per sensor uuid (see :mod:`envs.render.base` for dtypes and shapes) plus
    ``pose``, :func:`envs.pose.pose_vector` of the agent state.
    """

    def __init__(
        self,
        scene: Scene,
        config: SimulatorConfig | None = None,
        navigator: Any | None = None,
        backend: RenderBackend | None = None,
    ):
        self.scene = scene
        self.config = config or SimulatorConfig()
        self.navigator = navigator
        self.backend = backend if backend is not None else make_backend(scene, self.config)
        self._state = AgentState(np.zeros(3), 0.0)
        self._groups = sensors_by_mount(self.config.sensors or ())

    @property
    def sensors(self) -> tuple[SensorSpec, ...]:
        return tuple(self.config.sensors or ())

    @property
    def agent_state(self) -> AgentState:
        return self._state

    def set_agent_state(self, position: Sequence[float] | np.ndarray, heading: float) -> None:
        """Place the agent (no collision check: that is the navigator's job)."""
        if not (isinstance(heading, (int, float, np.floating, np.integer)) and np.isfinite(heading)):
            raise ValueError(f"heading must be a finite number of radians, got {heading!r}")
        pos = np.asarray(position, float)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"position must be 3 finite numbers (x, y_floor, z), got {position!r}")
        pos = pos.copy()
        pos.setflags(write=False)  # AgentState is a value: edit it through set_agent_state only
        self._state = AgentState(pos, P.wrap_angle(float(heading)))

    def camera_to_world(self, sensor: str | SensorSpec) -> np.ndarray:
        """4x4 camera-to-world matrix (OpenGL camera) of ``sensor`` (uuid or spec) at the current state."""
        spec = self._spec(sensor)
        return P.camera_to_world(self._state.position, self._state.heading, spec.position)

    def intrinsics(self, sensor: str | SensorSpec) -> np.ndarray:
        """3x3 ``K`` of ``sensor``; see :mod:`envs.render.camera` for the pixel convention."""
        spec = self._spec(sensor)
        return _intrinsics(spec.hfov, spec.width, spec.height)

    def get_observations(self) -> dict[str, np.ndarray]:
        """Render every sensor at the current agent state (sensors sharing a mount render together)."""
        obs: dict[str, np.ndarray] = {}
        render_agent = getattr(self.backend, "render_agent", None)
        if render_agent is not None:  # a backend that renders every mount point in one pass
            obs.update(render_agent(self._state.position, self._state.heading))
        else:
            for position, group in self._groups.items():
                c2w = P.camera_to_world(self._state.position, self._state.heading, position)
                obs.update(self.backend.render(c2w, group))
        obs["pose"] = P.pose_vector(self._state.position, self._state.heading)
        return obs

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spec(self, sensor: str | SensorSpec) -> SensorSpec:
        return sensor if isinstance(sensor, SensorSpec) else self.config.sensor(sensor)
