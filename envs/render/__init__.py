"""Render backends for :class:`envs.Simulator` (moderngl/EGL by default, habitat-sim optional)."""

from envs.render.base import RenderBackend
from envs.render.camera import backproject, intrinsics, perspective, project

__all__ = ["RenderBackend", "backproject", "intrinsics", "perspective", "project"]
