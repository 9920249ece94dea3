"""Pinhole camera maths shared by the renderer, the tests and users building point maps.

Camera frame: OpenGL (x right, y up, looking along -Z). Image frame: pixel (row v, column u) from the
top-left corner; pixel (v, u) covers [u, u+1) x [v, v+1), so its centre is (u + 0.5, v + 0.5).
``K`` maps the OpenCV-style ray (x, -y, -z) of a camera-frame point to those continuous coordinates.
Depth is z-depth: the distance along the optical axis, ``-z`` in the camera frame.

Example:
    >>> K = intrinsics(hfov_deg=90, width=128, height=96)
    >>> K.round(6).tolist()
    [[64.0, 0.0, 64.0], [0.0, 64.0, 48.0], [0.0, 0.0, 1.0]]
    >>> uv, z = project(K, np.eye(4), np.array([[1.0, 0.0, -2.0]]))
    >>> uv.round(6).tolist(), z.tolist()
    ([[96.0, 48.0]], [2.0])
"""

from __future__ import annotations

import math

import numpy as np


def intrinsics(hfov_deg: float, width: int, height: int) -> np.ndarray:
    """3x3 intrinsics ``K`` for square pixels and the principal point at the image centre."""
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def perspective(hfov_deg: float, width: int, height: int, near: float, far: float) -> np.ndarray:
    """4x4 OpenGL projection matrix (clip space, column vectors) consistent with :func:`intrinsics`."""
    t = math.tan(math.radians(hfov_deg) / 2)
    sx = 1 / t
    sy = width / (height * t)  # square pixels: the vertical half-extent is t * height / width
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = sx, sy
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


def project(K: np.ndarray, camera_to_world: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) to continuous pixel coordinates (N, 2) as (u, v), and z-depth (N,)."""
    world_to_camera = np.linalg.inv(camera_to_world)
    pc = np.asarray(points, float) @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    z = -pc[:, 2]
    cv = np.stack([pc[:, 0], -pc[:, 1], z], axis=1)
    uvw = cv @ np.asarray(K, float).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    return uv, z


def backproject(depth: np.ndarray, K: np.ndarray, camera_to_world: np.ndarray | None = None) -> np.ndarray:
    """Point map (H, W, 3) from a z-depth image through pixel centres.

    Points are in the camera frame (OpenGL axes), or in the world when ``camera_to_world`` is given.
    Pixels with depth 0 (nothing hit) give the camera centre; mask them with ``depth > 0``.
    """
    depth = np.asarray(depth, np.float64)
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x = (u - cx) / fx * depth
    y = -(v - cy) / fy * depth
    pts = np.stack([x, y, -depth], axis=-1)
    if camera_to_world is not None:
        pts = pts @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]
    return pts


# Gribb & Hartmann: the left/right/bottom/top/near/far planes are row 3 plus or minus rows 0, 1, 2.
_PLANE_ROWS = np.array([0, 0, 1, 1, 2, 2])
_PLANE_SIGNS = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def frustum_planes(view_proj: np.ndarray) -> np.ndarray:
    """The 6 clip planes (6, 4) as ``[a, b, c, d]`` with ``a x + b y + c z + d >= 0`` inside, unit normals.

    Extracted from the rows of the view-projection matrix (Gribb & Hartmann).
    """
    m = np.asarray(view_proj, float)
    planes = m[3] + _PLANE_SIGNS[:, None] * m[_PLANE_ROWS]
    return planes / np.sqrt(np.einsum("ij,ij->i", planes[:, :3], planes[:, :3]))[:, None]



def spheres_in_frustum(planes: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean mask (N,): which bounding spheres touch the frustum (conservative: no false negatives)."""
    dist = centers @ planes[:, :3].T + planes[:, 3]
    return (dist + radii[:, None] >= 0).all(axis=1)
