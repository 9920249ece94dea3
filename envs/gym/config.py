"""Configuration of the VLM2 Gymnasium environments: where scenes come from, sensors, episode length.

Example:
    >>> cfg = EnvConfig(split="test", num_scenes=4, sensors=("rgb", "depth"), sim={"resolution": (64, 64)})
    >>> cfg.scene_pool()
    (110000, 110001, 110002, 110003)
    >>> cfg.sim_config().sensor_types
    ('rgb', 'depth')
    >>> EnvConfig(sensors=("lidar",)).validate()
    Traceback (most recent call last):
    ...
    ValueError: EnvConfig.sensors: unknown sensor 'lidar', expected a subset of ('rgb', 'depth', 'semantic', 'pose')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from scenes.generator import SPLIT_SEEDS

SENSORS = ("rgb", "depth", "semantic", "pose")


@dataclass
class EnvConfig:
    """Everything an environment needs besides the task's own options.

    Scenes are generated procedurally from a pool of scene seeds of ``split`` (``scene_seeds``, or
    ``num_scenes`` seeds from the split's base), or loaded from ``dataset_path`` (all scenes of
    ``split`` in ``splits.json``, or the explicit ``scene_ids``). A reset with a seed draws the
    scene from the pool with the episode's RNG. With ``episodes_path`` (habitat-lab's episode file,
    :mod:`envs.datasets`) the pool is the file's scenes and resets play its episodes in order.
    """

    split: str = "train"
    scene_seeds: tuple[int, ...] | None = None
    num_scenes: int = 8
    num_rooms: int | None = None
    dataset_path: str | None = None
    scene_ids: tuple[str, ...] | None = None
    episodes_path: str | None = None  # a habitat-lab episode file (envs.datasets): resets play it in order
    sensors: tuple[str, ...] = ("rgb", "depth")  # habitat-lab's PointNav-v1 set; "semantic", "pose" opt in
    max_episode_steps: int = 500
    max_cached_scenes: int | None = None  # None: the whole scene pool (no rebuild on reset)
    sim: dict[str, Any] = field(default_factory=dict)  # envs.config.SimulatorConfig fields

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None = None, **overrides: Any) -> "EnvConfig":
        """Build from a dict / OmegaConf node; unknown keys raise ``ValueError`` naming them."""
        merged = {**dict(d or {}), **overrides}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise ValueError(f"EnvConfig: unknown field(s) {unknown}, expected some of {sorted(names)}")
        for key in ("scene_seeds", "scene_ids", "sensors"):
            if merged.get(key) is not None:
                merged[key] = tuple(merged[key])
        if merged.get("sim") is not None:
            merged["sim"] = dict(merged["sim"])
        cfg = cls(**merged)
        cfg.validate()
        return cfg

    def validate(self) -> "EnvConfig":
        """Raise ``ValueError`` naming the field and the expected value when something is off."""
        if self.split not in SPLIT_SEEDS:
            raise ValueError(f"EnvConfig.split: expected one of {tuple(SPLIT_SEEDS)}, got {self.split!r}")
        for s in self.sensors:
            if s not in SENSORS:
                raise ValueError(f"EnvConfig.sensors: unknown sensor {s!r}, expected a subset of {SENSORS}")
        if not self.sensors:
            raise ValueError("EnvConfig.sensors: expected at least one sensor, got none")
        for name in ("max_episode_steps", "max_cached_scenes", "num_scenes"):
            v = getattr(self, name)
            if v is None and name == "max_cached_scenes":
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"EnvConfig.{name}: expected a positive int, got {v!r}")
        self.sim_config()  # SimulatorConfig validates its own fields and names the bad one
        if self.scene_seeds is not None:
            if len(self.scene_seeds) == 0:
                raise ValueError("EnvConfig.scene_seeds: expected a non-empty list of ints or null")
            lo, hi = SPLIT_SEEDS[self.split]
            bad = [s for s in self.scene_seeds if not lo <= int(s) < hi]
            if bad:
                raise ValueError(
                    f"EnvConfig.scene_seeds: seeds {bad[:5]} are outside split {self.split!r}'s range [{lo}, {hi})"
                )
        if self.episodes_path is not None and not Path(self.episodes_path).is_file():
            raise FileNotFoundError(f"EnvConfig.episodes_path: no episode file at {self.episodes_path!r}")
        if self.dataset_path is not None and not Path(self.dataset_path).is_dir():
            raise FileNotFoundError(f"EnvConfig.dataset_path: no scene dataset folder at {self.dataset_path!r}")
        return self

    def sim_config(self):
        """The :class:`envs.config.SimulatorConfig`: ``sim`` fields, rendering the image sensors in
        ``sensors`` unless ``sim`` lists its own ``sensor_types`` / ``sensors``."""
        from envs.config import SENSOR_TYPES, SimulatorConfig

        d = dict(self.sim)
        if d.get("sensors") is None and d.get("sensor_types") is None:
            d["sensor_types"] = tuple(s for s in self.sensors if s in SENSOR_TYPES) or ("rgb",)
        return SimulatorConfig.from_dict(d)

    def cache_capacity(self, pool_size: int) -> int:
        """How many built scenes an env keeps: ``max_cached_scenes``, or the whole pool when unset."""
        return self.max_cached_scenes if self.max_cached_scenes is not None else max(1, pool_size)

    def scene_pool(self) -> tuple[int, ...]:
        """The procedural scene seeds an episode seed draws from."""
        if self.scene_seeds is not None:
            return tuple(int(s) for s in self.scene_seeds)
        lo, hi = SPLIT_SEEDS[self.split]
        return tuple(range(lo, min(lo + self.num_scenes, hi)))
