"""Stable-baselines3 features extractor on VLM2's perception: vision tower + geometry + A3PI/VAGA/fusion.

Observation keys it understands (others are flattened and concatenated as they are):

- ``rgb`` (H, W, 3) or (3, H, W) uint8 (SB3 transposes and scales images to [0, 1] before this);
- ``depth`` (H, W, 1) metres: oracle geometry (point maps in the current camera frame);
- ``objectgoal`` / ``roomgoal`` (1,) integer indices: learned embeddings;
- every other Box (``pointgoal_with_gps_compass``, ``gps``, ``compass``, ``memory``...): flattened,
  concatenated and encoded by Linear + ReLU to ``vector_dim``.

The fused tokens H_t of the frame are mean-pooled to one D-vector and layer-normalised. Why the
vector encoder: raw-concatenated beside 128 image features, the 2 numbers of a point goal are
drowned and small PPO runs do not learn PointNav; encoded (as habitat's baselines embed the goal)
they are not. ``freeze=True`` keeps the
backbone fixed (no gradient, eval mode); ``freeze=False`` fine-tunes it with the policy.

Example:
    >>> import numpy as np
    >>> from gymnasium import spaces
    >>> space = spaces.Dict({"rgb": spaces.Box(0, 255, (64, 64, 3), np.uint8),
    ...                      "pointgoal_with_gps_compass": spaces.Box(-10, 10, (2,), np.float32)})
    >>> ext = VLM2FeaturesExtractor(space, vlm2={"geometry_source": "none", "use_a3pi": False, "use_vaga": False})
    >>> ext.features_dim
    192
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from vlm2_agent.policy.backbone import build_backbone, pinhole_intrinsics, strip_language

EMBED_KEYS = {"objectgoal": "categories", "roomgoal": "room_types"}


def _num_values(space: gym.spaces.Box) -> int:
    return int(space.high.max()) + 1


class VLM2FeaturesExtractor(BaseFeaturesExtractor):
    """Features for ``MultiInputPolicy``: [pooled H_t ; goal embeddings ; other vectors].

    Args:
        observation_space: the env's ``Dict`` space.
        vlm2: ``VLM2Config`` fields for a freshly built backbone (ignored with ``checkpoint``).
        checkpoint: folder of a saved ``VLM2Model`` to load instead.
        seed: weight seed of a freshly built backbone.
        freeze: keep the backbone fixed (True) or fine-tune it (False).
        hfov: horizontal field of view (degrees) of the depth camera, for the intrinsics.
        embed_dim: width of each goal-index embedding.
        vector_dim: width of the encoding of the other vector observations.
        rgb_key, depth_key: observation keys of the camera images.
    """

    def __init__(self, observation_space: gym.spaces.Dict, vlm2: Mapping[str, Any] | None = None,
                 checkpoint: str | None = None, seed: int = 0, freeze: bool = True, hfov: float = 90.0,
                 embed_dim: int = 16, vector_dim: int = 64, rgb_key: str = "rgb", depth_key: str = "depth"):
        if not isinstance(observation_space, gym.spaces.Dict):
            raise TypeError(f"VLM2FeaturesExtractor needs a Dict observation space, got {type(observation_space).__name__}")
        spaces = observation_space.spaces
        self.rgb_key, self.depth_key = rgb_key, depth_key
        backbone = None
        dim = 0
        if rgb_key in spaces:
            backbone = strip_language(build_backbone(vlm2, checkpoint, seed))
            dim = backbone.config.hidden_size
            if backbone.config.geometry_source == "oracle" and depth_key not in spaces:
                raise ValueError(f"VLM2FeaturesExtractor: geometry_source='oracle' needs a {depth_key!r} "
                                 f"observation; have {sorted(spaces)}")
        vectors = VectorEncoder(spaces, skip=(rgb_key, depth_key), embed_dim=embed_dim, vector_dim=vector_dim)
        super().__init__(observation_space, dim + vectors.out_dim)
        if dim == 0 and vectors.out_dim == 0:
            raise ValueError(f"VLM2FeaturesExtractor: nothing to encode in {sorted(spaces)}")
        self.backbone = backbone
        self.freeze = bool(freeze)
        self.hfov = float(hfov)
        self.frame_norm = nn.LayerNorm(dim) if dim else None
        self.vectors = vectors
        if backbone is not None and self.freeze:
            backbone.requires_grad_(False)
            backbone.eval()

    def apply(self, fn):
        """``nn.Module.apply`` that skips the backbone. Why: SB3 policies re-initialise every Linear /
        Conv2d of their features extractor (``ortho_init``) with ``apply``, which would overwrite
        the loaded VLM2 weights."""
        for name, module in self.named_children():
            if name != "backbone":
                module.apply(fn)
        fn(self)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Policies saved before the goal / vector encoder became its own module keep loading.
        for old in ("vector_net.", "embeds."):
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + "vectors." + key[len(prefix):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def train(self, mode: bool = True) -> "VLM2FeaturesExtractor":
        super().train(mode)
        if self.backbone is not None and self.freeze:
            self.backbone.eval()  # a frozen backbone never leaves eval mode
        return self

    def encode_frames(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, D) mean of the fused tokens H_t of the batch's frames."""
        rgb = obs[self.rgb_key].float()
        if rgb.shape[-1] == 3 and rgb.shape[1] != 3:
            rgb = rgb.permute(0, 3, 1, 2)
        if rgb.max() > 1.5:  # unnormalised uint8 values (normalize_images=False)
            rgb = rgb / 255.0
        geometry = None
        ref = None
        if self.backbone.config.geometry_source == "oracle":
            depth = obs[self.depth_key].float()
            depth = depth.squeeze(-1) if depth.shape[-1] == 1 else depth.squeeze(1)
            b, h, w = depth.shape
            eye = torch.eye(4, device=depth.device).expand(b, 4, 4)
            # One frame, no pose: point maps in the current camera frame.
            geometry = {"depth": depth, "intrinsics": pinhole_intrinsics(self.hfov, w, h, b).to(depth.device),
                        "cam_to_world": eye}
            ref = eye
        return self.backbone.encode_frames(rgb, geometry, ref).fused.mean(dim=1)

    def forward(self, observations: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.backbone is not None:
            if self.freeze:
                with torch.no_grad():
                    frames = self.encode_frames(observations)
            else:
                frames = self.encode_frames(observations)
            parts.append(self.frame_norm(frames))
        if self.vectors.out_dim:
            parts.append(self.vectors(observations))
        return torch.cat(parts, dim=1)


class VectorEncoder(nn.Module):
    """The non-image part of an observation: goal indices (``objectgoal``, ``roomgoal``) through
    learned embeddings, every other flat Box (point goal, gps, compass, memory...) concatenated and
    encoded by Linear + ReLU. ``out_dim`` is 0 when there is nothing to encode."""

    def __init__(self, spaces: Mapping[str, gym.Space], skip: tuple[str, ...] = (), embed_dim: int = 16,
                 vector_dim: int = 64):
        super().__init__()
        embed_keys = [k for k in EMBED_KEYS if k in spaces]
        self.vector_keys = sorted(k for k in spaces if k not in (*skip, *embed_keys))
        for k in self.vector_keys:
            if not isinstance(spaces[k], gym.spaces.Box) or len(spaces[k].shape) > 1:
                raise ValueError(f"observation {k!r} must be a flat Box vector, got {spaces[k]}")
        vec_dim = sum(int(spaces[k].shape[0]) if spaces[k].shape else 1 for k in self.vector_keys)
        vec_out = int(vector_dim) if vec_dim else 0
        self.vector_net = nn.Sequential(nn.Linear(vec_dim, vec_out), nn.ReLU()) if vec_dim else None
        self.embeds = nn.ModuleDict({k: nn.Embedding(_num_values(spaces[k]), embed_dim) for k in embed_keys})
        self.out_dim = embed_dim * len(embed_keys) + vec_out

    def forward(self, observations: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for k, emb in self.embeds.items():
            idx = observations[k].reshape(observations[k].shape[0], -1)[:, 0].round().long()
            parts.append(emb(idx.clamp(0, emb.num_embeddings - 1)))
        if self.vector_net is not None:
            vec = [observations[k].float().reshape(observations[k].shape[0], -1) for k in self.vector_keys]
            parts.append(self.vector_net(torch.cat(vec, dim=1)))
        return torch.cat(parts, dim=1)


class RGBDCNNExtractor(BaseFeaturesExtractor):
    """The plain baseline beside :class:`VLM2FeaturesExtractor`: the same goal / vector encoding,
    but the frame is encoded by a small CNN (SB3's NatureCNN layout) on RGB-D stacked as 4 channels,
    trained from scratch with the policy, to ``cnn_output_dim`` features (layer-normalised).

    Example:
        >>> import numpy as np
        >>> from gymnasium import spaces
        >>> space = spaces.Dict({"rgb": spaces.Box(0, 255, (64, 64, 3), np.uint8),
        ...                      "depth": spaces.Box(0, 10, (64, 64, 1), np.float32),
        ...                      "pointgoal_with_gps_compass": spaces.Box(-10, 10, (2,), np.float32)})
        >>> RGBDCNNExtractor(space).features_dim
        192
    """

    def __init__(self, observation_space: gym.spaces.Dict, cnn_output_dim: int = 128, max_depth: float = 10.0,
                 embed_dim: int = 16, vector_dim: int = 64, rgb_key: str = "rgb", depth_key: str = "depth"):
        spaces = observation_space.spaces
        channels = (3 if rgb_key in spaces else 0) + (1 if depth_key in spaces else 0)
        if not channels:
            raise ValueError(f"RGBDCNNExtractor: needs {rgb_key!r} and/or {depth_key!r}, have {sorted(spaces)}")
        vectors = VectorEncoder(spaces, skip=(rgb_key, depth_key), embed_dim=embed_dim, vector_dim=vector_dim)
        super().__init__(observation_space, int(cnn_output_dim) + vectors.out_dim)
        self.rgb_key, self.depth_key, self.max_depth = rgb_key, depth_key, float(max_depth)
        self.cnn = nn.Sequential(nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                                 nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
        shape = next(spaces[k].shape for k in (rgb_key, depth_key) if k in spaces)
        h, w = (shape[:2] if shape[-1] in (1, 3) else shape[1:])
        with torch.no_grad():
            n = self.cnn(torch.zeros(1, channels, h, w)).shape[1]
        self.project = nn.Sequential(nn.Linear(n, int(cnn_output_dim)), nn.ReLU())
        self.frame_norm = nn.LayerNorm(int(cnn_output_dim))
        self.vectors = vectors

    @staticmethod
    def _channels_first(x: torch.Tensor, channels: int) -> torch.Tensor:
        return x.permute(0, 3, 1, 2) if x.shape[-1] == channels and x.shape[1] != channels else x

    def forward(self, observations: Mapping[str, torch.Tensor]) -> torch.Tensor:
        images = []
        if self.rgb_key in observations:
            rgb = self._channels_first(observations[self.rgb_key].float(), 3)
            images.append(rgb / 255.0 if rgb.max() > 1.5 else rgb)
        if self.depth_key in observations:
            images.append(self._channels_first(observations[self.depth_key].float(), 1).clamp(0, self.max_depth) / self.max_depth)
        parts = [self.frame_norm(self.project(self.cnn(torch.cat(images, dim=1))))]
        if self.vectors.out_dim:
            parts.append(self.vectors(observations))
        return torch.cat(parts, dim=1)


__all__ = ["VLM2FeaturesExtractor", "RGBDCNNExtractor", "VectorEncoder"]
