"""The ``scene`` config group as a typed dataclass: which apartments to build, where, and how.

It is Hydra's schema for the group (``configs/scene/*.yaml`` name it first in their defaults), so a
wrongly typed or unknown key fails at composition with its full name; :meth:`validate` then checks
the values and builds the generator's :class:`~scenes.generator.SceneSpec`, so ranges are checked
before anything is written.

Example:
    >>> cfg = SceneDatasetConfig.from_config({"splits": ["val"], "num_scenes": {"val": 2}})
    >>> cfg.counts(), cfg.spec().plan.door_width
    ({'val': 2}, (0.8, 1.0))
    >>> SceneDatasetConfig.from_config({"door_width": [-1, 0]})
    Traceback (most recent call last):
    ...
    ValueError: scene.door_width: expected two widths 0 < min <= max <= 2 m, got (-1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["SceneDatasetConfig", "check_range"]


def check_range(name: str, value: Any, lo: float, hi: float, what: str) -> tuple[float, float]:
    """``value`` as a ``(min, max)`` pair of finite numbers with ``lo < min <= max <= hi``; else a
    ValueError naming ``name`` and ``what`` they are."""
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(v) for v in pair) or not lo < pair[0] <= pair[1] <= hi:
        raise ValueError(f"{name}: expected two {what} {lo:g} < min <= max <= {hi:g} m, "
                         f"got {pair if len(pair) == 2 else value!r}")
    return pair


def _in(name: str, value: Any, lo: float, hi: float, kind: type = float) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and lo <= value <= hi and (kind is float or float(value).is_integer())
    if not ok:
        raise ValueError(f"{name}: expected {'an integer' if kind is int else 'a number'} in [{lo:g}, {hi:g}], "
                         f"got {value!r}")
    return kind(value)


@dataclass
class SceneDatasetConfig:
    """The ``scene`` group (see ``configs/scene/apartments.yaml`` for what each field means)."""

    name: str = "vlm2_apartments"
    root: str = "data/scenes"
    splits: list[str] = field(default_factory=lambda: ["train", "val", "test"])
    num_scenes: dict[str, int] = field(default_factory=lambda: {"train": 100, "val": 20, "test": 20})
    num_rooms: Optional[int] = None
    min_rooms: int = 2
    max_rooms: int = 7
    ceiling_height: tuple[float, float] = (2.5, 2.8)
    door_height: float = 2.05
    door_clear_depth: float = 0.8
    texture_size: int = 64
    wall_thickness: float = 0.1
    door_width: tuple[float, float] = (0.8, 1.0)
    hallway_width: tuple[float, float] = (1.1, 1.5)
    maps: bool = True
    cache: bool = True

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | Any) -> "SceneDatasetConfig":
        """From the composed group (an OmegaConf node or a mapping); unknown keys are refused."""
        from omegaconf import OmegaConf

        from vlm2_base.config import check_fields

        d = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
        return cls(**check_fields(cls, d, "scene")).validate()

    def validate(self) -> "SceneDatasetConfig":
        from scenes.generator import SPLIT_SEEDS

        if not isinstance(self.name, str) or not self.name or "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"scene.name={self.name!r}: expected a plain folder name (no '/', '..' or absolute "
                             "path); the dataset is written to <scene.root>/<scene.name>")
        unknown = [s for s in self.splits if s not in SPLIT_SEEDS]
        if unknown or not self.splits:
            raise ValueError(f"scene.splits: expected names from {list(SPLIT_SEEDS)}, got {list(self.splits)}")
        for split in self.splits:
            lo, hi = SPLIT_SEEDS[split]
            _in(f"scene.num_scenes.{split}", self.num_scenes.get(split, 0), 0, hi - lo, int)
        if self.num_rooms is not None:
            _in("scene.num_rooms", self.num_rooms, 2, 7, int)
        self.spec()
        return self

    def counts(self) -> dict[str, int]:
        """Scenes to build per split named in ``splits``."""
        return {s: int(self.num_scenes.get(s, 0)) for s in self.splits}

    def spec(self):
        """The generator's :class:`~scenes.generator.SceneSpec` (its values checked)."""
        from scenes.generator import SceneSpec
        from scenes.layout import PlanSpec

        ceiling = check_range("scene.ceiling_height", self.ceiling_height, 1.5, 10.0, "heights")
        door_height = _in("scene.door_height", self.door_height, 1.0, ceiling[0])
        plan = PlanSpec(wall_thickness=_in("scene.wall_thickness", self.wall_thickness, 0.01, 0.5),
                        door_width=check_range("scene.door_width", self.door_width, 0.0, 2.0, "widths"),
                        hallway_width=check_range("scene.hallway_width", self.hallway_width, 0.5, 4.0, "widths"))
        return SceneSpec(min_rooms=_in("scene.min_rooms", self.min_rooms, 2, 7, int),
                         max_rooms=_in("scene.max_rooms", self.max_rooms, 2, 7, int),
                         ceiling_height=ceiling, door_height=door_height,
                         door_clear_depth=_in("scene.door_clear_depth", self.door_clear_depth, 0.0, 3.0),
                         texture_size=_in("scene.texture_size", self.texture_size, 4, 1024, int), plan=plan)
