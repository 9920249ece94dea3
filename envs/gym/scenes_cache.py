"""Scene sources for the environments and a per-env LRU cache of (Scene, Simulator, NavGrid).

A :class:`SceneWorld` bundles everything built once per scene. The Simulator (and with it the GL
context) is built lazily on first use, so importing or constructing an environment never touches
GL: in ``AsyncVectorEnv`` / ``SubprocVecEnv`` each worker builds its own context after the fork.

Example:
    >>> from envs.gym.config import EnvConfig
    >>> src = SceneSource(EnvConfig(split="val", num_scenes=3))
    >>> src.keys()
    ('seed:100000', 'seed:100001', 'seed:100002')
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.gym.config import EnvConfig
from scenes.types import Scene, SceneLoadError


class SceneSource:
    """Maps scene keys (``seed:<int>`` or ``dataset:<scene_id>``) to :class:`Scene` objects."""

    def __init__(self, cfg: EnvConfig, scenes: "list[Scene] | None" = None):
        self.cfg = cfg
        self.episodes: list = []  # envs.datasets.NavigationEpisode, from cfg.episodes_path
        self._handles: tuple[str, ...] | None = None  # the dataset's scene ids, read on first use
        self._memory = list(scenes or [])
        if self._memory:
            bad = [type(s).__name__ for s in self._memory if not isinstance(s, Scene)]
            if bad:
                raise TypeError(f"scenes: expected scenes.types.Scene objects, got {bad[:3]}")
            self._keys = tuple(f"memory:{i}" for i in range(len(self._memory)))
        elif cfg.episodes_path is not None:
            from envs.datasets import read_episodes

            self.episodes = read_episodes(cfg.episodes_path).episodes
            self._keys = tuple(dict.fromkeys(self.key_for(e.scene_id) for e in self.episodes))
        elif cfg.dataset_path is not None:
            self._keys = tuple(f"dataset:{sid}" for sid in self._dataset_ids(Path(cfg.dataset_path)))
        else:
            self._keys = tuple(f"seed:{s}" for s in cfg.scene_pool())

    def _dataset_ids(self, root: Path) -> tuple[str, ...]:
        if self.cfg.scene_ids is not None:
            return tuple(self.cfg.scene_ids)
        splits = root / "splits.json"
        if not splits.is_file():
            raise SceneLoadError(splits, "missing: a dataset needs splits.json, or set EnvConfig.scene_ids")
        try:
            ids = json.loads(splits.read_text())[self.cfg.split]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise SceneLoadError(splits, f"expected {{'{self.cfg.split}': [scene ids]}}: {e}") from e
        if not ids:
            raise SceneLoadError(splits, f"split {self.cfg.split!r} lists no scenes")
        return tuple(str(i) for i in ids)

    def keys(self) -> tuple[str, ...]:
        return self._keys

    def key_for(self, scene: str | int) -> str:
        """A key from a user's choice, resolved as habitat-sim resolves a ``scene_id``: a scene seed
        (int), a key itself, a scene id of the dataset (also matched by the file's basename without
        its extensions, so ``stages/apt_x.glb`` finds ``apt_x``), an existing file, or the id of a
        procedural apartment (``apt_<split>_<seed>``, generated from its seed)."""
        if isinstance(scene, int) or (isinstance(scene, str) and scene.isdigit()):
            return f"seed:{int(scene)}"
        if scene.startswith(("seed:", "dataset:", "path:", "memory:")):
            return scene
        if self.cfg.dataset_path is not None:
            ids = self._dataset_handles()
            if scene in ids:
                return f"dataset:{scene}"
            base = Path(scene).name.split(".")[0]
            matches = [i for i in ids if i == base or Path(i).name.split(".")[0] == base]
            if len(matches) == 1:
                return f"dataset:{matches[0]}"
            if len(matches) > 1:
                raise ValueError(f"scene {scene!r} matches several scenes of {self.cfg.dataset_path}: {matches[:5]}")
        p = Path(scene)
        if p.exists():
            return f"path:{scene}"
        from scenes.generator import seed_of_scene_id

        seed = seed_of_scene_id(scene)
        if seed is not None:
            return f"seed:{seed}"
        if self.cfg.dataset_path is not None:
            raise ValueError(f"unknown scene {scene!r}: not a scene of the dataset {self.cfg.dataset_path} "
                             f"({len(self._dataset_handles())} scenes), a file, or a procedural id apt_<split>_<seed>")
        if p.suffix:
            return f"path:{scene}"  # load() names the missing file
        raise ValueError(f"unknown scene {scene!r}: expected a scene seed, a dataset scene id, a file path "
                         "or a procedural id apt_<split>_<seed>")

    def _dataset_handles(self) -> tuple[str, ...]:
        if self._handles is None:
            from scenes import loader

            self._handles = tuple(loader.scene_ids(self.cfg.dataset_path))
        return self._handles

    def load(self, key: str) -> Scene:
        kind, _, name = key.partition(":")
        if kind == "memory":
            return self._memory[int(name)]
        if kind == "seed":
            from scenes.generator import generate_scene, split_of_seed

            seed = int(name)
            return generate_scene(seed, num_rooms=self.cfg.num_rooms, split=split_of_seed(seed) or self.cfg.split)
        from scenes import loader

        if kind == "dataset":
            return loader.load(self.cfg.dataset_path, scene_id=name)
        if kind == "path":
            if not Path(name).exists():
                raise SceneLoadError(name, "no such scene file or dataset folder")
            return loader.load(name)
        raise ValueError(f"bad scene key {key!r}: expected 'seed:<int>', 'dataset:<id>' or 'path:<file>'")


@dataclass
class SceneWorld:
    """One scene with its navigation grid and (lazily) its Simulator."""

    key: str
    scene: Scene
    navgrid: Any
    sim_config: Any
    _sim: Any = field(default=None, repr=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # per-scene task data

    @property
    def sim(self):
        if self._sim is None:
            from envs.simulator import Simulator

            self._sim = Simulator(self.scene, self.sim_config)
        return self._sim

    def close(self) -> None:
        if self._sim is not None and hasattr(self._sim, "close"):
            self._sim.close()
        self._sim = None


class WorldCache:
    """Keeps the ``capacity`` most recently used :class:`SceneWorld` objects; evicted ones are closed."""

    def __init__(self, source: SceneSource, sim_config: Any, capacity: int):
        self.source, self.sim_config, self.capacity = source, sim_config, capacity
        self._worlds: OrderedDict[str, SceneWorld] = OrderedDict()

    def get(self, key: str) -> SceneWorld:
        if key in self._worlds:
            self._worlds.move_to_end(key)
            return self._worlds[key]
        from envs.navigation import NavGrid

        scene = self.source.load(key)
        world = SceneWorld(key, scene, NavGrid.from_scene(scene), self.sim_config)
        self._worlds[key] = world
        while len(self._worlds) > self.capacity:
            _, old = self._worlds.popitem(last=False)
            old.close()
        return world

    def close(self) -> None:
        for w in self._worlds.values():
            w.close()
        self._worlds.clear()
