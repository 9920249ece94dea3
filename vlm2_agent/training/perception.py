"""Semantic training of VLM2's perception: which object category does each patch token show?

Why: the paper's VLM2 starts from a pretrained vision tower that already recognises objects. Here
no model hub is reachable, so the tower starts from random weights, and a few hundred steps of
EQA training do not teach it what is in a patch (the trained EQA model answers from the question
text). This stage supervises the fused tokens H_t (vision tower + A3PI + VAGA + fusion) with the
simulator's semantic sensor: each patch's label is the object category covering most of its
pixels (0 = no object: walls, floors, doors). A linear head on H_t is trained with them; the head
is dropped afterwards, the perception keeps what it learned, and the memory built from it can be
read for objects (``vlm2_agent.policy.goal_locator``).

Frames are random views of the procedural apartments: random starts, a few random moves, RGB,
depth, camera pose and semantics rendered at the env resolution; each scene's first frame is its
geometry reference, as an episode's first frame is in streaming.

Example:
    >>> semantic = np.array([[0, 0, 5, 5], [0, 0, 5, 7], [7, 7, 0, 0], [7, 0, 0, 0]])
    >>> patch_labels(semantic, {5: 2, 7: 9}, grid=2).tolist()  # categories 2 and 9 -> labels 3 and 10
    [[0, 3], [10, 0]]
    >>> patch_labels(semantic, {5: 2, 7: 9}, grid=2, min_fraction=0.8).tolist()
    [[0, 0], [0, 0]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from envs.render.camera import intrinsics

INSTANCE_STRIDE = 100_000  # global instance label = scene index * stride + the scene's instance id


def patch_labels(semantic: np.ndarray, category_of: Mapping[int, int], grid: int, min_fraction: float = 0.25) -> np.ndarray:
    """(H, W) instance ids -> (grid, grid) labels: 1 + the category index (``category_of`` maps an
    instance id to it) of the object category covering most pixels of each patch, if it covers at
    least ``min_fraction`` of the patch; else 0 (walls, floors, doors, unknown ids). Why a
    threshold rather than a majority against the background: a chair seen across a room covers a
    third of a patch, and the memory should still know that a chair is there.
    ``H`` and ``W`` must be multiples of ``grid``."""
    h, w = semantic.shape
    if h % grid or w % grid:
        raise ValueError(f"patch_labels: a {h}x{w} frame does not split into a {grid}x{grid} grid")
    lut = np.zeros(max([0, *category_of, int(semantic.max())]) + 1, np.int64)
    for inst, cat in category_of.items():
        lut[inst] = cat + 1
    cats = lut[np.asarray(semantic, np.int64)]
    patches = cats.reshape(grid, h // grid, grid, w // grid).transpose(0, 2, 1, 3).reshape(grid * grid, -1)
    counts = np.stack([np.bincount(p, minlength=int(lut.max()) + 1) for p in patches])
    counts[:, 0] = 0  # the background never wins
    best = counts.argmax(axis=1)
    enough = counts[np.arange(len(best)), best] >= min_fraction * patches.shape[1]
    return np.where(enough, best, 0).reshape(grid, grid)


@dataclass
class SemanticFrames:
    """Rendered views: ``rgb`` (N, H, W, 3) uint8, ``depth`` (N, H, W) m, ``cam_to_world`` (N, 4, 4),
    ``ref_pose`` (N, 4, 4) (the frame's scene reference), ``labels`` (N, g, g) and the camera ``hfov``;
    for dense training also ``instances`` (N, g, g) (the object instance covering most of each
    patch, as ``scene * INSTANCE_STRIDE + instance id``; 0 = none), ``patch_depth`` (N, g, g) (mean
    valid depth per patch, 0 where none) and ``scene`` (N,) (index of the view's scene)."""

    rgb: np.ndarray
    depth: np.ndarray
    cam_to_world: np.ndarray
    ref_pose: np.ndarray
    labels: np.ndarray
    hfov: float
    instances: np.ndarray | None = None
    patch_depth: np.ndarray | None = None
    scene: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rgb)

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(frames (B, 3, H, W) uint8, geometry, reference poses (B, 4, 4), labels (B, g*g))."""
        h, w = self.depth.shape[1:]
        k = torch.from_numpy(intrinsics(self.hfov, w, h)).float().expand(len(rows), 3, 3)
        geometry = {"depth": torch.from_numpy(self.depth[rows]), "intrinsics": k,
                    "cam_to_world": torch.from_numpy(self.cam_to_world[rows]).float()}
        return (torch.from_numpy(self.rgb[rows]).permute(0, 3, 1, 2), geometry,
                torch.from_numpy(self.ref_pose[rows]).float(), torch.from_numpy(self.labels[rows]).flatten(1))


def render_frames(split: str, num_scenes: int, views_per_scene: int, grid: int, resolution: int = 64,
                  moves: int = 3, seed: int = 0, progress: bool = True) -> SemanticFrames:
    """Random views of ``num_scenes`` scenes of ``split`` with per-patch category labels (``grid`` x ``grid``)."""
    import gymnasium as gym
    from tqdm.auto import tqdm

    import envs  # noqa: F401
    from envs.gym.objectnav import default_categories

    cats = {c: i for i, c in enumerate(default_categories())}
    env = gym.make("VLM2/Explore-v0", expert=False, config={"split": split, "num_scenes": num_scenes, "sensors": ("rgb", "depth", "semantic"),
                                              "sim": {"resolution": (resolution, resolution)}, "max_cached_scenes": 2})
    base = env.unwrapped
    rng = np.random.default_rng(seed)
    keys = ("rgb", "depth", "cam_to_world", "ref_pose", "labels", "instances", "patch_depth", "scene")
    out: dict[str, list] = {k: [] for k in keys}
    for s, key in enumerate(tqdm(base.source.keys()[:num_scenes], desc=f"views[{split}]", disable=not progress)):
        ref = None
        for _ in range(views_per_scene):
            obs, _ = env.reset(seed=int(rng.integers(2**31)), options={"scene": key})
            for a in rng.integers(1, 4, moves):
                obs, *_ = env.step(int(a))
            pose = base.camera_to_world("depth")
            ref = pose if ref is None else ref
            objects = [o for o in base.scene.objects if o.category in cats]
            category_of = {int(o.instance_id): cats[o.category] for o in objects}
            semantic = np.asarray(obs["semantic"]).reshape(resolution, resolution)
            depth = np.asarray(obs["depth"], np.float32).reshape(resolution, resolution)
            instance = patch_labels(semantic, {int(o.instance_id): int(o.instance_id) - 1 for o in objects}, grid)
            out["rgb"].append(obs["rgb"][..., :3])
            out["depth"].append(depth)
            out["cam_to_world"].append(pose.astype(np.float32))
            out["ref_pose"].append(ref.astype(np.float32))
            out["labels"].append(patch_labels(semantic, category_of, grid))
            out["instances"].append(np.where(instance > 0, s * INSTANCE_STRIDE + instance, 0))
            out["patch_depth"].append(patch_mean_depth(depth, grid))
            out["scene"].append(s)
    hfov = next(s.hfov for s in base.sim_config.sensors if s.type == "depth")
    env.close()
    arrays = {k: np.stack(out[k]) if k != "scene" else np.asarray(out[k]) for k in keys}
    return SemanticFrames(**arrays, hfov=float(hfov))


def patch_mean_depth(depth: np.ndarray, grid: int) -> np.ndarray:
    """(H, W) metres -> (grid, grid) mean of the valid (> 0) depths of each patch, 0 where none.

    >>> patch_mean_depth(np.array([[1., 3, 0, 0], [1, 3, 0, 2], [0, 0, 5, 5], [0, 0, 5, 5]]), 2).tolist()
    [[2.0, 2.0], [0.0, 5.0]]
    """
    h, w = depth.shape
    patches = depth.reshape(grid, h // grid, grid, w // grid).transpose(0, 2, 1, 3).reshape(grid, grid, -1)
    valid = patches > 0
    return np.where(valid.any(-1), (patches * valid).sum(-1) / np.maximum(valid.sum(-1), 1), 0.0).astype(np.float32)


def semantic_head(model, num_categories: int) -> torch.nn.Linear:
    """A linear classifier of H_t tokens into ``num_categories`` + 1 classes (0 = no object)."""
    return torch.nn.Linear(model.config.hidden_size, num_categories + 1)


def patch_logits(model, head: torch.nn.Module, frames: SemanticFrames, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B*N, C), labels (B*N,)) of the fused tokens of ``rows``."""
    rgb, geometry, ref, labels = frames.batch(rows)
    fused = model.encode_frames(rgb, geometry, ref).fused
    return head(fused).flatten(0, 1), labels.flatten()


@torch.no_grad()
def patch_accuracy(model, head: torch.nn.Module, frames: SemanticFrames, batch_size: int = 64) -> dict[str, float]:
    """Accuracy over all patches, over object patches only, and of always answering "no object"."""
    correct = object_correct = objects = total = 0
    for start in range(0, len(frames), batch_size):
        rows = np.arange(start, min(start + batch_size, len(frames)))
        logits, labels = patch_logits(model, head, frames, rows)
        pred = logits.argmax(dim=1)
        correct += int((pred == labels).sum())
        is_obj = labels > 0
        object_correct += int((pred[is_obj] == labels[is_obj]).sum())
        objects += int(is_obj.sum())
        total += len(labels)
    return {"accuracy": correct / total, "object_accuracy": object_correct / max(objects, 1),
            "no_object_baseline": 1 - objects / total, "patches": total}


def train_semantic(model, frames: SemanticFrames, num_categories: int, steps: int, batch_size: int = 32,
                   lr: float = 1e-3, seed: int = 0, progress: bool = True) -> tuple[torch.nn.Module, list[float]]:
    """Train the perception (every module ``encode_frames`` uses) and a linear head with per-patch
    cross-entropy; returns the head and the loss per step. The model is trained in place."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = semantic_head(model, num_categories)
    params = [p for n, p in model.named_parameters() if not n.startswith(("lm.", "projector.", "segment_embed.", "memory."))]
    opt = torch.optim.AdamW([*params, *head.parameters()], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="semantic", disable=not progress):
        logits, labels = patch_logits(model, head, frames, rng.integers(0, len(frames), batch_size))
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return head.eval(), losses


__all__ = ["INSTANCE_STRIDE", "patch_labels", "patch_mean_depth", "SemanticFrames", "render_frames", "semantic_head", "patch_logits", "patch_accuracy",
           "train_semantic"]

