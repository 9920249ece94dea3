"""What a recorded episode must provide for question generation: poses and per-frame visibility.

Conventions (habitat-lab's): world Y up, metres. ``camera_to_world`` is the OpenGL camera pose
(camera x right, y up, looking along -z). ``headings`` are yaw angles: 0 looks along world -Z, positive
turns left (counter-clockwise seen from above). ``visible[t]`` maps instance id -> pixel count of that
instance in frame ``t`` of the semantic sensor.

Time: one simulator step is one video frame, and ``fps`` says how many steps make one second of
video. The default, 4 fps, matches a slow walk of 0.25 m steps at about 1 m/s, and maps the
long-horizon buckets to step counts: Short < 240 steps (< 60 s), Mid 240-480, Long > 480 (> 120 s).

Example:
    >>> import numpy as np
    >>> T = 3
    >>> log = EpisodeLog(scene_id="s", episode_id="e0",
    ...     camera_to_world=np.repeat(np.eye(4, dtype=np.float32)[None], T, 0),
    ...     positions=np.zeros((T, 3), np.float32), headings=np.zeros(T, np.float32),
    ...     visible=[{1: 120}, {}, {1: 3, 2: 500}], image_size=(128, 128), hfov_deg=90.0)
    >>> log.num_frames, log.duration_s
    (3, 0.75)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlm2_base.io import atomic_open, atomic_write

DEFAULT_FPS = 4.0
_ARRAYS = ("camera_to_world", "positions", "headings")


class EpisodeLogError(ValueError):
    """An episode log has a missing or malformed field; the message names it."""


@dataclass
class EpisodeLog:
    """Poses and per-frame instance visibility of one recorded episode (T frames)."""

    scene_id: str
    episode_id: str
    camera_to_world: np.ndarray  # (T, 4, 4) float32
    positions: np.ndarray  # (T, 3) float32, agent floor position
    headings: np.ndarray  # (T,) float32, radians
    visible: list[dict[int, int]]  # T dicts {instance_id: pixel_count}
    image_size: tuple[int, int]  # (H, W)
    hfov_deg: float
    fps: float = DEFAULT_FPS
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.camera_to_world = np.asarray(self.camera_to_world, np.float32)
        self.positions = np.asarray(self.positions, np.float32)
        self.headings = np.asarray(self.headings, np.float32)
        self.visible = [{int(k): int(v) for k, v in d.items()} for d in self.visible]
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(len(self.camera_to_world))

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def camera_positions(self) -> np.ndarray:
        """(T, 3) camera centres in world coordinates."""
        return self.camera_to_world[:, :3, 3].astype(np.float64)

    def validate(self) -> None:
        """Raise :class:`EpisodeLogError` naming the first bad field."""
        T = len(self.camera_to_world)
        where = f"episode {self.scene_id}/{self.episode_id}"
        if T < 1:
            raise EpisodeLogError(f"{where}: camera_to_world is empty; expected (T, 4, 4) with T >= 1")
        shapes = {"camera_to_world": (T, 4, 4), "positions": (T, 3), "headings": (T,)}
        for name, shape in shapes.items():
            arr = getattr(self, name)
            if arr.shape != shape:
                raise EpisodeLogError(f"{where}: {name} has shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise EpisodeLogError(f"{where}: {name} contains NaN or inf")
        if not np.allclose(self.camera_to_world[:, 3], [0, 0, 0, 1], atol=1e-5):
            raise EpisodeLogError(f"{where}: camera_to_world last rows must be [0, 0, 0, 1]")
        if len(self.visible) != T:
            raise EpisodeLogError(f"{where}: visible has {len(self.visible)} entries, expected {T} (one per frame)")
        for t, d in enumerate(self.visible):
            bad = [(k, v) for k, v in d.items() if k < 1 or v < 0]
            if bad:
                raise EpisodeLogError(f"{where}: visible[{t}] has bad entries {bad[:3]}; expected instance id >= 1, count >= 0")
        H, W = self.image_size
        if H < 1 or W < 1:
            raise EpisodeLogError(f"{where}: image_size must be positive (H, W), got {self.image_size}")
        if not 0 < self.hfov_deg < 180:
            raise EpisodeLogError(f"{where}: hfov_deg must be in (0, 180), got {self.hfov_deg}")
        if not self.fps > 0:
            raise EpisodeLogError(f"{where}: fps must be > 0, got {self.fps}")

    def save(self, directory: str | Path) -> Path:
        """Write ``arrays.npz`` and ``episode.json`` into ``directory`` (each atomically)."""
        d = Path(directory)
        with atomic_open(d / "arrays.npz") as f:
            np.savez_compressed(f, **{k: getattr(self, k) for k in _ARRAYS})
        doc = {
            "scene_id": self.scene_id, "episode_id": self.episode_id,
            "image_size": list(self.image_size), "hfov_deg": float(self.hfov_deg), "fps": float(self.fps),
            "visible": [{str(k): v for k, v in sorted(v.items())} for v in self.visible],
            "meta": self.meta,
        }
        atomic_write(d / "episode.json", json.dumps(doc))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "EpisodeLog":
        d = Path(directory)
        for name in ("arrays.npz", "episode.json"):
            if not (d / name).is_file():
                raise EpisodeLogError(f"{d / name}: missing; an episode directory holds arrays.npz and episode.json")
        try:
            doc = json.loads((d / "episode.json").read_text())
        except json.JSONDecodeError as e:
            raise EpisodeLogError(f"{d / 'episode.json'}: not valid JSON ({e})") from e
        missing = [k for k in ("scene_id", "episode_id", "image_size", "hfov_deg", "visible") if k not in doc]
        if missing:
            raise EpisodeLogError(f"{d / 'episode.json'}: missing fields {missing}")
        with np.load(d / "arrays.npz") as z:
            absent = [k for k in _ARRAYS if k not in z]
            if absent:
                raise EpisodeLogError(f"{d / 'arrays.npz'}: missing arrays {absent}")
            arrays = {k: z[k] for k in _ARRAYS}
        return cls(
            scene_id=doc["scene_id"], episode_id=doc["episode_id"], **arrays,
            visible=[{int(k): int(v) for k, v in f.items()} for f in doc["visible"]],
            image_size=tuple(doc["image_size"]), hfov_deg=float(doc["hfov_deg"]),
            fps=float(doc.get("fps", DEFAULT_FPS)), meta=doc.get("meta", {}),
        )


