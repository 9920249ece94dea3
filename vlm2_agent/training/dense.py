"""Stage 1 of VLM2 training: the perception learns from dense simulator labels, every patch a target.

The perception is every module that ``encode_frames`` runs (vision tower, geometry branch, A3PI,
VAGA, fusion); its output tokens H_t get three small heads that are dropped afterwards:

* **category**: cross-entropy over "no object" + the object categories (what a patch shows);
* **depth**: L1 on the log of each patch's mean depth (how far it is; the learned geometry
  branch keeps its own point-map loss on top);
* **instance**: a cross-view objective. Tokens of the same object instance seen in different views
  of one scene must be nearer to each other than to any other token of the batch (a supervised
  contrastive loss on normalised embeddings, positives only across views). This is what counting
  and re-identification need: the same chair seen twice is one chair.

Batches hold ``views`` views of each of ``scenes`` scenes, so that every batch has cross-view
positives. :func:`evaluate_dense` reports patch accuracy (all patches, object patches), depth error
and instance re-identification: for each object token, is the nearest object token of the *other*
views of its scene the same instance? (with the share of same-category neighbours beside it).

Example:
    >>> import torch
    >>> emb = torch.nn.functional.normalize(torch.tensor([[1., 0], [1, .1], [0, 1], [.1, 1]]), dim=1)
    >>> ids, views = torch.tensor([7, 7, 9, 9]), torch.tensor([0, 1, 0, 1])
    >>> round(cross_view_loss(emb, ids, views, temperature=0.1).item(), 3)
    0.0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .features import PERCEPTION_MODULES
from .perception import SemanticFrames


@dataclass(frozen=True)
class DenseConfig:
    """Stage-1 settings. ``steps`` of AdamW at ``lr`` (one-cycle), batches of ``scenes`` x ``views``
    views, loss weights, the contrastive ``temperature`` and embedding width ``embed_dim``."""

    steps: int = 3000
    scenes: int = 8
    views: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    category_weight: float = 1.0
    depth_weight: float = 1.0
    instance_weight: float = 0.5
    temperature: float = 0.1
    embed_dim: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.scenes < 1 or self.views < 2:
            raise ValueError(f"dense: need steps >= 1, scenes >= 1 and views >= 2 (cross-view pairs); got "
                             f"steps={self.steps}, scenes={self.scenes}, views={self.views}")
        if not self.temperature > 0 or not self.lr > 0:
            raise ValueError(f"dense: temperature and lr must be > 0, got {self.temperature}, {self.lr}")


class DenseHeads(nn.Module):
    """Category logits, log depth and a unit instance embedding per token of H_t."""

    def __init__(self, dim: int, num_categories: int, embed_dim: int = 32):
        super().__init__()
        self.category = nn.Linear(dim, num_categories + 1)
        self.depth = nn.Linear(dim, 1)
        self.instance = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, embed_dim))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.category(tokens), self.depth(tokens).squeeze(-1), F.normalize(self.instance(tokens), dim=-1)


def cross_view_loss(embeddings: torch.Tensor, instance: torch.Tensor, view: torch.Tensor,
                    temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss over object tokens: (M, E) unit embeddings, (M,) instance ids,
    (M,) view ids. Positives of a token: the tokens of its instance in *other* views; the
    denominator: every other token. Tokens without a cross-view positive are not anchors."""
    sim = embeddings @ embeddings.T / temperature
    eye = torch.eye(len(sim), dtype=torch.bool, device=sim.device)
    log_prob = sim.masked_fill(eye, float("-inf")).log_softmax(dim=1)
    positive = (instance[:, None] == instance[None]) & (view[:, None] != view[None])
    anchors = positive.any(dim=1)
    if not bool(anchors.any()):
        return embeddings.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp_min(1))
    return per_anchor[anchors].mean()


def perception_parameters(model) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if n.split(".", 1)[0] in PERCEPTION_MODULES]


def sample_rows(frames: SemanticFrames, scenes: int, views: int, rng: np.random.Generator) -> np.ndarray:
    """``views`` distinct views of each of ``scenes`` distinct scenes (rows of ``frames``)."""
    by_scene = _rows_by_scene(frames)
    ids = rng.choice(len(by_scene), min(scenes, len(by_scene)), replace=False)
    return np.concatenate([rng.choice(by_scene[i], min(views, len(by_scene[i])), replace=False) for i in ids])


def _rows_by_scene(frames: SemanticFrames) -> list[np.ndarray]:
    if frames.scene is None or frames.instances is None or frames.patch_depth is None:
        raise ValueError("dense training needs frames rendered with instances, patch_depth and scene "
                         "(vlm2_agent.training.perception.render_frames)")
    return [np.flatnonzero(frames.scene == s) for s in np.unique(frames.scene)]


def dense_losses(model, heads: DenseHeads, frames: SemanticFrames, rows: np.ndarray,
                 cfg: DenseConfig) -> dict[str, torch.Tensor]:
    """The stage-1 losses of the views ``rows`` (keys: loss, category, depth, instance[, geometry])."""
    rgb, geometry, ref, labels = frames.batch(rows)
    enc = model.encode_frames(rgb, geometry, ref)
    logits, log_depth, emb = heads(enc.fused)
    labels = labels.flatten().to(logits.device)
    category = F.cross_entropy(logits.flatten(0, 1), labels)
    target = torch.from_numpy(frames.patch_depth[rows]).flatten(1).to(log_depth.device)
    valid = target > 0
    depth = (log_depth[valid] - target[valid].log()).abs().mean() if bool(valid.any()) else log_depth.sum() * 0
    inst = torch.from_numpy(frames.instances[rows]).flatten(1).to(emb.device)
    view = torch.arange(len(rows), device=emb.device)[:, None].expand_as(inst)
    obj = inst > 0
    instance = cross_view_loss(emb[obj], inst[obj], view[obj], cfg.temperature)
    out = {"category": category, "depth": depth, "instance": instance}
    loss = cfg.category_weight * category + cfg.depth_weight * depth + cfg.instance_weight * instance
    geo = model._geometry_loss(rgb[:, None], {k: v[:, None] for k, v in geometry.items()})
    if geo is not None:
        out["geometry"] = geo
        loss = loss + model.config.geometry_loss_weight * geo
    out["loss"] = loss
    return out


def train_dense(model, frames: SemanticFrames, num_categories: int, cfg: DenseConfig | None = None,
                progress: bool = True, log_every: int = 50) -> tuple[DenseHeads, list[dict[str, float]]]:
    """Train the perception of ``model`` in place with the dense losses; returns the heads and the
    losses (one row per ``log_every`` steps, each the mean over those steps)."""
    from tqdm.auto import tqdm

    cfg = cfg or DenseConfig()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    heads = DenseHeads(model.config.hidden_size, num_categories, cfg.embed_dim)
    params = perception_parameters(model)
    opt = torch.optim.AdamW([*params, *heads.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    model.train()
    rows_log, window = [], []
    bar = tqdm(range(cfg.steps), desc="stage 1 (dense)", disable=not progress)
    for step in bar:
        losses = dense_losses(model, heads, frames, sample_rows(frames, cfg.scenes, cfg.views, rng), cfg)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_([*params, *heads.parameters()], 1.0)
        opt.step()
        sched.step()
        window.append({k: v.item() for k, v in losses.items()})
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            rows_log.append({"step": step + 1, **{k: float(np.mean([w[k] for w in window])) for k in window[0]}})
            bar.set_postfix(loss=f"{rows_log[-1]['loss']:.3f}")
            window = []
    model.eval()
    return heads.eval(), rows_log


@torch.no_grad()
def evaluate_dense(model, heads: DenseHeads, frames: SemanticFrames, batch_size: int = 64) -> dict[str, float]:
    """Patch accuracy (all, objects, the "no object" baseline), depth error (mean |log ratio| and
    absolute relative error) and cross-view instance re-identification on ``frames``."""
    model.eval()
    logits, log_depth, emb = [], [], []
    for start in range(0, len(frames), batch_size):
        rows = np.arange(start, min(start + batch_size, len(frames)))
        rgb, geometry, ref, _ = frames.batch(rows)
        out = heads(model.encode_frames(rgb, geometry, ref).fused)
        logits.append(out[0].flatten(0, 1))
        log_depth.append(out[1].flatten())
        emb.append(out[2].flatten(0, 1))
    pred = torch.cat(logits).argmax(1).numpy()
    labels = frames.labels.reshape(-1)
    obj = labels > 0
    depth_pred = torch.cat(log_depth).exp().numpy()
    target = frames.patch_depth.reshape(-1)
    valid = target > 0
    result = {"accuracy": float((pred == labels).mean()), "object_accuracy": float((pred[obj] == labels[obj]).mean()),
              "no_object_baseline": float(1 - obj.mean()),
              "depth_abs_log": float(np.abs(np.log(depth_pred[valid]) - np.log(target[valid])).mean()),
              "depth_abs_rel": float((np.abs(depth_pred[valid] - target[valid]) / target[valid]).mean()),
              "patches": int(len(labels)), "object_patches": int(obj.sum())}
    result.update(reidentification(torch.cat(emb).numpy(), frames))
    return result


def reidentification(embeddings: np.ndarray, frames: SemanticFrames) -> dict[str, float]:
    """For each object token with its instance visible in another view of its scene: is the nearest
    object token (cosine) among the scene's other views that instance? ``reid_same_category``: the
    share whose neighbour at least has the right category (so the rest is instance knowledge)."""
    g2 = frames.instances.shape[1] * frames.instances.shape[2]
    inst, cats = frames.instances.reshape(-1), frames.labels.reshape(-1)
    view = np.repeat(np.arange(len(frames)), g2)
    scene = np.repeat(frames.scene, g2)
    hits = same_cat = anchors = 0
    for s in np.unique(scene):
        idx = np.flatnonzero((scene == s) & (inst > 0))
        if len(idx) < 2:
            continue
        sim = embeddings[idx] @ embeddings[idx].T
        sim[view[idx][:, None] == view[idx][None]] = -np.inf  # other views only
        has_positive = ((inst[idx][:, None] == inst[idx][None]) & (view[idx][:, None] != view[idx][None])).any(1)
        nearest = idx[sim.argmax(1)]
        hits += int((inst[nearest] == inst[idx])[has_positive].sum())
        same_cat += int((cats[nearest] == cats[idx])[has_positive].sum())
        anchors += int(has_positive.sum())
    return {"reid_accuracy": hits / max(anchors, 1), "reid_same_category": same_cat / max(anchors, 1),
            "reid_anchors": anchors}


def save_heads(heads: DenseHeads, cfg: DenseConfig, path) -> None:
    """The heads as safetensors, their settings in the metadata."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in heads.state_dict().items()}, str(path),
              metadata={k: str(v) for k, v in asdict(cfg).items()})


__all__ = ["DenseConfig", "DenseHeads", "cross_view_loss", "dense_losses", "evaluate_dense",
           "perception_parameters", "reidentification", "sample_rows", "save_heads", "train_dense"]
