"""Record episodes of a VLM2 env: an mp4 of RGB | depth | semantic | top-down map, and an
:class:`~envs.episode_log.EpisodeLog` (poses + visible instance ids with pixel counts per frame).

One video frame per observation: the reset frame plus one per step, so an episode of ``n`` steps
gives ``n + 1`` frames. Frames are streamed to ffmpeg as they come (memory stays flat over 10,000+
step episodes) into a temporary file that is renamed when the episode ends.

Files per episode, in ``out_dir``: ``<prefix>-<k>.mp4`` and the folder ``<prefix>-<k>/`` with
``arrays.npz`` + ``episode.json`` (``EpisodeLog.load`` reads it).

Example:
    >>> import gymnasium as gym, envs, tempfile
    >>> from envs.wrappers import RecordEpisode
    >>> out = tempfile.mkdtemp()
    >>> env = RecordEpisode(gym.make("VLM2/Explore-v0", tour=8, sensors=("rgb", "depth", "semantic"),
    ...                              sim={"resolution": (32, 32)}), out)
    >>> _ = env.reset(seed=0)
    >>> for _ in range(8):
    ...     _ = env.step(env.unwrapped.expert_action())
    >>> env.close()
    >>> sorted(p.name for p in env.written[0])
    ['episode-0', 'episode-0.mp4']
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np

from envs.wrappers.minimap import MiniMap
from envs.wrappers.visual import colorize_depth, colorize_semantic, hstack_panels


def visible_counts(semantic: np.ndarray) -> dict[int, int]:
    """Pixel count per instance id (ids >= 1) in a semantic frame.

    >>> visible_counts(np.array([[0, 3, 3], [5, 0, 3]]))
    {3: 3, 5: 1}
    """
    ids, counts = np.unique(np.asarray(semantic).ravel(), return_counts=True)
    return {int(i): int(c) for i, c in zip(ids, counts) if i >= 1}


class RecordEpisode(gym.Wrapper):
    """Wraps a ``VLM2/*`` env (gymnasium's ``make`` wrappers around it are fine).

    Arguments: ``out_dir``; ``name_prefix``; ``video`` / ``log`` (what to write); ``fps`` (video frame
    rate and the log's steps per second); ``panel_height`` (pixels; default the sensor height, at
    least 128). The simulator must render ``rgb`` (and ``semantic`` for the log); the env's
    ``sensors`` option only controls what the policy sees, not what is recorded.
    """

    def __init__(self, env: gym.Env, out_dir: str | Path, name_prefix: str = "episode", video: bool = True,
                 log: bool = True, fps: float = 4.0, panel_height: int | None = None):
        super().__init__(env)
        base = env.unwrapped
        types = {s.type: s for s in base.sim_config.sensors}
        if "rgb" not in types:
            raise ValueError("RecordEpisode: the simulator config has no rgb sensor to record")
        if log and "semantic" not in types:
            raise ValueError("RecordEpisode(log=True) needs a semantic sensor in the simulator config "
                             "(EnvConfig.sensors or sim.sensor_types) for the visible-instance log")
        self._uuids = {t: s.uuid for t, s in types.items()}
        self.out_dir = Path(out_dir)
        self.name_prefix, self.video, self.log, self.fps = name_prefix, video, log, float(fps)
        self.panel_height = panel_height or max(128, types["rgb"].resolution[0])
        self.episode_index = 0
        self.written: list[tuple[Path, ...]] = []
        self._writer = None
        self._tmp_video: Path | None = None
        self._frames: dict[str, list] = {}
        self._minimap: MiniMap | None = None
        self._minimap_scene: str | None = None
        self._active = False

    # ----- gymnasium API -------------------------------------------------------------------------
    def reset(self, **kwargs):
        if self._active:
            self._finish()
        obs, info = self.env.reset(**kwargs)
        self._start()
        self._capture()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._capture()
        if terminated or truncated:
            self._finish()
        return obs, reward, terminated, truncated, info

    def close(self):
        if self._active:
            self._finish()
        super().close()

    # ----- recording -----------------------------------------------------------------------------
    def _name(self) -> str:
        return f"{self.name_prefix}-{self.episode_index}"

    def _start(self) -> None:
        base = self.env.unwrapped
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._frames = {"c2w": [], "pos": [], "head": [], "visible": []}
        if self._minimap_scene != base.scene.scene_id:
            occupancy = None if base.scene.rooms else base.navgrid.occupancy()
            self._minimap = MiniMap(base.scene, size=self.panel_height, occupancy=occupancy)
            self._minimap_scene = base.scene.scene_id
        self._minimap.reset()
        if self.video:
            import imageio.v2 as imageio

            self._tmp_video = self.out_dir / f".{self._name()}.{os.getpid()}.tmp.mp4"
            # macro_block_size=1: frames are already padded to a multiple of 16 (see hstack_panels).
            self._writer = imageio.get_writer(self._tmp_video, fps=self.fps, codec="libx264", quality=7,
                                              macro_block_size=1, ffmpeg_log_level="error")
        self._active = True

    def _capture(self) -> None:
        base = self.env.unwrapped
        raw = base.sensor_observations()
        self._minimap.add_point(base.position)
        sem = raw.get(self._uuids["semantic"]) if "semantic" in self._uuids else None
        if self.log:
            f = self._frames
            f["c2w"].append(base.camera_to_world(self._uuids["rgb"]).astype(np.float32))
            f["pos"].append(np.asarray(base.position, np.float32))
            f["head"].append(np.float32(base.heading))
            f["visible"].append(visible_counts(sem))
        if self._writer is not None:
            panels = [np.asarray(raw[self._uuids["rgb"]])[..., :3]]
            if "depth" in self._uuids:
                panels.append(colorize_depth(raw[self._uuids["depth"]], max_depth=10.0))
            if sem is not None:
                panels.append(colorize_semantic(sem))
            panels.append(self._minimap.frame(base.heading))
            self._writer.append_data(hstack_panels(panels, self.panel_height))

    def _finish(self) -> None:
        paths: list[Path] = []
        base = self.env.unwrapped
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            final = self.out_dir / f"{self._name()}.mp4"
            os.replace(self._tmp_video, final)
            paths.append(final)
        if self.log:
            from envs.episode_log import EpisodeLog

            rgb = base.sim_config.sensor(self._uuids["rgb"])
            f = self._frames
            log = EpisodeLog(
                scene_id=base.scene.scene_id, episode_id=self._name(),
                camera_to_world=np.stack(f["c2w"]), positions=np.stack(f["pos"]),
                headings=np.array(f["head"], np.float32), visible=f["visible"],
                image_size=rgb.resolution, hfov_deg=rgb.hfov, fps=self.fps,
                meta={"env": type(base).__name__, "scene_key": base.world.key},
            )
            paths.append(log.save(self.out_dir / self._name()))
        self.written.append(tuple(paths))
        self.episode_index += 1
        self._active = False
        self._frames = {}
