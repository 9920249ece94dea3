"""habitat-sim backend: the same observation contract, rendered by habitat-sim where it installs.

Tested against habitat-sim 0.2.2 (``make test-habitat``, ``tests/test_habitat_backend.py``). The
adapter uses habitat-sim's Python API (``CameraSensorSpec``, ``AgentConfiguration``,
``Agent.set_state``, ``Simulator.get_sensor_observations``).

* **Scenes** load from files, not from our in-memory meshes: a scene read from a scene dataset
  (``Scene.source`` is its ``*.scene_instance.json``) is handed to habitat-sim as the dataset config
  (found in the instance's folder or the two above it) plus the instance's handle; a stage config
  or a ``.glb`` is passed as it is. Every path is checked first: habitat-sim kills the process
  (segfault) on a scene it cannot resolve, so a bad scene raises a Python error here instead.
* **One render per frame**: the agent carries every sensor at its mount point, so one
  ``get_sensor_observations()`` renders them all (:meth:`HabitatBackend.render_agent`).
* **Device**: ``SimulatorConfig.gpu_device_id`` (``None``: CUDA device 0 where an NVIDIA driver is
  present, else the CPU's EGL, for which habitat-sim needs ``HSIM_DISABLE_CUDA_DEVICE``; set here).
* **Semantics**: habitat-sim's ids come from the stage's semantic asset; :mod:`scenes.writer` writes
  one (``<id>_semantic.ply``, per-vertex ``object_id``), so habitat-sim's semantic sensor gives our
  instance ids. A scene without semantic assets renders all zeros, and the backend warns once.
* **Stage scale**: habitat-sim 0.2.x renders a stage without its config's ``scale`` (0.3 applies
  it, as :mod:`scenes.loader` does); the backend warns for such a stage.
* **Lighting** follows habitat-sim's defaults, not :class:`envs.render.gl_backend.Lighting`, so
  RGB differs in shading; geometry and depth agree (``experiments/compare_backends.py``).

Example (where habitat-sim is installed):
    >>> backend = HabitatBackend(scene, SimulatorConfig(backend="habitat"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

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


def has_nvidia_gpu() -> bool:
    return Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir())


def habitat_scene(scene: Scene, config: SimulatorConfig) -> tuple[str, str | None]:
    """``(scene_id, scene_dataset_config_file)`` for habitat-sim; raises naming what is missing."""
    from scenes import habitat_config as hc

    if config.habitat_scene_dataset:
        ds = Path(config.habitat_scene_dataset)
        if not ds.is_file():
            raise FileNotFoundError(f"SimulatorConfig.habitat_scene_dataset: no file at {ds}")
        return scene.scene_id, str(ds.resolve())
    if not scene.source:
        raise ValueError(f"scene {scene.scene_id!r} exists only in memory; the habitat backend renders scene files: "
                         "write it (vlm2-scenes, scenes.writer) and load it from there, or use backend='gl'")
    src = Path(scene.source)
    if not src.is_file():
        raise FileNotFoundError(f"scene {scene.scene_id!r}: its source {src} does not exist")
    if src.name.endswith(hc.INSTANCE_SUFFIX):
        dataset = hc.find_dataset(src.parent)
        if dataset is None:
            raise ValueError(f"{src}: a scene instance needs its *{hc.DATASET_SUFFIX} in its folder or the two "
                             "above it for habitat-sim to resolve the stage; none was found")
        return hc.strip_suffix(src.name, hc.INSTANCE_SUFFIX), str(dataset.resolve())
    if src.name.endswith(hc.STAGE_SUFFIX) or src.suffix.lower() == ".glb":
        return str(src.resolve()), None
    raise ValueError(f"{src}: habitat-sim loads a .glb, a *{hc.STAGE_SUFFIX} or a scene instance of a dataset")


def _warn_unscaled_stage(scene: Scene, version: str) -> None:
    """habitat-sim before 0.3 renders a stage without its config's ``scale`` (0.3 applies it, as
    :mod:`scenes.loader` does), so depth and pixels would not match the ``gl`` backend."""
    from scenes import habitat_config as hc

    src = Path(scene.source or "")
    if not version.startswith("0.2.") or not src.name.endswith(hc.STAGE_SUFFIX):
        return
    scale = np.asarray(hc.read_stage_config(src).scale, float)
    if not np.allclose(scale, 1.0):
        warnings.warn(f"{src}: habitat-sim {version} ignores the stage config's scale {scale.tolist()} (0.3 and "
                      "scenes.loader apply it), so its frames will not match the gl backend's", stacklevel=3)


class HabitatBackend(RenderBackend):
    """Renders through ``habitat_sim.Simulator`` with one agent carrying all configured sensors."""

    def __init__(self, scene: Scene, config: SimulatorConfig):
        hs = import_habitat_sim()
        scene_id, dataset = habitat_scene(scene, config)
        device = config.gpu_device_id
        if device is None:
            device = 0 if has_nvidia_gpu() else -1
        if device < 0:
            os.environ.setdefault("HSIM_DISABLE_CUDA_DEVICE", "1")  # read when the EGL context is made
        os.environ.setdefault("HABITAT_SIM_LOG", "quiet")  # habitat-sim's per-scene info lines
        os.environ.setdefault("MAGNUM_LOG", "quiet")
        self._hs = hs
        sim_cfg = hs.SimulatorConfiguration()
        sim_cfg.scene_id = scene_id
        if dataset:
            sim_cfg.scene_dataset_config_file = dataset
        sim_cfg.gpu_device_id = max(device, 0)
        sim_cfg.enable_physics = False
        agent_cfg = hs.agent.AgentConfiguration()
        agent_cfg.sensor_specifications = [self._camera_spec(s, config) for s in config.sensors]
        self._sim = hs.Simulator(hs.Configuration(sim_cfg, [agent_cfg]))
        self._agent = self._sim.initialize_agent(0)
        self._sensors = {s.uuid: s for s in config.sensors}
        _warn_unscaled_stage(scene, getattr(hs, "__version__", ""))
        if any(s.type == "semantic" for s in config.sensors) and not self._has_semantics():
            warnings.warn(f"scene {scene.scene_id!r}: habitat-sim found no semantic annotation; its semantic "
                          "sensor renders all zeros", stacklevel=2)

    def _has_semantics(self) -> bool:
        """A semantic scene descriptor with objects, or a semantic mesh (its own scene graph)."""
        sem = getattr(self._sim, "semantic_scene", None)
        if sem is not None and len(getattr(sem, "objects", []) or []) > 0:
            return True
        return self._sim.get_active_semantic_scene_graph() is not self._sim.get_active_scene_graph()

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

    def render_agent(self, position: np.ndarray, heading: float) -> dict[str, np.ndarray]:
        """Every sensor, at its mount point, for the agent at ``position`` (floor point) and ``heading``:
        one habitat-sim render for all of them."""
        from habitat_sim.utils.common import quat_from_coeffs  # takes [x, y, z, w], like ours

        state = self._hs.AgentState()
        state.position = np.asarray(position, np.float32)
        state.rotation = quat_from_coeffs(heading_to_quaternion(heading))
        self._agent.set_state(state, reset_sensors=True)
        return self._convert(self._sim.get_sensor_observations(), self._sensors.values())

    def render(self, camera_to_world: np.ndarray, sensors: Sequence[SensorSpec]) -> dict[str, np.ndarray]:
        if not sensors:
            return {}
        # Sensors of one call share a mount point; place the agent base so that mount lands there.
        offset = np.asarray(sensors[0].position, float)
        rot = np.asarray(camera_to_world, float)[:3, :3]
        base = np.asarray(camera_to_world, float)[:3, 3] - rot @ offset
        heading = float(np.arctan2(rot[0, 2], rot[0, 0]))  # yaw-only rotation: [[c,0,s],[0,1,0],[-s,0,c]]
        obs = self.render_agent(base, heading)
        return {s.uuid: obs[s.uuid] for s in sensors}

    @staticmethod
    def _convert(raw, sensors) -> dict[str, np.ndarray]:
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
