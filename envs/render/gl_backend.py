"""moderngl renderer: a headless EGL context, one pass per camera into the render targets it needs.

On machines without a GPU this runs on Mesa llvmpipe (Debian: ``libegl1 libegl-mesa0
libgl1-mesa-dri``), where cost follows the triangles and fragments drawn, so draws outside the view
frustum or in rooms that cannot be seen are skipped and closed meshes are back-face culled.

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
from envs.render.portals import RoomVisibility
from scenes.types import Scene

#: Bumped whenever a change to the shaders or the render pass changes the pixels of a frame.
RENDERER_VERSION = 1


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


class RenderTargets:
    """One texture per requested kind (RGBA8 colour, R32F z-depth, R32I id) plus a depth buffer."""

    FORMATS = {"rgb": (4, "f1"), "depth": (1, "f4"), "semantic": (1, "i4")}

    def __init__(self, ctx, height: int, width: int, kinds: tuple[str, ...]):
        size = (width, height)
        self.textures = {k: ctx.texture(size, self.FORMATS[k][0], dtype=self.FORMATS[k][1]) for k in kinds}
        self.attachment = {k: i for i, k in enumerate(kinds)}
        self.zbuffer = ctx.depth_renderbuffer(size)
        self.fbo = ctx.framebuffer([self.textures[k] for k in kinds], self.zbuffer)

    def release(self) -> None:
        for obj in (self.fbo, *self.textures.values(), self.zbuffer):
            obj.release()


class GLBackend(RenderBackend):
    """Render a :class:`scenes.types.Scene` with moderngl; geometry and textures are uploaded once.

    Work is skipped in three ways that never change the pixels: ``frustum_culling`` (draws whose
    bounding sphere is outside the view), ``room_culling`` (rooms not seen through doorways, see
    :mod:`envs.render.portals`; needs the scene's ``rooms`` and ``doorways``) and
    ``backface_culling`` (only for parts that are closed and wound outwards). Only the targets the
    requested sensor types need are rendered. llvmpipe's thread count is Mesa's ``LP_NUM_THREADS``
    environment variable (default: one per core), read when the first context is made. ``ctx``: an
    existing context to upload into (several scenes in one context, :mod:`envs.render.batch`);
    ``None`` makes one of its own, on EGL device ``device_index`` (``None``: the default display).
    """

    def __init__(
        self,
        scene: Scene,
        near: float = 0.05,
        far: float = 50.0,
        lighting: Lighting | None = None,
        frustum_culling: bool = True,
        chunk_size: float = 4.0,
        room_culling: bool = True,
        backface_culling: bool = True,
        ctx=None,
        device_index: int | None = None,
    ):
        import moderngl

        os.environ.setdefault("EGL_PLATFORM", "surfaceless")
        self._mgl = moderngl
        self.near, self.far = float(near), float(far)
        self.lighting = lighting or Lighting()
        self.frustum_culling = frustum_culling
        self.backface_culling = backface_culling
        self.stats = FrameStats()
        self._owns_ctx = ctx is None
        self.ctx = create_context(device_index) if ctx is None else ctx
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        # Clip-space y is flipped (see draw_view), which mirrors the winding on screen.
        self.ctx.front_face = "cw"
        self._targets: dict[tuple, RenderTargets] = {}
        self._passes: dict[tuple[str, ...], tuple] = {}
        self._projections: dict[tuple, np.ndarray] = {}
        self._sensor_groups: dict[tuple, list[tuple]] = {}
        self._closed = False
        self._upload(scene, chunk_size)
        self.rooms = None
        if room_culling and scene.rooms and len(self.draws):
            self.rooms = RoomVisibility(scene.rooms, scene.doorways, self._lo, self._hi)

    def _upload(self, scene: Scene, chunk_size: float) -> None:
        packed = pack_parts(scene.meshes, chunk_size=chunk_size)
        self.draws = packed.draws
        self._vbo = self._ibo = None
        if len(packed.indices):
            self._vbo = self.ctx.buffer(packed.vertices.tobytes())
            self._ibo = self.ctx.buffer(packed.indices.tobytes())
        self._texture = self._make_texture_array(packed.textures)
        # Two-sided draws first, then back-face-culled ones: two multi-draw calls per pass.
        self._order = np.array(sorted(range(len(self.draws)), key=lambda i: self.draws[i].cull_back), dtype=np.int64)
        self._cull_back = np.array([d.cull_back for d in self.draws], bool)
        # glMultiDrawElementsIndirect commands: count, instance count, first index, base vertex, base instance
        self._commands = np.array([[d.count, 1, d.first, 0, 0] for d in self.draws], np.uint32).reshape(-1, 5)
        self._indirect = self.ctx.buffer(reserve=max(1, len(self.draws)) * 20, dynamic=True)
        self._centers = np.array([d.center for d in self.draws], float).reshape(-1, 3)
        self._radii = np.array([d.radius for d in self.draws], float)
        self._lo = np.array([d.lo for d in self.draws], float).reshape(-1, 3)
        self._hi = np.array([d.hi for d in self.draws], float).reshape(-1, 3)
        self.num_triangles = int(len(packed.indices) // 3)

    def _make_texture_array(self, textures: list[np.ndarray]):
        """All textures as layers of one mipmapped, repeating array texture, plus a white last layer.

        Layers share one size: textures of another size are resampled to the largest width and height.
        """
        from skimage.transform import resize

        images = [np.asarray(t, np.uint8)[..., :3] for t in textures]
        h = max([im.shape[0] for im in images], default=1)
        w = max([im.shape[1] for im in images], default=1)
        layers = np.full((len(images) + 1, h, w, 3), 255, np.uint8)
        for i, im in enumerate(images):
            if im.shape[:2] != (h, w):
                im = np.clip(resize(im, (h, w), order=1, preserve_range=True, anti_aliasing=False) + 0.5, 0, 255)
            layers[i] = im
        tex = self.ctx.texture_array((w, h, len(layers)), 3, layers.tobytes(), alignment=1)
        tex.build_mipmaps()
        tex.filter = (self._mgl.LINEAR_MIPMAP_LINEAR, self._mgl.LINEAR)
        tex.repeat_x = tex.repeat_y = True
        return tex

    def _pass(self, kinds: tuple[str, ...]):
        """(program, vertex array) writing ``kinds``; built on first use."""
        entry = self._passes.get(kinds)
        if entry is None:
            prog = self.ctx.program(vertex_shader=shaders.VERTEX, fragment_shader=shaders.fragment(kinds))
            lt = self.lighting
            values = {
                "u_key_dir": tuple(np.asarray(lt.key_direction) / np.linalg.norm(lt.key_direction)),
                "u_fill_dir": tuple(np.asarray(lt.fill_direction) / np.linalg.norm(lt.fill_direction)),
                "u_light": (lt.ambient, lt.key, lt.fill),
                "u_tex": 0,
            }
            for name, value in values.items():
                if name in prog:  # the compiler drops what a depth- or id-only pass does not use
                    prog[name].value = value
            vao = None
            if self._vbo is not None:
                vao = self.ctx.vertex_array(prog, [(self._vbo, VERTEX_FORMAT, *VERTEX_ATTRIBUTES)], self._ibo,
                                            index_element_size=4, skip_errors=True)
            entry = self._passes[kinds] = (prog, vao)
        return entry

    def render(self, camera_to_world: np.ndarray, sensors: Sequence[SensorSpec]) -> dict[str, np.ndarray]:
        if self._closed:
            raise RuntimeError("GLBackend.render called after close()")
        c2w = np.asarray(camera_to_world, float)
        if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
            raise ValueError(f"camera_to_world must be a finite 4x4 matrix, got shape {c2w.shape}")
        out: dict[str, np.ndarray] = {}
        # Several backends (one per cached scene) share a process, each with its own EGL context: make
        # this one current, or the draw calls would go to whichever context was made current last.
        with self.ctx:
            for resolution, hfov, kinds, group in self.sensor_groups(tuple(sensors)):
                targets = self.draw(c2w, resolution, hfov, kinds)
                for s in group:
                    out[s.uuid] = read_target(targets, s.type, resolution)
        return out

    def sensor_groups(self, sensors: tuple[SensorSpec, ...]) -> list[tuple]:
        """``(resolution, hfov, kinds, sensors)`` per camera of ``sensors`` (checked and grouped once
        per sensor tuple: every frame asks for the same one)."""
        entry = self._sensor_groups.get(sensors)
        if entry is None:
            groups: dict[tuple, list[SensorSpec]] = {}
            for s in sensors:
                if s.type not in shaders.KINDS:
                    raise ValueError(f"unknown sensor type {s.type!r}")
                groups.setdefault((s.resolution, s.hfov), []).append(s)
            entry = self._sensor_groups[sensors] = [
                (resolution, hfov, tuple(k for k in shaders.KINDS if any(s.type == k for s in group)), group)
                for (resolution, hfov), group in groups.items()]
        return entry

    def draw(self, c2w: np.ndarray, resolution: tuple[int, int], hfov: float, kinds: tuple[str, ...]) -> RenderTargets:
        """Clear this camera's targets and draw the view from ``c2w`` into them (read them with
        :func:`read_target`)."""
        h, w = resolution
        targets = self._targets.get((resolution, kinds))
        if targets is None:
            targets = self._targets[(resolution, kinds)] = RenderTargets(self.ctx, h, w, kinds)
        targets.fbo.use()
        # All targets clear to zero bits: black, depth 0 (nothing hit), id 0 (background).
        targets.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.draw_view(c2w, resolution, hfov, kinds)
        return targets

    def draw_view(self, c2w: np.ndarray, resolution: tuple[int, int], hfov: float, kinds: tuple[str, ...]) -> None:
        """Draw the view from ``c2w`` into the bound framebuffer's viewport."""
        h, w = resolution
        prog, vao = self._pass(kinds)
        view = rigid_inverse(c2w)
        proj = self._projections.get((resolution, hfov))
        if proj is None:
            proj = self._projections[(resolution, hfov)] = perspective(hfov, w, h, self.near, self.far)
        view_proj = proj @ view
        # Flipping clip-space y makes GL's bottom-up framebuffer read back top row first.
        flipped = view_proj.copy()
        flipped[1] *= -1
        prog["u_view_proj"].write(flipped.T.astype("f4").tobytes())
        if "u_view" in prog:
            prog["u_view"].write(view.T.astype("f4").tobytes())
        if "u_cam_pos" in prog:
            prog["u_cam_pos"].value = tuple(c2w[:3, 3])
        self._draw_visible(prog, vao, view_proj, c2w[:3, 3], kinds)

    def _draw_visible(self, prog, vao, view_proj: np.ndarray, cam_pos: np.ndarray, kinds: tuple[str, ...]) -> None:
        order = self._order
        if len(order) and (self.frustum_culling or self.rooms is not None):
            visible = np.ones(len(self.draws), bool)
            if self.frustum_culling:
                visible &= spheres_in_frustum(frustum_planes(view_proj), self._centers, self._radii)
            if self.rooms is not None:
                visible &= self.rooms.visible_draws(cam_pos, view_proj)
            order = order[visible[order]]
        if len(order):
            commands = self._commands[order]
            self._indirect.write(commands.tobytes())
            if "rgb" in kinds:
                self._texture.use(0)
            n_two_sided = int(np.count_nonzero(~self._cull_back[order])) if self.backface_culling else len(order)
            if n_two_sided:
                vao.render_indirect(self._indirect, self._mgl.TRIANGLES, count=n_two_sided, first=0)
            if n_two_sided < len(order):
                self.ctx.enable(self._mgl.CULL_FACE)
                vao.render_indirect(self._indirect, self._mgl.TRIANGLES, count=len(order) - n_two_sided,
                                    first=n_two_sided)
                self.ctx.disable(self._mgl.CULL_FACE)
        tris = int(self._commands[order, 0].sum()) // 3 if len(order) else 0
        self.stats = FrameStats(len(order), tris, len(self.draws) - len(order))

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        with self.ctx:
            for t in self._targets.values():
                t.release()
            if not self._owns_ctx:  # a shared context lives on: give back what this scene holds in it
                for prog, vao in self._passes.values():
                    for obj in (vao, prog):
                        if obj is not None:
                            obj.release()
                for obj in (self._vbo, self._ibo, self._indirect, self._texture):
                    if obj is not None:
                        obj.release()
        if self._owns_ctx:
            self.ctx.release()


def create_context(device_index: int | None = None):
    """A headless EGL OpenGL context, or a RuntimeError that says what to install. ``device_index``
    picks one of the EGL devices (``eglQueryDevicesEXT``: a GPU's vendor driver, Mesa's software
    device); ``None`` takes the default display."""
    import moderngl

    if device_index is not None:
        try:
            return moderngl.create_standalone_context(backend="egl", device_index=int(device_index))
        except Exception as exc:
            raise RuntimeError(f"sim.gpu_device_id={device_index}: no EGL context on that device ({exc}); it "
                               "indexes the EGL devices of this machine, null takes the default display") from exc
    try:
        return moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # the message from EGL alone rarely says what to install
        raise RuntimeError(
            "could not create a headless EGL OpenGL context (moderngl backend='egl'). On Debian/Ubuntu "
            "install `libegl1 libegl-mesa0 libgl1-mesa-dri`; EGL_PLATFORM="
            f"{os.environ.get('EGL_PLATFORM')!r}. Original error: {exc}"
        ) from exc


def rigid_inverse(m: np.ndarray) -> np.ndarray:
    """The inverse of a rotation + translation 4x4 (a camera pose): ``[R^T, -R^T t]``, exact where
    ``np.linalg.inv`` solves a general system.

    >>> from envs.pose import camera_to_world
    >>> m = camera_to_world(np.array([1.0, 0.0, 2.0]), 0.7, (0.0, 1.25, 0.0))
    >>> bool(np.allclose(rigid_inverse(m) @ m, np.eye(4)))
    True
    """
    out = np.eye(4)
    rt = m[:3, :3].T
    out[:3, :3] = rt
    out[:3, 3] = -rt @ m[:3, 3]
    return out


def read_target(targets: RenderTargets, kind: str, resolution: tuple[int, int]) -> np.ndarray:
    h, w = resolution
    at = targets.attachment[kind]
    if kind == "rgb":
        out = np.empty((h, w, 3), np.uint8)
        targets.fbo.read_into(out, components=3, attachment=at)
    elif kind == "depth":
        out = np.empty((h, w), np.float32)
        targets.fbo.read_into(out, components=1, attachment=at, dtype="f4")
    else:
        out = np.empty((h, w), np.int32)
        targets.fbo.read_into(out, components=1, attachment=at, dtype="i4")
    return out
