"""Geometry sources of VLM2: point maps X_t, geometry tokens G_t and a view token Z_t per frame.

Conventions (habitat-lab's): OpenGL camera (x right, y up, looks along -z), world Y up, metres.
`depth` is metric z-depth (distance along the viewing axis); `intrinsics` K use the usual pixel
convention (u right, v down, origin at the top-left corner, pixel centres at +0.5), so a pixel
(u, v) with depth d sits at camera point ((u+.5-cx)/fx*d, -(v+.5-cy)/fy*d, -d).
Invalid depth (0, negative, inf, nan) gives NaN points and is excluded from every pooling.

Example:
    >>> import torch
    >>> K = torch.tensor([[[2., 0, 2], [0, 2., 2], [0, 0, 1]]])
    >>> camera_points(torch.ones(1, 4, 4), K)[0, :, 0, 0]  # top-left pixel, 1 m deep
    tensor([-0.7500,  0.7500, -1.0000])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GeometryOutput:
    """Per-frame geometry. tokens: G_t (B, N, Dg); view: Z_t (B, Dg); points: X_t (B, 3, h, w)
    (NaN where invalid); patch_coords: C_t (B, N, 3) metres; patch_valid: (B, N, 1) fraction of valid pixels."""

    tokens: torch.Tensor
    view: torch.Tensor
    points: torch.Tensor
    patch_coords: torch.Tensor
    patch_valid: torch.Tensor


def _check_geometry(depth: torch.Tensor, intrinsics: torch.Tensor, cam_to_world: torch.Tensor | None) -> None:
    if depth.dim() != 3:
        raise ValueError(f"geometry['depth'] must be (B, H, W) metres, got shape {tuple(depth.shape)}")
    b = depth.shape[0]
    if intrinsics.shape != (b, 3, 3):
        raise ValueError(f"geometry['intrinsics'] must be ({b}, 3, 3), got {tuple(intrinsics.shape)}")
    if cam_to_world is not None and cam_to_world.shape != (b, 4, 4):
        raise ValueError(f"geometry['cam_to_world'] must be ({b}, 4, 4), got {tuple(cam_to_world.shape)}")


def camera_points(depth: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Back-project z-depth (B, H, W) with K (B, 3, 3) to OpenGL camera points (B, 3, H, W), NaN if invalid."""
    _check_geometry(depth, intrinsics, None)
    b, h, w = depth.shape
    depth = depth.float()
    k = intrinsics.float()
    v, u = torch.meshgrid(
        torch.arange(h, device=depth.device, dtype=torch.float32) + 0.5,
        torch.arange(w, device=depth.device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    fx, fy = k[:, 0, 0].view(b, 1, 1), k[:, 1, 1].view(b, 1, 1)
    cx, cy = k[:, 0, 2].view(b, 1, 1), k[:, 1, 2].view(b, 1, 1)
    x = (u - cx) / fx * depth
    y = -(v - cy) / fy * depth
    pts = torch.stack([x, y, -depth], dim=1)
    valid = torch.isfinite(depth) & (depth > 0)
    return torch.where(valid.unsqueeze(1), pts, torch.full_like(pts, float("nan")))


def transform_points(points: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """Apply rigid transforms (B, 4, 4) to point maps (B, 3, H, W); NaN stays NaN."""
    b = points.shape[0]
    flat = points.reshape(b, 3, -1)
    out = transform[:, :3, :3].float() @ flat + transform[:, :3, 3:].float()
    return out.reshape(points.shape)


def masked_pool(points: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Average the finite points of each cell of a (B, 3, H, W) map into `size`; returns
    (pooled (B, 3, h, w) with 0 where a cell has no valid pixel, valid fraction (B, 1, h, w))."""
    valid = torch.isfinite(points).all(dim=1, keepdim=True).to(points.dtype)
    clean = torch.nan_to_num(points, nan=0.0, posinf=0.0, neginf=0.0) * valid
    frac = F.adaptive_avg_pool2d(valid, size)
    pooled = F.adaptive_avg_pool2d(clean, size) / frac.clamp_min(1e-6)
    return pooled, frac


def geometry_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance (metres, summed over x/y/z) between predicted point maps (B, 3, h, w) and
    target point maps (B, 3, H, W) (NaN = no supervision), the target pooled to the prediction's size.

    Example:
        >>> geometry_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 4, 4))
        tensor(3.)
    """
    if pred.dim() != 4 or pred.shape[1] != 3 or target.dim() != 4 or target.shape[1] != 3:
        raise ValueError(f"geometry_loss expects (B, 3, h, w) maps, got {tuple(pred.shape)} and {tuple(target.shape)}")
    tgt, frac = masked_pool(target.to(pred.dtype), pred.shape[-2:])
    weight = (frac > 0.5).to(pred.dtype)
    err = (pred - tgt).abs().sum(dim=1, keepdim=True) * weight
    return err.sum() / weight.sum().clamp_min(1.0)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class OracleGeometry(nn.Module):
    """Point maps from depth + pose; a small conv encoder gives per-patch G_t, an MLP encodes the pose into Z_t."""

    def __init__(self, grid: int, dim: int, coord_scale: float, frame: str = "first"):
        super().__init__()
        self.grid, self.coord_scale, self.frame = grid, coord_scale, frame
        self.encoder = nn.Sequential(
            nn.Conv2d(4, dim // 2, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(dim // 2, dim, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(dim, dim, 1),
        )
        self.pose_encoder = nn.Sequential(nn.Linear(12, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, depth: torch.Tensor, intrinsics: torch.Tensor, cam_to_world: torch.Tensor,
                ref_cam_to_world: torch.Tensor | None = None) -> GeometryOutput:
        _check_geometry(depth, intrinsics, cam_to_world)
        pose = cam_to_world.float()
        if self.frame == "first":
            if ref_cam_to_world is None:
                raise ValueError("OracleGeometry with frame='first' needs ref_cam_to_world (the episode's first pose)")
            pose = torch.linalg.inv(ref_cam_to_world.float()) @ pose
        points = transform_points(camera_points(depth, intrinsics), pose)
        g = self.grid
        fine, fine_frac = masked_pool(points, (4 * g, 4 * g))
        tokens = _to_tokens(self.encoder(torch.cat([fine / self.coord_scale, fine_frac], dim=1)))
        coords, frac = masked_pool(points, (g, g))
        pose_vec = torch.cat([pose[:, :3, :3].flatten(1), pose[:, :3, 3] / self.coord_scale], dim=1)
        return GeometryOutput(tokens, self.pose_encoder(pose_vec), points, _to_tokens(coords), _to_tokens(frac))


class LearnedGeometry(nn.Module):
    """Predicts camera-frame point maps (at 1/4 resolution), G_t and Z_t from RGB alone.

    Trained with `geometry_loss(out.points, camera_points(depth, K))`. Its points stay in the
    camera frame: no pose is predicted, so the common frame of this source is the current camera.
    """

    def __init__(self, grid: int, dim: int, coord_scale: float, width: int = 32):
        super().__init__()
        self.grid, self.coord_scale = grid, coord_scale
        self.trunk = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.GELU(),
        )
        self.point_head = nn.Conv2d(2 * width, 3, 1)
        self.token_head = nn.Conv2d(2 * width, dim, 1)
        self.view_head = nn.Sequential(nn.Linear(2 * width, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, pixel_values: torch.Tensor) -> GeometryOutput:
        feats = self.trunk(pixel_values)
        points = self.point_head(feats) * self.coord_scale
        g = self.grid
        tokens = _to_tokens(self.token_head(F.adaptive_avg_pool2d(feats, (g, g))))
        coords = _to_tokens(F.adaptive_avg_pool2d(points, (g, g)))
        view = self.view_head(feats.mean(dim=(2, 3)))
        return GeometryOutput(tokens, view, points, coords, torch.ones_like(coords[..., :1]))


__all__ = ["GeometryOutput", "camera_points", "transform_points", "masked_pool", "geometry_loss",
           "OracleGeometry", "LearnedGeometry"]
