"""Batched rendering: N scenes in one EGL context, N agents' views drawn before any is read back.

Each scene keeps its own geometry, textures, culling and render targets (a
:class:`~envs.render.gl_backend.GLBackend` built into the shared context). A frame of N agents
draws every view, then reads them back: the first readback waits for the queued work, the others
copy finished images; no context is switched between agents. Each view is drawn at its targets'
origin exactly as a single render is, so the pixels are the single-scene renderer's bit for bit
(``tests/test_render.py``). Views drawn side by side into one tiled target would need one readback
only, but their depth then differs from a single render in the last bits (window coordinates enter
the interpolation), so the batch does not tile.

Example:
    >>> import numpy as np
    >>> from envs.config import SensorSpec
    >>> from envs.pose import camera_to_world
    >>> from scenes.types import MeshPart, Scene
    >>> quad = MeshPart("wall", np.array([[-1, 0, -2], [1, 0, -2], [1, 2, -2], [-1, 2, -2]], np.float32),
    ...                 np.array([[0, 1, 2], [0, 2, 3]], np.uint32), instance_id=7)
    >>> with BatchGLRenderer([Scene("a", [quad]), Scene("b", [quad])]) as batch:
    ...     views = batch.render([camera_to_world([0, 0, 0], 0.0, (0, 1, 0))] * 2, [SensorSpec("d", "depth", (8, 8))])
    >>> [round(float(v["d"][4, 4]), 4) for v in views]
    [2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.config import SensorSpec
from envs.render.gl_backend import GLBackend, create_context, read_target
from scenes.types import Scene

__all__ = ["BatchGLRenderer", "draw_then_read"]


def draw_then_read(views: Sequence[tuple[GLBackend, np.ndarray, Sequence[SensorSpec]]]) -> list[dict[str, np.ndarray]]:
    """``(backend, camera_to_world, sensors)`` per view, all backends in the current context: every
    view is drawn first (llvmpipe queues them), then every target is read back, so only the first
    readback waits. Returns one observation dict per view, as :meth:`GLBackend.render` gives."""
    drawn = []
    for index, (backend, c2w, sensors) in enumerate(views):
        for resolution, hfov, kinds, group in backend.sensor_groups(tuple(sensors)):
            drawn.append((index, backend.draw(c2w, resolution, hfov, kinds), resolution, group))
    out: list[dict[str, np.ndarray]] = [{} for _ in views]
    for index, targets, resolution, group in drawn:
        for s in group:
            out[index][s.uuid] = read_target(targets, s.type, resolution)
    return out


class BatchGLRenderer:
    """Render one view per scene of ``scenes`` per call, all drawn before the first readback."""

    def __init__(self, scenes: Sequence[Scene], near: float = 0.05, far: float = 50.0,
                 device_index: int | None = None, **backend_options):
        if not scenes:
            raise ValueError("BatchGLRenderer: expected at least one scene")
        self.ctx = create_context(device_index)
        self.backends = [GLBackend(scene, near=near, far=far, ctx=self.ctx, **backend_options) for scene in scenes]
        self._closed = False

    def __len__(self) -> int:
        return len(self.backends)

    def render(self, cameras_to_world: Sequence[np.ndarray],
               sensors: Sequence[SensorSpec]) -> list[dict[str, np.ndarray]]:
        """One observation dict per scene: ``cameras_to_world[i]`` (4x4) is scene ``i``'s camera,
        every sensor of ``sensors`` mounted there (as :meth:`GLBackend.render`)."""
        if self._closed:
            raise RuntimeError("BatchGLRenderer.render called after close()")
        n = len(self.backends)
        if len(cameras_to_world) != n:
            raise ValueError(f"BatchGLRenderer.render: {len(cameras_to_world)} cameras for {n} scenes")
        c2ws = [np.asarray(c, float) for c in cameras_to_world]
        if any(c.shape != (4, 4) or not np.all(np.isfinite(c)) for c in c2ws):
            raise ValueError("BatchGLRenderer.render: every camera_to_world must be a finite 4x4 matrix")
        with self.ctx:
            return draw_then_read([(b, c2w, sensors) for b, c2w in zip(self.backends, c2ws)])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for backend in self.backends:
            backend.close()
        self.ctx.release()

    def __enter__(self) -> "BatchGLRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

