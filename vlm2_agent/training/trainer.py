"""Train VLM2 on the EQA episode store: AdamW, linear warm-up + cosine decay, gradient clipping,
bf16 autocast on CUDA, DDP under ``torchrun``, exact resume, wandb/none logging, tqdm.

One step = ``videos_per_step`` episodes per process, each encoded once, with
``questions_per_video`` of its questions sharing its memory prefix. Episodes are spread over
processes by a ``DistributedSampler`` (``set_epoch`` per epoch; world size 1 without torchrun).

Run layout (``run_dir``)::

    checkpoints/last.pt   resume point (see checkpoint.py)     metrics.jsonl   one row per logged step
    model/                final model.safetensors, config.json, tokenizer.json (VLM2Streamer.from_pretrained)
    eval/test.{md,json,png}   held-out scores (vlm2-eqa-eval tables)

Example (Python; the CLI is ``vlm2-train``)::

    trainer = Trainer(TrainConfig(max_steps=100), model_cfg, memory_cfg, run_dir="outputs/train/x")
    summary = trainer.fit()
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from vlm2_agent.model import VLM2Model, VLM2Streamer, build_tokenizer
from vlm2_agent.model.configuration_vlm2 import config_from_hydra
from vlm2_agent.model.device import autocast_context, select_device
from vlm2_base.io import atomic_write, folder_lock
from vlm2_base.logger import NullLogger

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import EpisodeVideoDataset, collate, tokenizer_texts
from .evaluation import answer_dataset
from .features import EpisodeFeatureDataset, build_feature_cache


def warmup_cosine(warmup: int, total: int, min_ratio: float):
    """lr multiplier: linear 1/warmup .. 1 over ``warmup`` steps, then cosine down to ``min_ratio``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def init_distributed() -> tuple[int, int, torch.device | None]:
    """(rank, world_size, device) from torchrun's environment; (0, 1, None) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 and not torch.distributed.is_initialized():
        return 0, 1, None
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    rank = torch.distributed.get_rank()
    device = None
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, torch.distributed.get_world_size(), device


def make_tokenizer(texts: list[str], vocab_size: int, text_model_path: str | None = None):
    """The benchmark BPE tokenizer, or a pretrained LM's tokenizer with VLM2's special tokens added."""
    if text_model_path is None:
        return build_tokenizer(texts, vocab_size=vocab_size)
    from transformers import AutoTokenizer

    from vlm2_agent.model.tokenizer import ANSWER, BOS, EOS, PAD

    tok = AutoTokenizer.from_pretrained(text_model_path)
    tok.add_special_tokens({"bos_token": BOS, "eos_token": EOS, "pad_token": tok.pad_token or PAD,
                            "additional_special_tokens": [ANSWER]})
    return tok


def build_model(model_cfg, memory_cfg, tokenizer) -> VLM2Model:
    """VLM2 from the Hydra groups; pretrained towers when the config names local paths."""
    cfg = config_from_hydra(model_cfg, memory_cfg)
    vision_path, text_path = cfg.vision_model_path, cfg.text_model_path
    if vision_path is None and text_path is None:
        if len(tokenizer) > cfg.text_config.vocab_size:
            raise ValueError(f"model.text_config.vocab_size={cfg.text_config.vocab_size} < tokenizer size "
                             f"{len(tokenizer)}; raise it or lower train.tokenizer_vocab_size")
        return VLM2Model(cfg)
    model = VLM2Model.from_pretrained_towers(cfg, vision_path, text_path)
    if len(tokenizer) > model.config.text_config.vocab_size:
        model.lm.resize_token_embeddings(len(tokenizer))
        model.config.text_config.vocab_size = model.lm.config.vocab_size
    return model


def export_questions(dataset: EpisodeVideoDataset, path: str | Path) -> Path:
    """All questions of ``dataset`` as gzip JSONL (byte-identical for the same store)."""
    import gzip

    text = "".join(json.dumps(q.to_dict()) + "\n" for i in range(len(dataset)) for q in dataset.questions(i))
    return atomic_write(path, gzip.compress(text.encode(), compresslevel=9, mtime=0))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_perception(model: VLM2Model, path: str | Path) -> None:
    """Copy the perception (the modules that make H_t) of the stage-1 model saved at ``path``
    into ``model`` and freeze it; the settings that shape H_t must match."""
    from .features import ENCODER_SETTINGS, perception_state, vision_architecture

    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"train.perception={path}: no stage-1 model there (config.json); train one with "
                                f"python experiments/train_stage1.py --out {Path(path).parent} (its model/ folder)")
    source = VLM2Model.from_pretrained(str(path))
    for name in ENCODER_SETTINGS:
        if getattr(source.config, name) != getattr(model.config, name):
            raise ValueError(f"train.perception={path}: its {name}={getattr(source.config, name)!r} differs from the "
                             f"model's {getattr(model.config, name)!r}; train stage 1 with the same model settings")
    if vision_architecture(source.config) != vision_architecture(model.config):
        raise ValueError(f"train.perception={path}: its vision_config differs from the model's; train stage 1 with "
                         "the same model group")
    state = perception_state(source)
    model.load_state_dict(state, strict=False)
    for name, p in model.named_parameters():
        if name in state:
            p.requires_grad_(False)


#: Fields a resumed run may change: where things are read or written, logging, evaluation and
#: when to stop, none of which changes the weights the steps produce.
RESUMABLE_CHANGES = frozenset(f"train.{k}" for k in (
    "name", "data_root", "stop_after", "num_threads", "device", "log_every", "checkpoint_every", "eval_every",
    "eval_max_episodes", "progress", "feature_cache", "diagnostics", "val_split", "test_split", "resume"))


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys of ``old`` whose values differ in ``new`` (keys a newer version added are not
    counted, so runs written before a field existed still resume)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for k in sorted(old) for c in _changed_keys(old[k], new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


class Trainer:
    """Owns the data, model, optimiser and run folder of one training run."""

    def __init__(self, cfg: TrainConfig, model_cfg, memory_cfg=None, run_dir: str | Path = "outputs/train/run",
                 logger=None, run_config: Mapping[str, Any] | None = None):
        self.cfg = cfg.validate()
        self.run_dir = Path(run_dir)
        self.rank, self.world, dist_device = init_distributed()
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        self.device = dist_device or select_device(cfg.device)
        torch.manual_seed(cfg.seed)
        root = Path(cfg.data_root)
        self.train_ds = EpisodeVideoDataset(root / cfg.train_split, cfg.stride, cfg.cache_frames)
        self.val_ds = self._optional_split(cfg.val_split)
        self.test_ds = self._optional_split(cfg.test_split)
        text_path = model_cfg.get("text_model_path") if hasattr(model_cfg, "get") else None
        texts = tokenizer_texts([self.train_ds])
        if cfg.grounding_questions or cfg.presence_alignment:
            from envs.gym.objectnav import default_categories

            from .grounding import grounding_texts

            texts += grounding_texts(default_categories())
        self.tokenizer = make_tokenizer(texts, cfg.tokenizer_vocab_size, text_path)
        self._category_ids = None
        if cfg.presence_alignment:
            from .alignment import category_token_ids

            self._category_ids = category_token_ids(self.tokenizer, default_categories())
        self.model = build_model(model_cfg, memory_cfg, self.tokenizer).to(self.device).train()
        if cfg.perception is not None:  # stage 3: a frozen stage-1 perception, its features cached
            load_perception(self.model, cfg.perception)
            cache_root = Path(cfg.feature_cache or root / "features")
            self.train_ds, self.val_ds, self.test_ds = (
                None if ds is None else EpisodeFeatureDataset(ds, build_feature_cache(
                    self.model, ds, cache_root / Path(ds.store.root).parent.name, progress=cfg.progress))
                for ds in (self.train_ds, self.val_ds, self.test_ds))
            self.model.train()
        self.ddp_model = self.model
        if torch.distributed.is_initialized():  # torchrun (or a 1-process group, as in the tests)
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in trainable if p.ndim >= 2]
        no_decay = [p for p in trainable if p.ndim < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio))
        self.sampler = DistributedSampler(self.train_ds, num_replicas=self.world, rank=self.rank, shuffle=True,
                                          seed=cfg.seed, drop_last=True)
        self.steps_per_epoch = len(self.sampler) // cfg.videos_per_step
        if self.steps_per_epoch < 1:
            raise ValueError(f"train: {len(self.train_ds)} episodes over {self.world} processes give no full step of "
                             f"videos_per_step={cfg.videos_per_step}")
        self.logger = logger or NullLogger()
        self.run_config = dict(run_config or {})
        self.step = 0
        self._train_seconds = 0.0
        self._grounding_cache: dict[int, tuple] = {}
        self._split_loader = None

    def _optional_split(self, split: str | None) -> EpisodeVideoDataset | None:
        if split is None or not (Path(self.cfg.data_root) / split / "episodes").is_dir():
            return None
        return EpisodeVideoDataset(Path(self.cfg.data_root) / split, self.cfg.stride, self.cfg.cache_frames)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    # ------------------------------------------------------------------ data
    def batch_at(self, step: int) -> dict:
        """The batch of global step ``step`` for this process (a pure function of seed, rank, step)."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        vps = self.cfg.videos_per_step
        picked = order[pos * vps:(pos + 1) * vps]
        items = [self.train_ds[i] for i in picked]
        rng = np.random.default_rng([self.cfg.seed, self.rank, step])
        if self.cfg.grounding_questions:
            ground = np.random.default_rng([self.cfg.seed, self.rank, step, 1])
            items = [dataclasses.replace(it, questions=it.questions + self._grounding(i, it, ground))
                     for i, it in zip(picked, items)]
        batch = collate(items, self.tokenizer, self.cfg.questions_per_video, rng)
        if self.cfg.presence_alignment:
            batch["presence"] = torch.stack([self._presence(i, it) for i, it in zip(picked, items)])
        return batch

    def _scene_labels(self, index: int, item) -> tuple[dict[int, str], list]:
        """Instance categories and per-frame visible instances of training episode ``index`` (read once)."""
        from .grounding import instance_categories

        if index not in self._grounding_cache:
            if self._split_loader is None:
                from vlm2_agent.eqa.audit import split_loader

                self._split_loader, _ = split_loader(self.cfg.data_root, self.cfg.train_split, self.cfg.scenes_root)
            scene, log = self._split_loader(item.questions[0])
            self._grounding_cache[index] = (instance_categories(scene), log.visible)
        return self._grounding_cache[index]

    def _presence(self, index: int, item) -> torch.Tensor:
        """(C,) 1 where a catalogue category is seen in ``item``'s kept frames (the alignment targets)."""
        from envs.gym.objectnav import default_categories

        from .grounding import seen_counts

        category_of, visible = self._scene_labels(index, item)
        counts = seen_counts(category_of, visible, item.frame_indices)
        return torch.tensor([float(counts.get(c, 0) > 0) for c in default_categories()])

    def _grounding(self, index: int, item, rng: np.random.Generator) -> list:
        """:func:`~.grounding.grounding_questions` about ``item``'s kept frames (scene read once)."""
        from envs.gym.objectnav import default_categories

        from .grounding import grounding_questions

        category_of, visible = self._scene_labels(index, item)
        return grounding_questions(item.episode_id, category_of, visible, item.frame_indices, default_categories(),
                                   self.cfg.grounding_questions, rng)

    def _to_device(self, batch: dict) -> dict:
        out = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        if "geometry" in batch:
            out["geometry"] = {k: v.to(self.device) for k, v in batch["geometry"].items()}
        return out

    # ------------------------------------------------------------------ loop
    def train_step(self, step: int) -> dict[str, float]:
        batch = self._to_device(self.batch_at(step))
        presence = batch.pop("presence", None)
        with autocast_context(self.device if self.cfg.bf16 else "cpu"):
            out = self.ddp_model(**batch)
        loss, align = out.loss, None
        if presence is not None:
            from .alignment import category_embeddings, presence_alignment_loss

            words = category_embeddings(self.model.lm.get_input_embeddings(), self._category_ids)
            align = presence_alignment_loss(out.prefix_embeds, out.prefix_mask, words, presence)
            loss = loss + self.cfg.presence_alignment * align
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                                   self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        row = {"loss": loss.item(), "lm_loss": out.lm_loss.item(), "grad_norm": float(grad_norm),
               "lr": self.scheduler.get_last_lr()[0], "questions": int(batch["input_ids"].shape[0]),
               "frames": int(batch["features" if "features" in batch else "pixel_values"].shape[1])}
        if out.geometry_loss is not None:
            row["geometry_loss"] = out.geometry_loss.item()
        if align is not None:
            row["presence_alignment_loss"] = align.item()
        return row

    def _run_doc(self) -> dict[str, Any]:
        """What ``train_config.json`` records: the train, model and memory config and the world size."""
        doc = {"train": self.cfg.to_dict(), **self.run_config, "world_size": self.world}
        return json.loads(json.dumps(doc, default=str))

    def _check_resume_config(self) -> None:
        """Refuse to resume a checkpoint under a config that changes what it trains: the schedule,
        the model or the data order would silently be the checkpoint's, not the config's."""
        saved = self.run_dir / "train_config.json"
        if not (self.cfg.resume and self.checkpoint_path.is_file() and saved.is_file()):
            return
        try:
            old = json.loads(saved.read_text())
        except (OSError, json.JSONDecodeError):
            return
        changed = [k for k in _changed_keys(old, self._run_doc()) if k not in RESUMABLE_CHANGES]
        if changed:
            raise ValueError(f"{self.run_dir}: resuming {self.checkpoint_path.name} with a changed config: "
                             f"{', '.join(changed[:8])} differ from {saved.name}; train in a new run dir "
                             f"(e.g. another train.name), or set train.resume=false to start this one anew")

    def resume(self) -> int:
        """Continue from ``checkpoints/last.pt`` when it exists (and ``train.resume``); drops metric rows
        logged after it (all of them when starting anew)."""
        if not self.cfg.resume:
            if self.is_main and (self.run_dir / "metrics.jsonl").exists():
                self._write_rows([])
            return self.step
        if self.checkpoint_path.is_file():
            self.step = load_checkpoint(self.checkpoint_path, self.model, self.optimizer, self.scheduler, self.device)
            rows = [r for r in self._read_rows() if r["step"] <= self.step]
            if self.is_main:
                self._write_rows(rows)
        return self.step

    def fit(self) -> dict[str, Any]:
        """Train to ``max_steps`` (or ``stop_after``), then save the model and evaluate on the test split.
        The main process holds the run dir's lock: a second run on the same folder stops at once."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.run_dir, "training run") if self.is_main else contextlib.nullcontext():
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        self._check_resume_config()
        start = self.resume()
        stop = cfg.stop_after or cfg.max_steps
        if self.is_main:
            (self.run_dir / "train_config.json").write_text(json.dumps(self._run_doc(), indent=1) + "\n")
        bar = tqdm(total=stop, initial=start, desc=f"train {cfg.name}", unit="step",
                   disable=not (cfg.progress and self.is_main))
        t0 = time.perf_counter()
        for step in range(start, stop):
            row = self.train_step(step)
            self.step = step + 1
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", T=row["frames"])
            if self.step % cfg.log_every == 0 or self.step == stop:
                self._log({"step": self.step, **row, "elapsed_s": round(time.perf_counter() - t0, 2)})
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.val_ds is not None:
                self._log({"step": self.step, **self.evaluate(self.val_ds, cfg.eval_max_episodes, "val")})
            if self.is_main and (self.step % cfg.checkpoint_every == 0 or self.step == stop):
                save_checkpoint(self.checkpoint_path, self.model, self.optimizer, self.scheduler, self.step)
        bar.close()
        self._train_seconds = round(time.perf_counter() - t0, 1)
        summary: dict[str, Any] = {"step": self.step, "finished": self.step >= cfg.max_steps,
                                   "train_seconds": self._train_seconds,
                                   "peak_rss_mb": peak_rss_mb()}
        if summary["finished"] and self.is_main:
            summary["model_dir"] = str(self.save_model(self.run_dir / "model"))
            if self.test_ds is not None:
                summary["test"] = self.final_eval()
        self.logger.log({k: v for k, v in summary.items() if isinstance(v, (int, float))}, step=self.step)
        return summary

    # --------------------------------------------------------------- outputs
    def save_model(self, path: str | Path) -> Path:
        """model.safetensors + config.json + tokenizer.json, and the training questions (gzip JSONL) that
        the blind / frequency baselines of ``make demo`` are fitted on."""
        VLM2Streamer(self.model, self.tokenizer, self.device).save_pretrained(path)
        export_questions(self.train_ds, Path(path) / "train_questions.jsonl.gz")
        self.model.train()
        return Path(path)

    def evaluate(self, dataset: EpisodeVideoDataset, max_episodes: int | None, prefix: str) -> dict[str, float]:
        from vlm2_agent.eqa.evaluate import evaluate

        qs, rs = answer_dataset(self.model, self.tokenizer, dataset, max_episodes, progress=False)
        table = evaluate(qs, rs)["table"]
        return {f"{prefix}/{b}_overall": table[b]["overall"] for b in ("vsi", "vsti") if b in table}

    def final_eval(self) -> dict[str, Any]:
        """Score every test episode; writes eval/test.{md,json,png,_scores.jsonl}."""
        from vlm2_agent.eqa.evaluate import evaluate, write_report

        from .diagnostics import diagnostics, markdown, video_swap

        t0 = time.perf_counter()
        swap = None
        if self.cfg.diagnostics:  # own, another scene's and a blank video; the own replies are the scores
            swap = video_swap(self.model, self.tokenizer, self.test_ds, progress=self.cfg.progress)
            qs, rs = swap["questions"], swap["own"]
        else:
            qs, rs = answer_dataset(self.model, self.tokenizer, self.test_ds, progress=self.cfg.progress)
        result = evaluate(qs, rs)
        meta = {"split": self.cfg.test_split, "stride": self.cfg.stride, "seed": self.cfg.seed,
                "steps": self.step, "eval_seconds": round(time.perf_counter() - t0, 1),
                "train_seconds_this_process": self._train_seconds, "peak_rss_mb": peak_rss_mb()}
        paths = write_report(result, self.run_dir / "eval", name="test", meta=meta)
        out = {"table": result["table"], "paths": {k: str(v) for k, v in paths.items()}, **meta}
        if swap is not None:
            diag = diagnostics(swap, self.model.config.working_memory_size * self.cfg.stride)
            (self.run_dir / "eval" / "diagnostics.json").write_text(json.dumps(diag, indent=1) + "\n")
            (self.run_dir / "eval" / "diagnostics.md").write_text(markdown(diag))
            out["diagnostics"] = diag
        return out

    def _read_rows(self) -> list[dict]:
        p = self.run_dir / "metrics.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.is_file() else []

    def _write_rows(self, rows: list[dict]) -> None:
        atomic_write(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def _log(self, row: dict) -> None:
        if not self.is_main:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self.logger.log({k: v for k, v in row.items() if k != "step"}, step=row["step"])


__all__ = ["Trainer", "build_model", "load_perception", "export_questions", "init_distributed", "make_tokenizer", "warmup_cosine"]
