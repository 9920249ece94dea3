"""3D-aware frame representation of VLM2: A3PI, VAGA and the cross-attention fusion.

- A3PI: F_pa = F + alpha * phi(C), alpha in [0, 1] per patch from a learned gate on [F ; phi(C)].
- VAGA: G_va = MLP([G ; psi_v(Z)]) per patch, plus one appended projected view token (N + 1 tokens).
- Fusion: H = CrossAttn(queries F_pa, keys/values G_va) (or `concat` / `add` ablations).

Example:
    >>> import torch
    >>> block = CrossAttentionBlock(dim=16, num_heads=2)
    >>> block(torch.randn(2, 5, 16), torch.randn(2, 7, 16)).shape
    torch.Size([2, 5, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention + MLP block with residuals.

    A learned null key/value is always attended to, so an empty memory (all keys masked) gives a
    well-defined read instead of NaN, with no special case in the code.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm_q, self.norm_kv, self.norm_out = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.null = nn.Parameter(torch.zeros(1, 1, dim))
        self.ffn = mlp(dim, 2 * dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, ctx_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, Nq, D) queries; ctx: (B, Nk, D); ctx_mask: (B, Nk) bool, True = attend."""
        b, nq, d = x.shape
        ctx = torch.cat([self.null.expand(b, 1, d).to(ctx.dtype), self.norm_kv(ctx)], dim=1)
        h = self.num_heads
        q = self.q(self.norm_q(x)).view(b, nq, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).view(b, ctx.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None
        if ctx_mask is not None:
            keep = torch.cat([torch.ones_like(ctx_mask[:, :1]), ctx_mask.bool()], dim=1)
            mask = keep[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(out.transpose(1, 2).reshape(b, nq, d))
        return x + self.ffn(self.norm_out(x))


class A3PI(nn.Module):
    """Adaptive 3D position injection; `enabled=False` returns F unchanged (ablation)."""

    def __init__(self, dim: int, coord_scale: float, enabled: bool = True):
        super().__init__()
        self.enabled, self.coord_scale = enabled, coord_scale
        if enabled:
            self.phi = mlp(4, dim, dim)  # patch centre xyz + fraction of valid pixels
            self.gate = nn.Linear(2 * dim, 1)

    def forward(self, feats: torch.Tensor, coords: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (F_pa, alpha); alpha is None when disabled."""
        if not self.enabled:
            return feats, None
        pe = self.phi(torch.cat([coords / self.coord_scale, valid], dim=-1).to(feats.dtype))
        alpha = torch.sigmoid(self.gate(torch.cat([feats, pe], dim=-1)))
        return feats + alpha * pe, alpha


class VAGA(nn.Module):
    """Viewpoint-aware geometry alignment; `enabled=False` is a plain linear projection of G (N tokens)."""

    def __init__(self, geometry_dim: int, dim: int, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        if enabled:
            self.psi_v = mlp(geometry_dim, dim, dim)
            self.align = mlp(geometry_dim + dim, dim, dim)
            self.view_proj = nn.Linear(dim, dim)
        else:
            self.proj = nn.Linear(geometry_dim, dim)

    def forward(self, tokens: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """tokens: G (B, N, Dg); view: Z (B, Dg) -> (B, N + 1, D) (or (B, N, D) when disabled)."""
        if not self.enabled:
            return self.proj(tokens)
        v = self.psi_v(view)
        n = tokens.shape[1]
        aligned = self.align(torch.cat([tokens, v.unsqueeze(1).expand(-1, n, -1)], dim=-1))
        return torch.cat([aligned, self.view_proj(v).unsqueeze(1)], dim=1)


class GeometryFusion(nn.Module):
    """H_t from F_pa (queries) and G_va: `cross_attention` (VLM2), `concat` or `add`."""

    def __init__(self, dim: int, num_heads: int, mode: str = "cross_attention"):
        super().__init__()
        self.mode = mode
        if mode == "cross_attention":
            self.block = CrossAttentionBlock(dim, num_heads)
        elif mode == "concat":
            self.proj = nn.Linear(2 * dim, dim)
        elif mode != "add":
            raise ValueError(f"GeometryFusion mode={mode!r}; expected 'cross_attention', 'concat' or 'add'")

    def forward(self, feats: torch.Tensor, geo: torch.Tensor) -> torch.Tensor:
        if self.mode == "cross_attention":
            return self.block(feats, geo)
        n = feats.shape[1]
        # Per-patch ablations: the appended view token (if any) is broadcast onto every patch.
        per_patch = geo[:, :n] + (geo[:, n:].sum(dim=1, keepdim=True) if geo.shape[1] > n else 0)
        if self.mode == "concat":
            return self.proj(torch.cat([feats, per_patch], dim=-1))
        return feats + per_patch


__all__ = ["CrossAttentionBlock", "A3PI", "VAGA", "GeometryFusion", "mlp"]
