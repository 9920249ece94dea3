"""habitat-sim backend: the same observation contract, rendered by habitat-sim where it installs.

UNTESTED in this repository's CI: habitat-sim has no wheel for the machines it runs on. The adapter
follows habitat-sim's documented Python API (``CameraSensorSpec``, ``AgentConfiguration``,
``Agent.set_state``, ``Simulator.get_sensor_observations``).

Differences to keep in mind:

* habitat-sim loads the scene from a file (``Scene.source``, or a scene dataset config plus scene id),
  not from our in-memory meshes; a bare ``.glb`` is treated as Z-up unless a stage config says
  ``up: [0, 1, 0]``, ``front: [0, 0, -1]``.
* semantic ids are whatever the file's semantic annotation assigns; they match ours only when the
  dataset was written with the same instance ids.
* lighting follows habitat's defaults, not :class:`envs.render.gl_backend.Lighting`.

Example (where habitat-sim is installed):
    >>> backend = HabitatBackend(scene, SimulatorConfig(backend="habitat"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.config import SensorSpec, SimulatorConfig
from envs.pose import heading_to_quaternion
from envs.render.base import RenderBackend
from scenes.types import Scene

INSTALL_HINT = (
    "the 'habitat' backend needs habitat-sim, which is not importable here. Install it with "
    "`conda install habitat-sim -c conda-forge -c aihabitat` (add `headless` for machines without a "
    "display), or use backend='gl'"
)


def import_habitat_sim():
    """``habitat_sim`` or a RuntimeError that says how to install it."""
    try:
        import habitat_sim
    except ImportError as exc:
        raise RuntimeError(f"{INSTALL_HINT} ({exc})") from exc
    return habitat_sim


class HabitatBackend(RenderBackend):
    """Renders through ``habitat_sim.Simulator`` with one agent carrying all configured sensors."""

    def __init__(self, scene: Scene, config: SimulatorConfig):
        hs = import_habitat_sim()
        if not scene.source and not config.habitat_scene_dataset:
            raise ValueError(f"scene {scene.scene_id!r}: the habitat backend needs Scene.source (a scene file)")
        self._hs = hs
        sim_cfg = hs.SimulatorConfiguration()
        sim_cfg.scene_id = scene.source or scene.scene_id
        if config.habitat_scene_dataset:
            sim_cfg.scene_dataset_config_file = config.habitat_scene_dataset
        sim_cfg.enable_physics = False
        agent_cfg = hs.agent.AgentConfiguration()
        agent_cfg.sensor_specifications = [self._camera_spec(s, config) for s in config.sensors]
        self._sim = hs.Simulator(hs.Configuration(sim_cfg, [agent_cfg]))
        self._agent = self._sim.initialize_agent(0)
        self._types = {s.uuid: s.type for s in config.sensors}

    def _camera_spec(self, sensor: SensorSpec, config: SimulatorConfig):
        hs = self._hs
        spec = hs.CameraSensorSpec()
        spec.uuid = sensor.uuid
        spec.sensor_type = {
            "rgb": hs.SensorType.COLOR,
            "depth": hs.SensorType.DEPTH,
            "semantic": hs.SensorType.SEMANTIC,
        }[sensor.type]
        spec.sensor_subtype = hs.SensorSubType.PINHOLE
        spec.resolution = [sensor.height, sensor.width]
        spec.hfov = sensor.hfov
        spec.position = list(sensor.position)
        spec.near, spec.far = config.near, config.far
        return spec

    def render(self, camera_to_world: np.ndarray, sensors: Sequence[SensorSpec]) -> dict[str, np.ndarray]:
        if not sensors:
            return {}
        # Sensors of one call share a mount point; place the agent base so that mount lands there.
        offset = np.asarray(sensors[0].position, float)
        rot = np.asarray(camera_to_world, float)[:3, :3]
        base = np.asarray(camera_to_world, float)[:3, 3] - rot @ offset
        heading = float(np.arctan2(rot[0, 2], rot[0, 0]))  # yaw-only rotation: [[c,0,s],[0,1,0],[-s,0,c]]
        state = self._hs.AgentState()
        state.position = base.astype(np.float32)
        from habitat_sim.utils.common import quat_from_coeffs  # takes [x, y, z, w], like ours

        state.rotation = quat_from_coeffs(heading_to_quaternion(heading))
        self._agent.set_state(state)
        raw = self._sim.get_sensor_observations()
        out: dict[str, np.ndarray] = {}
        for s in sensors:
            img = np.asarray(raw[s.uuid])
            if s.type == "rgb":
                out[s.uuid] = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
            elif s.type == "depth":
                out[s.uuid] = np.asarray(img, np.float32).reshape(s.height, s.width).copy()
            else:
                out[s.uuid] = np.asarray(img, np.int64).astype(np.int32).reshape(s.height, s.width)
        return out

    def close(self) -> None:
        sim, self._sim = getattr(self, "_sim", None), None
        if sim is not None:
            sim.close()
