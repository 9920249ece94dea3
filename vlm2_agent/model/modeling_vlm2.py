"""VLM2 model: vision tower + 3D geometry + A3PI/VAGA/fusion + dual memory + causal LM.

Per frame: F = proj(vision(I_t)); geometry (oracle / learned) gives C_t, G_t, Z_t;
F_pa = A3PI(F, C); G_va = VAGA(G, Z); H_t = Fusion(F_pa, G_va); M_t = Memory(H_t).
Questions are answered by the LM from a prefix of projected memory tokens (episodic entries,
working entries, pooled current M_t) followed by `<|bos|> question <|answer|>`.

Example:
    >>> import torch
    >>> from vlm2_agent.model import VLM2Config, VLM2Model
    >>> model = VLM2Model(VLM2Config(geometry_source="none", use_a3pi=False, use_vaga=False)).eval()
    >>> state = model.init_memory(2)
    >>> _ = model.observe(state, torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    >>> model.readout(state).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_vlm2 import VLM2Config, check_local_checkpoint
from .fusion import A3PI, VAGA, CrossAttentionBlock, GeometryFusion, mlp
from .geometry import GeometryOutput, LearnedGeometry, OracleGeometry, camera_points, geometry_loss
from .memory import MemoryModule, MemoryState, pool_coords
from .tokenizer import prompt_batch

GeometryInput = Mapping[str, torch.Tensor]  # keys: depth (B,H,W), intrinsics (B,3,3), cam_to_world (B,4,4)


@dataclass
class FrameEncoding:
    """Intermediate tensors of one batch of frames (all (B, N, D) unless said)."""

    features: torch.Tensor  # F, projected vision tokens
    positioned: torch.Tensor  # F_pa (== F when A3PI is off)
    alpha: torch.Tensor | None  # A3PI gate (B, N, 1)
    geometry_tokens: torch.Tensor | None  # G_va, (B, N+1, D) with VAGA, (B, N, D) without
    fused: torch.Tensor  # H_t
    geometry: GeometryOutput | None


@dataclass
class VLM2Output(ModelOutput):
    loss: torch.FloatTensor | None = None
    lm_loss: torch.FloatTensor | None = None
    geometry_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    prefix_embeds: torch.FloatTensor | None = None  # (B, P, H_lm) memory prefix each video's questions read
    prefix_mask: torch.BoolTensor | None = None  # (B, P)


def _position_ids(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def length_buckets(lengths: Sequence[int], max_buckets: int) -> list[list[int]]:
    """Indices of ``lengths`` split into at most ``max_buckets`` groups of neighbouring lengths that
    minimise the padded total (sum over groups of size x longest), by dynamic programming over the
    sorted lengths; groups and their members in ascending order of length.

    Example:
        >>> length_buckets([30, 8, 9, 31, 10], 2)
        [[1, 2, 4], [0, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    n, k = len(order), max(1, min(max_buckets, len(order)))
    cost = [[0.0] * (n + 1) for _ in range(k + 1)]
    cut = [[0] * (n + 1) for _ in range(k + 1)]
    for j in range(1, n + 1):
        cost[1][j] = j * lengths[order[j - 1]]
    for b in range(2, k + 1):
        for j in range(1, n + 1):
            best, arg = cost[b - 1][j], j
            for i in range(1, j):
                c = cost[b - 1][i] + (j - i) * lengths[order[j - 1]]
                if c < best:
                    best, arg = c, i
            cost[b][j], cut[b][j] = best, arg
    groups, j = [], n
    for b in range(k, 1, -1):
        i = cut[b][j]
        if i < j:
            groups.append(order[i:j])
        j = i
    groups.append(order[:j])
    return [g for g in reversed(groups) if g]


def _cache_keyword(module: nn.Module) -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``; accept both so 4.5x keeps working."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


class VLM2PreTrainedModel(PreTrainedModel):
    config_class = VLM2Config
    base_model_prefix = "vlm2"
    main_input_name = "pixel_values"
    _supports_sdpa = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args, **kwargs):
        """transformers' loader, with errors that name the checkpoint: a folder that does not
        exist, a weights file that cannot be read, and weights missing from or shaped unlike the
        model (transformers would re-initialise them with a warning and train on noise)."""
        check_local_checkpoint(pretrained_model_name_or_path, kwargs)
        want_info = bool(kwargs.pop("output_loading_info", False))
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True,
                                                  **kwargs)
        except Exception as e:  # torch, safetensors, transformers and huggingface_hub raise many types
            if isinstance(e, FileNotFoundError):
                raise
            raise ValueError(f"{pretrained_model_name_or_path}: the VLM2 checkpoint could not be loaded "
                             f"({type(e).__name__}: {str(e)[:300]})") from e
        problems = {k: list(info.get(k) or []) for k in ("missing_keys", "mismatched_keys")}
        if any(problems.values()):
            shown = "; ".join(f"{k.replace('_', ' ')}: {[str(x) for x in v][:5]}"
                              + (f" and {len(v) - 5} more" if len(v) > 5 else "") for k, v in problems.items() if v)
            raise ValueError(f"{pretrained_model_name_or_path}: the checkpoint does not match the model ({shown}); "
                             "loading it would re-initialise those weights")
        return (model, info) if want_info else model

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, CrossAttentionBlock):
            nn.init.zeros_(module.null)


class VLM2Model(VLM2PreTrainedModel):
    """The full VLM2 model; see `VLM2Streamer` for the agent-facing streaming API."""

    def __init__(self, config: VLM2Config):
        super().__init__(config)
        d, grid = config.hidden_size, config.grid_size
        self.vision = AutoModel.from_config(config.vision_config)
        self.vision_proj = nn.Linear(config.vision_config.hidden_size, d)
        self.geometry = None
        if config.geometry_source == "oracle":
            self.geometry = OracleGeometry(grid, config.geometry_dim, config.coord_scale, config.geometry_frame)
        elif config.geometry_source == "learned":
            self.geometry = LearnedGeometry(grid, config.geometry_dim, config.coord_scale)
        if self.geometry is not None:
            self.a3pi = A3PI(d, config.coord_scale, enabled=config.use_a3pi)
            self.vaga = VAGA(config.geometry_dim, d, enabled=config.use_vaga)
            self.fusion = GeometryFusion(d, config.num_heads, config.fusion)
        self.memory = MemoryModule(d, config.num_heads, config.memory_mode, grid, config.entry_grid,
                                   config.working_memory_size, config.episodic_memory_size, config.uniform_frames)
        lm_dim = config.text_config.hidden_size
        self.segment_embed = nn.Embedding(3, d)
        self.projector = mlp(d, lm_dim, lm_dim)
        self.lm = AutoModelForCausalLM.from_config(config.text_config)
        self.post_init()

    @classmethod
    def from_pretrained_towers(cls, config: VLM2Config, vision_path: str | None = None,
                               text_path: str | None = None) -> "VLM2Model":
        """Build a model whose vision tower and/or LM are loaded from local transformers checkpoints.

        The loaded towers' configs replace `config.vision_config` / `config.text_config`, so a
        `save_pretrained` of the result reloads without the original paths.
        """
        kwargs = config.to_dict()
        vision = lm = None
        if vision_path is not None:
            vision = AutoModel.from_pretrained(vision_path)
            if hasattr(vision, "vision_model") and hasattr(vision.config, "vision_config"):
                vision = vision.vision_model  # a full SigLIP / CLIP checkpoint: keep its vision half
            kwargs.update(vision_config=vision.config.to_dict(), vision_model_path=str(vision_path))
        if text_path is not None:
            lm = AutoModelForCausalLM.from_pretrained(text_path)
            kwargs.update(text_config=lm.config.to_dict(), text_model_path=str(text_path))
        model = cls(VLM2Config(**{k: v for k, v in kwargs.items() if k not in ("model_type", "transformers_version")}))
        if vision is not None:
            model.vision.load_state_dict(vision.state_dict())
        if lm is not None:
            model.lm.load_state_dict(lm.state_dict())
        return model

    # ----------------------------------------------------------------- frames
    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [0, 255] or float [0, 1] frames (B, 3, H, W) -> normalised pixels at the tower's size."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (B, 3, H, W) RGB, got shape {tuple(frames.shape)}")
        x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
        size = self.config.vision_config.image_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return ((x - 0.5) / 0.5).to(self.vision_proj.weight.device)  # SigLIP normalisation

    def encode_frames(self, frames: torch.Tensor, geometry: GeometryInput | None = None,
                      ref_pose: torch.Tensor | None = None) -> FrameEncoding:
        """Encode a batch of independent frames into H_t (no memory involved)."""
        pixels = self.preprocess(frames)
        hidden = self.vision(pixel_values=pixels).last_hidden_state
        n = self.config.num_patches
        if hidden.shape[1] == n + 1:  # towers with a CLS token (CLIP, ViT): keep the patch tokens
            hidden = hidden[:, 1:]
        feats = self.vision_proj(hidden)
        if self.geometry is None:
            return FrameEncoding(feats, feats, None, None, feats, None)
        if isinstance(self.geometry, OracleGeometry):
            if geometry is None:
                raise ValueError("geometry_source='oracle' needs geometry={'depth', 'intrinsics', 'cam_to_world'}")
            geo = self.geometry(geometry["depth"], geometry["intrinsics"], geometry["cam_to_world"], ref_pose)
        else:
            geo = self.geometry(pixels)
        positioned, alpha = self.a3pi(feats, geo.patch_coords, geo.patch_valid)
        g_va = self.vaga(geo.tokens.to(feats.dtype), geo.view.to(feats.dtype))
        return FrameEncoding(feats, positioned, alpha, g_va, self.fusion(positioned, g_va), geo)

    # ----------------------------------------------------------------- memory
    def init_memory(self, batch_size: int) -> MemoryState:
        return self.memory.init_state(batch_size, self.config.hidden_size, self.vision_proj.weight.device)

    def observe(self, state: MemoryState, frames: torch.Tensor, geometry: GeometryInput | None = None) -> torch.Tensor:
        """Feed one frame (B, 3, H, W) or a few (B, T, 3, H, W) per episode; returns the last M_t."""
        fused, coords = self.encode_for_memory(state, frames, geometry)
        return self.observe_encoded(state, fused, coords)

    def observe_encoded(self, state: MemoryState, fused: torch.Tensor, coords: torch.Tensor | None = None) -> torch.Tensor:
        """Write already encoded frames to memory: H_t (B, T, N, D) and entry centroids (B, T, k, 4)
        or None, as :meth:`encode_for_memory` (or a feature cache) gives them; returns the last M_t."""
        for i in range(fused.shape[1]):
            m = self.memory.step(fused[:, i], state, None if coords is None else coords[:, i])
        return m

    def encode_for_memory(self, state: MemoryState, frames: torch.Tensor,
                          geometry: GeometryInput | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What ``observe`` writes to memory, without writing it: H_t (B, T, N, D) of one frame
        (B, 3, H, W) or a few (B, T, 3, H, W) per episode, and the entry centroids (B, T, k, 4)
        (None without geometry). The episode's first frame becomes ``state``'s reference pose."""
        if frames.dim() == 4:
            frames = frames.unsqueeze(1)
            geometry = None if geometry is None else {k: v.unsqueeze(1) for k, v in geometry.items()}
        b, t = frames.shape[:2]
        if b != state.batch_size:
            raise ValueError(f"observe: {b} episodes in frames but the memory holds {state.batch_size}; call reset({b})")
        geo_flat, ref = None, None
        if geometry is not None:
            geo_flat = {k: v.flatten(0, 1) for k, v in geometry.items()}
            ref = self._reference_pose(state, geometry)
        enc = self.encode_frames(frames.flatten(0, 1), geo_flat, ref)
        fused = enc.fused.view(b, t, *enc.fused.shape[1:])
        if enc.geometry is None:
            return fused, None
        coords = pool_coords(enc.geometry.patch_coords, enc.geometry.patch_valid, self.memory.grid, self.memory.entry_grid)
        return fused, coords.view(b, t, self.memory.entry_tokens, 4)

    def _reference_pose(self, state: MemoryState, geometry: GeometryInput) -> torch.Tensor | None:
        """First camera pose of each episode (set when its first frame is observed), repeated over T."""
        if "cam_to_world" not in geometry:
            return None
        poses = geometry["cam_to_world"].float()
        first = (state.frame_index == 0).to(poses.device).view(-1, 1, 1)
        state.ref_pose = poses[:, 0] if state.ref_pose is None else torch.where(first, poses[:, 0], state.ref_pose)
        return state.ref_pose.repeat_interleave(poses.shape[1], dim=0)

    def readout(self, state: MemoryState) -> torch.Tensor:
        """Fixed-size (B, D) summary for policies: mean over the tokens of the latest M_t."""
        if state.current is None:
            raise RuntimeError("readout before any observe: call observe(frames) first")
        return state.current.mean(dim=1)

    def memory_prefix(self, state: MemoryState) -> tuple[torch.Tensor, torch.Tensor]:
        """LM-space prefix embeddings (B, P, H_lm) and mask (B, P)."""
        tokens, mask, segment = self.memory.prefix(state)
        return self.projector(tokens + self.segment_embed(segment)), mask

    # --------------------------------------------------------------- training
    def forward(self, pixel_values: torch.Tensor | None = None, input_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                geometry: GeometryInput | None = None, video_index: torch.Tensor | None = None,
                features: torch.Tensor | None = None, coords: torch.Tensor | None = None) -> VLM2Output:
        """Training / scoring forward over whole videos.

        pixel_values: (B, T, 3, H, W) videos; geometry: dict of (B, T, ...) tensors; input_ids /
        labels / attention_mask: (Q, L) from `tokenizer.training_batch`; video_index: (Q,) video of
        each question (default: question i is about video i). Each video is encoded once, streamed
        through the memory, and its final memory prefix is shared by all of its questions.
        ``features`` (B, T, N, D) and ``coords`` (B, T, k, 4), from a feature cache, replace
        ``pixel_values`` and ``geometry``: the perception is skipped (stage 3 of training).
        """
        if (pixel_values is None) == (features is None) or input_ids is None:
            raise ValueError("forward: pass input_ids and exactly one of pixel_values or features")
        b = (pixel_values if features is None else features).shape[0]
        q = input_ids.shape[0]
        if video_index is None:
            if q != b:
                raise ValueError(f"forward: {q} questions for {b} videos; pass video_index (Q,) to map them")
            video_index = torch.arange(b, device=input_ids.device)
        state = self.init_memory(b)
        if features is None:
            self.observe(state, pixel_values, geometry)
        else:
            self.observe_encoded(state, features.to(self.vision_proj.weight.device), coords)
        prefix, pmask = self.memory_prefix(state)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self.check_context(int(pmask.sum(-1).max()), int(attention_mask.sum(-1).max()))
        if self.config.share_prefix:
            lm_loss, logits = self._answer_loss_shared(prefix, pmask, video_index, input_ids, attention_mask, labels)
        else:
            lm_loss, logits = self._answer_loss_full(prefix, pmask, video_index, input_ids, attention_mask, labels)
        geo_loss = None if features is not None else self._geometry_loss(pixel_values, geometry)
        loss = lm_loss
        if loss is not None and geo_loss is not None:
            loss = loss + self.config.geometry_loss_weight * geo_loss
        return VLM2Output(loss=loss, lm_loss=lm_loss, geometry_loss=geo_loss, logits=logits,
                          prefix_embeds=prefix, prefix_mask=pmask.bool())

    def _answer_loss_full(self, prefix, pmask, video_index, input_ids, attention_mask, labels):
        """Reference answer step: every question carries its own copy of the memory prefix, and the
        LM computes logits at every position (``share_prefix=False``)."""
        prefix, pmask = prefix[video_index], pmask[video_index]
        embeds = torch.cat([prefix, self.lm.get_input_embeddings()(input_ids).to(prefix.dtype)], dim=1)
        mask = torch.cat([pmask.long(), attention_mask.long()], dim=1)
        full_labels = None
        if labels is not None:
            full_labels = torch.cat([torch.full(pmask.shape, -100, device=labels.device, dtype=labels.dtype), labels], dim=1)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=_position_ids(mask), labels=full_labels)
        return out.loss, out.logits

    def _answer_loss_shared(self, prefix, pmask, video_index, input_ids, attention_mask, labels):
        """The same loss as :meth:`_answer_loss_full`, cheaper: each video's memory prefix goes through
        the LM once and its keys and values are shared by all of its questions; questions run in up
        to ``config.answer_buckets`` groups of similar length (less padding); the LM head runs at
        label positions only. Returns (loss, None), or without labels (None, logits (Q, L, V))."""
        from transformers import DynamicCache

        cache_kw = _cache_keyword(self.lm.base_model)
        pmask = pmask.long()
        pre = self.lm.base_model(inputs_embeds=prefix, attention_mask=pmask, position_ids=_position_ids(pmask),
                                 use_cache=True)
        prefix_kv = [tuple(layer[:2]) for layer in getattr(pre, cache_kw)]
        lengths = attention_mask.long().sum(-1)
        groups = length_buckets(lengths.tolist(), self.config.answer_buckets if labels is not None else 1)
        head = self.lm.get_output_embeddings()
        total, count = None, 0
        for rows in groups:
            idx = torch.as_tensor(rows, device=input_ids.device)
            width = int(lengths[idx].max())
            vid, amask = video_index[idx], attention_mask[idx, :width].long()
            cache = DynamicCache([(k[vid], v[vid]) for k, v in prefix_kv])
            hidden = self.lm.base_model(
                inputs_embeds=self.lm.get_input_embeddings()(input_ids[idx, :width]).to(prefix.dtype),
                attention_mask=torch.cat([pmask[vid], amask], dim=1),
                position_ids=pmask.sum(-1, keepdim=True)[vid] + _position_ids(amask),
                use_cache=True, **{cache_kw: cache}).last_hidden_state
            if labels is None:
                return None, head(hidden)
            targets = labels[idx, 1:width]
            keep = targets != -100
            part = F.cross_entropy(head(hidden[:, :-1][keep]).float(), targets[keep], reduction="sum")
            total = part if total is None else total + part
            count += int(keep.sum())
        return total / max(count, 1), None
    def _geometry_loss(self, pixel_values: torch.Tensor, geometry: GeometryInput | None) -> torch.Tensor | None:
        """Point-map supervision of the learned geometry net, when depth + intrinsics are given."""
        if not isinstance(self.geometry, LearnedGeometry) or geometry is None or "depth" not in geometry:
            return None
        pred = self.geometry(self.preprocess(pixel_values.flatten(0, 1))).points
        target = camera_points(geometry["depth"].flatten(0, 1), geometry["intrinsics"].flatten(0, 1))
        return geometry_loss(pred, target.to(pred.device))

    def check_context(self, prefix_tokens: int, question_tokens: int, answer_tokens: int = 0) -> None:
        """Refuse a sequence longer than the language model's positions: past
        ``text_config.max_position_embeddings`` its rotary positions were never trained (and a
        learned-position LM would index out of range). Only ``full_context`` memory grows with the
        video; every other mode has a fixed prefix."""
        limit = getattr(self.config.text_config, "max_position_embeddings", None)
        total = prefix_tokens + question_tokens + answer_tokens
        if limit is not None and total > limit:
            raise ValueError(
                f"VLM2: {total} tokens (memory prefix {prefix_tokens}, question {question_tokens}, answer "
                f"{answer_tokens}) exceed the language model's max_position_embeddings={limit}; "
                f"memory_mode={self.config.memory_mode!r} keeps every frame: subsample the video (train.stride), "
                "use memory=uniform, or a language model with a longer context")

    # ------------------------------------------------------------- answering
    @torch.no_grad()
    def generate_answers(self, state: MemoryState, tokenizer, questions: Sequence[str],
                         max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers, one question per episode of `state`."""
        if len(questions) != state.batch_size:
            raise ValueError(f"answer: got {len(questions)} questions for {state.batch_size} episodes (one each)")
        if len(tokenizer) > self.config.text_config.vocab_size:
            raise ValueError(f"tokenizer has {len(tokenizer)} tokens but text_config.vocab_size="
                             f"{self.config.text_config.vocab_size}; rebuild the model with a larger vocab_size")
        prefix, pmask = self.memory_prefix(state)
        batch = prompt_batch(tokenizer, questions, device=prefix.device)
        steps = max_new_tokens or self.config.max_new_tokens
        self.check_context(int(pmask.sum(-1).max()), int(batch["attention_mask"].sum(-1).max()), steps)
        embeds = torch.cat([prefix, self.lm.get_input_embeddings()(batch["input_ids"]).to(prefix.dtype)], dim=1)
        mask = torch.cat([pmask.long(), batch["attention_mask"]], dim=1)
        pos = _position_ids(mask)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=True)
        cache_kw = _cache_keyword(self.lm)
        eos = tokenizer.eos_token_id
        tokens, done = [], torch.zeros(len(questions), dtype=torch.bool, device=prefix.device)
        for i in range(steps):
            nxt = out.logits[:, -1].argmax(dim=-1)
            tokens.append(torch.where(done, eos, nxt))
            done = done | (nxt == eos)
            if bool(done.all()) or i == steps - 1:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            out = self.lm(input_ids=tokens[-1][:, None], attention_mask=mask, position_ids=pos,
                          use_cache=True, **{cache_kw: getattr(out, cache_kw)})
        seqs = torch.stack(tokens, dim=1).tolist()
        return [tokenizer.decode(s[: s.index(eos)] if eos in s else s, skip_special_tokens=True).strip() for s in seqs]


__all__ = ["VLM2Model", "VLM2PreTrainedModel", "VLM2Output", "FrameEncoding"]
