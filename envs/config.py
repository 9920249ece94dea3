"""Simulator configuration: sensors, backend, clipping planes. Validated on construction.

Resolutions are ``(height, width)`` in pixels, as in habitat-sim's ``CameraSensorSpec.resolution``.
``hfov`` is the horizontal field of view in degrees; pixels are square, so the vertical field of view
follows from the aspect ratio.

Example:
    >>> cfg = SimulatorConfig(resolution=(96, 128), sensor_types=("rgb", "depth"))
    >>> [(s.uuid, s.type, s.resolution, s.position) for s in cfg.sensors]
    [('rgb', 'rgb', (96, 128), (0.0, 1.25, 0.0)), ('depth', 'depth', (96, 128), (0.0, 1.25, 0.0))]
    >>> SimulatorConfig(hfov=180)
    Traceback (most recent call last):
    ...
    ValueError: SimulatorConfig.hfov must be in (0, 180) degrees, got 180
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from vlm2_base.config import check_value

SENSOR_TYPES = ("rgb", "depth", "semantic")
BACKENDS = ("gl", "habitat")
RESERVED_KEYS = ("pose",)  # observation keys the simulator adds itself


@dataclass(frozen=True)
class SensorSpec:
    """One camera sensor on the agent.

    ``position`` is the mount point in the agent frame (x right, y up, z backwards), metres.
    """

    uuid: str
    type: str
    resolution: tuple[int, int] = (128, 128)
    hfov: float = 90.0
    position: tuple[float, float, float] = (0.0, 1.25, 0.0)

    def __post_init__(self) -> None:
        where = f"sensor {self.uuid!r}"
        if not isinstance(self.uuid, str) or not self.uuid:
            raise ValueError(f"sensor uuid must be a non-empty string, got {self.uuid!r}")
        if self.uuid in RESERVED_KEYS:
            raise ValueError(f"{where}: uuid {self.uuid!r} is reserved for the simulator's own observation")
        if self.type not in SENSOR_TYPES:
            raise ValueError(f"{where}: unknown sensor type {self.type!r}, expected one of {SENSOR_TYPES}")
        object.__setattr__(self, "resolution", _resolution(self.resolution, f"{where}.resolution"))
        object.__setattr__(self, "hfov", _hfov(self.hfov, f"{where}.hfov"))
        object.__setattr__(self, "position", _position(self.position, f"{where}.position"))

    @property
    def height(self) -> int:
        return self.resolution[0]

    @property
    def width(self) -> int:
        return self.resolution[1]

    @property
    def camera_key(self) -> tuple:
        """Sensors with equal keys are rendered together in one pass."""
        return (self.resolution, self.hfov, self.position)


@dataclass
class SimulatorConfig:
    """Everything the :class:`envs.Simulator` needs besides the scene.

    Either give the shared fields (``resolution``, ``hfov``, ``sensor_height``, ``sensor_types``: one
    sensor per type, uuid = type name), or an explicit ``sensors`` list (``SensorSpec`` or dicts with
    the same keys), which then wins. ``near``/``far`` clip the view in metres.
    ``habitat_scene_dataset`` optionally names a ``*.scene_dataset_config.json`` for the habitat backend.
    ``gpu_device_id`` picks the device: for ``habitat`` the CUDA device habitat-sim renders on
    (``None``, the default: device 0 where an NVIDIA driver is present, else the CPU's EGL, Mesa
    llvmpipe; ``-1``: always the CPU); for ``gl`` the EGL device index (``eglQueryDevicesEXT``
    order: the GPU vendor's driver and Mesa's software device), ``None`` or ``-1`` the default display.
    """

    resolution: tuple[int, int] = (128, 128)
    hfov: float = 90.0
    sensor_height: float = 1.25
    sensor_types: tuple[str, ...] = ("rgb", "depth", "semantic")
    sensors: tuple[SensorSpec, ...] | None = None
    backend: str = "gl"
    near: float = 0.05
    far: float = 50.0
    habitat_scene_dataset: str | None = None
    gpu_device_id: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"SimulatorConfig.backend: unknown backend {self.backend!r}, expected one of {BACKENDS}")
        device = self.gpu_device_id
        if device is not None and (isinstance(device, bool) or not isinstance(device, int) or device < -1):
            raise ValueError(f"SimulatorConfig.gpu_device_id: expected null, -1 (CPU) or a device index, "
                             f"got {self.gpu_device_id!r}")
        self.resolution = _resolution(self.resolution, "SimulatorConfig.resolution")
        self.hfov = _hfov(self.hfov, "SimulatorConfig.hfov")
        if not _finite(self.sensor_height):
            raise ValueError(f"SimulatorConfig.sensor_height must be a finite number, got {self.sensor_height!r}")
        if not (_finite(self.near) and _finite(self.far) and 0 < self.near < self.far):
            raise ValueError(f"SimulatorConfig: need 0 < near < far (metres), got near={self.near!r}, far={self.far!r}")
        if isinstance(self.sensor_types, str):
            raise ValueError(f"SimulatorConfig.sensor_types must be a list of types, got the string {self.sensor_types!r}")
        if self.sensors is None:
            self.sensor_types = check_value(self.sensor_types, tuple[str, ...], "SimulatorConfig.sensor_types")
        elif isinstance(self.sensors, (str, bytes, Mapping)) or not isinstance(self.sensors, Sequence):
            raise ValueError(f"SimulatorConfig.sensors must be null or a list of sensor specs, got {self.sensors!r}")
        else:  # the explicit list wins; sensor_types is not read
            self.sensor_types = tuple(self.sensor_types) if isinstance(self.sensor_types, Sequence) else ()
        if self.sensors is None:
            pos = (0.0, float(self.sensor_height), 0.0)
            self.sensors = tuple(SensorSpec(t, t, self.resolution, self.hfov, pos) for t in self.sensor_types)
        else:
            self.sensors = tuple(_sensor(s, i) for i, s in enumerate(self.sensors))
        if not self.sensors:
            raise ValueError("SimulatorConfig: no sensors configured (sensor_types and sensors are both empty)")
        uuids = [s.uuid for s in self.sensors]
        dup = sorted({u for u in uuids if uuids.count(u) > 1})
        if dup:
            raise ValueError(f"SimulatorConfig.sensors: duplicate uuids {dup}")

    @property
    def egl_device(self) -> int | None:
        """The EGL device index the ``gl`` backend renders on (``None``: the default display)."""
        return self.gpu_device_id if self.gpu_device_id is not None and self.gpu_device_id >= 0 else None

    def sensor(self, uuid: str) -> SensorSpec:
        for s in self.sensors or ():
            if s.uuid == uuid:
                return s
        raise KeyError(f"no sensor with uuid {uuid!r}; configured: {[s.uuid for s in self.sensors or ()]}")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> SimulatorConfig:
        """Build from a mapping such as the Hydra group ``configs/sim`` (an OmegaConf DictConfig works)."""
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(cfg, DictConfig):
                cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
        except ImportError:  # omegaconf is a dependency, but plain dicts need nothing else
            pass
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"sim config: unknown keys {unknown}, expected some of {sorted(known)}")
        return cls(**dict(cfg))


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _resolution(value: Any, name: str) -> tuple[int, int]:
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    if ok:
        ok = all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 8192 for v in value)
    if not ok:
        raise ValueError(f"{name} must be (height, width), two integers in [1, 8192], got {value!r}")
    return (int(value[0]), int(value[1]))


def _hfov(value: Any, name: str) -> float:
    if not (_finite(value) and 0 < value < 180):
        raise ValueError(f"{name} must be in (0, 180) degrees, got {value!r}")
    return float(value)


def _position(value: Any, name: str) -> tuple[float, float, float]:
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3
    if not ok or not all(_finite(v) for v in value):
        raise ValueError(f"{name} must be 3 finite numbers (x, y, z) in metres, got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _sensor(spec: Any, index: int) -> SensorSpec:
    if isinstance(spec, SensorSpec):
        return spec
    if isinstance(spec, Mapping):
        allowed = {f.name for f in fields(SensorSpec)}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValueError(f"SimulatorConfig.sensors[{index}]: unknown keys {unknown}, expected some of {sorted(allowed)}")
        d = dict(spec)
        for key in ("resolution", "position"):
            if key in d and isinstance(d[key], list):
                d[key] = tuple(d[key])
        return SensorSpec(**d)
    raise ValueError(f"SimulatorConfig.sensors[{index}] must be a SensorSpec or a mapping, got {type(spec).__name__}")
