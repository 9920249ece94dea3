"""moderngl renderer: a headless EGL context, one pass into three render targets per camera.

On machines without a GPU this runs on Mesa llvmpipe (Debian: ``libegl1 libegl-mesa0
libgl1-mesa-dri``), where cost follows the number of triangles drawn, so draws whose bounding sphere
is outside the view frustum are skipped.

Example:
    >>> import numpy as np
    >>> from scenes.types import MeshPart, Scene
    >>> from envs.config import SensorSpec
    >>> from envs.pose import camera_to_world
    >>> quad = MeshPart("wall", np.array([[-1, 0, -2], [1, 0, -2], [1, 2, -2], [-1, 2, -2]], np.float32),
    ...                 np.array([[0, 1, 2], [0, 2, 3]], np.uint32), instance_id=7)
    >>> with GLBackend(Scene("demo", [quad])) as gl:
    ...     obs = gl.render(camera_to_world([0, 0, 0], 0.0, (0, 1, 0)), [SensorSpec("d", "depth", (8, 8))])
    >>> round(float(obs["d"][4, 4]), 4)
    2.0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.config import SensorSpec
from envs.render import shaders
from envs.render.base import RenderBackend
from envs.render.camera import frustum_planes, perspective, spheres_in_frustum
from envs.render.geometry import VERTEX_ATTRIBUTES, VERTEX_FORMAT, pack_parts
from scenes.types import Scene


@dataclass(frozen=True)
class Lighting:
    """World-fixed lights: directions point *towards* the light (normalised on use)."""

    key_direction: tuple[float, float, float] = (0.35, 1.0, 0.55)  # high, from +x/+z
    fill_direction: tuple[float, float, float] = (-0.6, 0.35, -0.7)  # low, from the other side
    ambient: float = 0.35
    key: float = 0.6
    fill: float = 0.25


@dataclass
class FrameStats:
    """What the last pass drew (for benchmarks and culling checks)."""

    draws: int = 0
    triangles: int = 0
    culled_draws: int = 0


class _Targets:
    """Colour (RGBA8), z-depth (R32F) and instance id (R32I) textures plus a depth buffer."""

    def __init__(self, ctx, height: int, width: int):
        size = (width, height)
        self.color = ctx.texture(size, 4, dtype="f1")
        self.depth = ctx.texture(size, 1, dtype="f4")
        self.ids = ctx.texture(size, 1, dtype="i4")
        self.zbuffer = ctx.depth_renderbuffer(size)
        self.fbo = ctx.framebuffer([self.color, self.depth, self.ids], self.zbuffer)

    def release(self) -> None:
        for obj in (self.fbo, self.color, self.depth, self.ids, self.zbuffer):
            obj.release()


class GLBackend(RenderBackend):
    """Render a :class:`scenes.types.Scene` with moderngl; geometry and textures are uploaded once."""

    def __init__(
        self,
        scene: Scene,
        near: float = 0.05,
        far: float = 50.0,
        lighting: Lighting | None = None,
        frustum_culling: bool = True,
        chunk_size: float = 4.0,
    ):
        import moderngl

        os.environ.setdefault("EGL_PLATFORM", "surfaceless")
        self._mgl = moderngl
        self.near, self.far = float(near), float(far)
        self.lighting = lighting or Lighting()
        self.frustum_culling = frustum_culling
        self.stats = FrameStats()
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:  # the message from EGL alone rarely says what to install
            raise RuntimeError(
                "could not create a headless EGL OpenGL context (moderngl backend='egl'). On Debian/Ubuntu "
                "install `libegl1 libegl-mesa0 libgl1-mesa-dri`; EGL_PLATFORM="
                f"{os.environ.get('EGL_PLATFORM')!r}. Original error: {exc}"
            ) from exc
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)  # scene meshes are often open or inconsistently wound
        self.prog = self.ctx.program(vertex_shader=shaders.VERTEX, fragment_shader=shaders.FRAGMENT)
        self._targets: dict[tuple[int, int], _Targets] = {}
        self._upload(scene, chunk_size)
        self._set_lighting()
        self._closed = False

    def _upload(self, scene: Scene, chunk_size: float) -> None:
        packed = pack_parts(scene.meshes, chunk_size=chunk_size)
        self.draws = packed.draws
        self._vbo = self._ibo = self._vao = None
        if len(packed.indices):
            self._vbo = self.ctx.buffer(packed.vertices.tobytes())
            self._ibo = self.ctx.buffer(packed.indices.tobytes())
            self._vao = self.ctx.vertex_array(
                self.prog, [(self._vbo, VERTEX_FORMAT, *VERTEX_ATTRIBUTES)], self._ibo, index_element_size=4
            )
        self._textures = [self._make_texture(t) for t in packed.textures]
        self._white = self._make_texture(np.full((1, 1, 3), 255, np.uint8))
        # Draw grouped by texture to bind each texture once per pass.
        self._order = np.array(sorted(range(len(self.draws)), key=lambda i: self.draws[i].texture), dtype=np.int64)
        self._centers = np.array([d.center for d in self.draws], float).reshape(-1, 3)
        self._radii = np.array([d.radius for d in self.draws], float)
        self.num_triangles = int(len(packed.indices) // 3)

    def _make_texture(self, image: np.ndarray):
        image = np.ascontiguousarray(image, dtype=np.uint8)
        h, w, c = image.shape
        tex = self.ctx.texture((w, h), c, image.tobytes(), alignment=1)
        tex.build_mipmaps()
        tex.filter = (self._mgl.LINEAR_MIPMAP_LINEAR, self._mgl.LINEAR)
        tex.repeat_x = tex.repeat_y = True
        return tex

    def _set_lighting(self) -> None:
        lt = self.lighting
        self.prog["u_key_dir"].value = tuple(np.asarray(lt.key_direction) / np.linalg.norm(lt.key_direction))
        self.prog["u_fill_dir"].value = tuple(np.asarray(lt.fill_direction) / np.linalg.norm(lt.fill_direction))
        self.prog["u_light"].value = (lt.ambient, lt.key, lt.fill)
        self.prog["u_tex"].value = 0

    def render(self, camera_to_world: np.ndarray, sensors: Sequence[SensorSpec]) -> dict[str, np.ndarray]:
        if self._closed:
            raise RuntimeError("GLBackend.render called after close()")
        c2w = np.asarray(camera_to_world, float)
        if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
            raise ValueError(f"camera_to_world must be a finite 4x4 matrix, got shape {c2w.shape}")
        groups: dict[tuple, list[SensorSpec]] = {}
        for s in sensors:
            groups.setdefault((s.resolution, s.hfov), []).append(s)
        out: dict[str, np.ndarray] = {}
        for (resolution, hfov), group in groups.items():
            targets = self._draw(c2w, resolution, hfov)
            for s in group:
                out[s.uuid] = _read(targets, s.type, resolution)
        return out

    def _draw(self, c2w: np.ndarray, resolution: tuple[int, int], hfov: float) -> _Targets:
        h, w = resolution
        targets = self._targets.get(resolution)
        if targets is None:
            targets = self._targets[resolution] = _Targets(self.ctx, h, w)
        view = np.linalg.inv(c2w)
        proj = perspective(hfov, w, h, self.near, self.far)
        view_proj = proj @ view
        # Flipping clip-space y makes GL's bottom-up framebuffer read back top row first.
        flipped = view_proj.copy()
        flipped[1] *= -1
        targets.fbo.use()
        # All targets clear to zero bits: black, depth 0 (nothing hit), id 0 (background).
        targets.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.prog["u_view_proj"].write(flipped.T.astype("f4").tobytes())
        self.prog["u_view"].write(view.T.astype("f4").tobytes())
        self.prog["u_cam_pos"].value = tuple(c2w[:3, 3])
        self._draw_visible(view_proj)
        return targets

    def _draw_visible(self, view_proj: np.ndarray) -> None:
        order = self._order
        if self.frustum_culling and len(order):
            visible = spheres_in_frustum(frustum_planes(view_proj), self._centers, self._radii)
            order = order[visible[order]]
        uid = self.prog["u_instance_id"]
        bound, tris = None, 0
        for i in order:
            d = self.draws[i]
            if d.texture != bound:
                (self._textures[d.texture] if d.texture >= 0 else self._white).use(0)
                bound = d.texture
            uid.value = d.instance_id
            self._vao.render(self._mgl.TRIANGLES, vertices=d.count, first=d.first)
            tris += d.count // 3
        self.stats = FrameStats(len(order), tris, len(self.draws) - len(order))

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for t in self._targets.values():
            t.release()
        self.ctx.release()


def _read(targets: _Targets, kind: str, resolution: tuple[int, int]) -> np.ndarray:
    h, w = resolution
    if kind == "rgb":
        out = np.empty((h, w, 3), np.uint8)
        targets.fbo.read_into(out, components=3, attachment=0)
    elif kind == "depth":
        out = np.empty((h, w), np.float32)
        targets.fbo.read_into(out, components=1, attachment=1, dtype="f4")
    elif kind == "semantic":
        out = np.empty((h, w), np.int32)
        targets.fbo.read_into(out, components=1, attachment=2, dtype="i4")
    else:
        raise ValueError(f"unknown sensor type {kind!r}")
    return out
