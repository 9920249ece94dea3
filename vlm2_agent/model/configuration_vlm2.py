"""Configuration of the VLM2 model (vision tower, 3D geometry branch, fusion, dual memory, LM).

The config is a transformers `PreTrainedConfig` dataclass, so it saves to / loads from
`config.json` next to the safetensors weights. The vision tower and the language model keep
their own transformers configs (`vision_config`, `text_config`); by default both are tiny and
random (SigLIP vision architecture, Qwen2 LM) so that everything runs on a CPU.

Example:
    >>> cfg = VLM2Config(memory_mode="working", geometry_source="none", use_a3pi=False, use_vaga=False)
    >>> cfg.num_patches, cfg.entry_tokens
    (64, 4)
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .memory_config import MEMORY_MODES, MemoryConfig

GEOMETRY_SOURCES = ("oracle", "learned", "none")
GEOMETRY_FRAMES = ("first", "world")
FUSION_MODES = ("cross_attention", "concat", "add")

# 64x64 frames, 8x8 patches (64 tokens), width 192, 4 layers: ~690 frames/s inference on 2 CPU cores.
TINY_VISION = {
    "hidden_size": 192,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "image_size": 64,
    "patch_size": 8,
    "vision_use_head": False,
}
TINY_TEXT = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}


def check_local_checkpoint(path: str | os.PathLike, kwargs: dict[str, Any]) -> None:
    """Raise ``FileNotFoundError`` naming ``path`` when it is not a local folder.

    VLM2 checkpoints are folders written by ``save_pretrained``; none is published on the Hugging
    Face Hub. Without this check transformers reads a missing ``checkpoints/x`` as the Hub repo
    ``checkpoints/x`` and, offline, fails after half a minute of retries with a network error. A
    caller who does mean a Hub repo passes ``local_files_only=False`` explicitly.

    >>> check_local_checkpoint("no/such/checkpoint", {})
    Traceback (most recent call last):
    ...
    FileNotFoundError: no VLM2 checkpoint folder at 'no/such/checkpoint' (resolved to .../no/such/checkpoint): ...
    """
    if kwargs.get("local_files_only") is False or Path(path).expanduser().is_dir():
        return
    resolved = Path(path).expanduser().resolve()
    raise FileNotFoundError(
        f"no VLM2 checkpoint folder at {os.fspath(path)!r} (resolved to {resolved}): expected a folder saved by "
        "save_pretrained with config.json; relative paths count from the current directory "
        f"({Path.cwd()}). Pass local_files_only=False to look the name up on the Hugging Face Hub instead."
    )


@strict
class VLM2Config(PreTrainedConfig):
    """All switches of VLM2; see design.md section 4 for the paper's model.

    Attributes:
        vision_config: transformers config (or dict with `model_type`) of the vision tower.
        text_config: transformers config (or dict with `model_type`) of the causal LM.
        hidden_size: width D of fused tokens, memory entries and memory reads.
        geometry_dim: width of geometry tokens G_t and the view token Z_t.
        num_heads: attention heads of the fusion and memory-read cross-attention blocks.
        geometry_source: "oracle" (depth + pose), "learned" (conv net from RGB) or "none".
        geometry_frame: oracle point maps relative to the episode's "first" camera or in "world".
        coord_scale: metres that map to 1.0 at the input of the coordinate / pose encoders.
        use_a3pi, use_vaga: ablation switches of A3PI and VAGA.
        fusion: "cross_attention" (VLM2), "concat" or "add".
        memory_mode: "dual" (VLM2), "working", "episodic", "none", "full_context", "uniform".
        working_memory_size: L_w; episodic_memory_size: L_e; uniform_frames: k of `uniform`.
        entry_grid: a memory entry is a frame's token grid average-pooled to entry_grid x entry_grid.
        geometry_loss_weight: weight of the learned point-map loss in the training loss.
        max_new_tokens: greedy decoding length cap of `answer`.
        share_prefix: training step of the LM: True encodes each video's memory prefix once and
            shares its keys and values across the video's questions, with logits at label positions
            only; False gives every question its own copy of the prefix (the same loss, slower; kept
            as the reference the fast step is checked against).
        answer_buckets: with ``share_prefix``, a step's questions run in at most this many groups
            of similar token length, so that short questions are not padded to the longest.
        vision_model_path, text_model_path: where pretrained towers came from (provenance only).
    """

    model_type = "vlm2"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig, model_type="siglip_vision_model", init_kwargs=dict(TINY_VISION)
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="qwen2", init_kwargs=dict(TINY_TEXT)),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    hidden_size: int = 128
    geometry_dim: int = 64
    num_heads: int = 4
    geometry_source: str = "oracle"
    geometry_frame: str = "first"
    coord_scale: float = 5.0
    use_a3pi: bool = True
    use_vaga: bool = True
    fusion: str = "cross_attention"
    memory_mode: str = MemoryConfig.memory_mode
    working_memory_size: int = MemoryConfig.working_memory_size
    episodic_memory_size: int = MemoryConfig.episodic_memory_size
    uniform_frames: int = MemoryConfig.uniform_frames
    entry_grid: int = MemoryConfig.entry_grid
    geometry_loss_weight: float = 1.0
    max_new_tokens: int = 8
    share_prefix: bool = True
    answer_buckets: int = 3
    vision_model_path: str | None = None
    text_model_path: str | None = None
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._validate()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """transformers' loader, with a local error for a folder that does not exist and a
        ValueError naming the file for a ``config.json`` that is not a valid VLM2 config."""
        check_local_checkpoint(pretrained_model_name_or_path, kwargs)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except FileNotFoundError:
            raise
        except Exception as e:  # transformers and huggingface_hub raise many types for a bad config.json
            raise ValueError(f"{Path(pretrained_model_name_or_path) / 'config.json'}: not a valid VLM2 config "
                             f"({type(e).__name__}: {str(e)[:300]})") from None

    def _choice(self, name: str, options: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in options:
            raise ValueError(f"VLM2Config.{name}={value!r} is not valid; expected one of {list(options)}")

    def _validate(self) -> None:
        self._choice("geometry_source", GEOMETRY_SOURCES)
        self._choice("geometry_frame", GEOMETRY_FRAMES)
        self._choice("fusion", FUSION_MODES)
        MemoryConfig(memory_mode=self.memory_mode, working_memory_size=self.working_memory_size,  # its checks
                     episodic_memory_size=self.episodic_memory_size, uniform_frames=self.uniform_frames,
                     entry_grid=self.entry_grid)
        for name in ("hidden_size", "geometry_dim", "num_heads", "max_new_tokens", "answer_buckets"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VLM2Config.{name}={getattr(self, name)!r} must be a positive integer")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"VLM2Config.hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}"
            )
        if self.coord_scale <= 0:
            raise ValueError(f"VLM2Config.coord_scale={self.coord_scale} must be > 0 (metres)")
        if self.geometry_source == "none" and (self.use_a3pi or self.use_vaga):
            raise ValueError(
                "VLM2Config: geometry_source='none' gives no point maps or geometry tokens; "
                "set use_a3pi=False and use_vaga=False as well"
            )
        vc = self.vision_config
        image_size, patch = getattr(vc, "image_size", None), getattr(vc, "patch_size", None)
        if not isinstance(image_size, int) or not isinstance(patch, int) or min(image_size, patch) < 1 \
                or image_size % patch:
            raise ValueError(
                f"VLM2Config.vision_config: image_size={image_size!r} must be a positive int multiple of "
                f"patch_size={patch!r} (a square patch grid is assumed)"
            )
        if self.entry_grid > image_size // patch:
            raise ValueError(
                f"VLM2Config.entry_grid={self.entry_grid} exceeds the patch grid side {image_size // patch}"
            )

    @property
    def grid_size(self) -> int:
        """Side of the square patch grid of one frame."""
        return self.vision_config.image_size // self.vision_config.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def entry_tokens(self) -> int:
        """Tokens per memory entry (one entry per frame)."""
        return self.entry_grid**2





def _field_types() -> dict[str, Any]:
    """The types of VLM2Config's own fields (``typing.get_type_hints`` would also resolve every
    annotation of PreTrainedConfig, some of which name modules not imported here)."""
    namespace = {**vars(typing), **globals()}
    return {k: eval(v, namespace) if isinstance(v, str) else v  # our own source's annotations
            for k, v in VLM2Config.__annotations__.items() if not k.startswith("_")}


def _check_model_types(merged: dict) -> None:
    from transformers import CONFIG_MAPPING

    for name in ("vision_config", "text_config"):
        sub = merged.get(name)
        if isinstance(sub, dict) and "model_type" in sub and (not isinstance(sub["model_type"], str)
                                                              or sub["model_type"] not in CONFIG_MAPPING):
            default = VLM2Config.sub_configs_defaults[name].model_type
            raise ValueError(f"model.{name}.model_type={sub['model_type']!r}: expected a transformers model type "
                             f"(e.g. {default!r})")


def config_from_hydra(model_cfg, memory_cfg=None, **overrides) -> VLM2Config:
    """Merge the `model` and `memory` Hydra groups (their `name` keys dropped) into a VLM2Config.

    Example:
        >>> from omegaconf import OmegaConf
        >>> config_from_hydra(OmegaConf.create({"name": "t", "memory_mode": "working"})).memory_mode
        'working'
    """
    from huggingface_hub.errors import StrictDataclassError
    from omegaconf import OmegaConf

    from vlm2_base.config import check_fields

    hints = _field_types()
    merged: dict = {}
    for group, part in (("model", model_cfg), ("memory", memory_cfg)):
        if part is not None:
            d = OmegaConf.to_container(part, resolve=True) if OmegaConf.is_config(part) else dict(part)
            d.pop("name", None)
            merged.update(check_fields(VLM2Config, d, group, hints=hints))
    merged.update(overrides)
    _check_model_types(merged)
    try:
        return VLM2Config(**merged)
    except ValueError as e:
        if str(e).startswith("VLM2Config"):  # our own checks name the field already
            raise
        raise ValueError(f"model.vision_config / model.text_config: {str(e)[:300]}") from None
    except (StrictDataclassError, KeyError, TypeError, AttributeError) as e:  # a sub-config's own checks
        raise ValueError(f"model.vision_config / model.text_config: {type(e).__name__}: {str(e)[:300]}") from None
__all__ = ["VLM2Config", "config_from_hydra", "GEOMETRY_SOURCES", "FUSION_MODES", "MEMORY_MODES"]
