"""ReturnNav with a goal-conditioned memory read: stream a tour into VLM2's memory, ask the
:class:`~vlm2_agent.policy.goal_locator.GoalLocator` where the goal was, then navigate there.

- :class:`MultiMemoryStreamer` encodes each frame once and steps several memory modes side by side
  (``dual``, ``working``, ``none``...), so memory variants see exactly the same frames and features.
- :func:`collect_tours` runs ReturnNav tours and keeps, per memory mode, the memory tokens and entry
  centroids at the tour's end, and for every object seen during the tour its (category, room type)
  and true positions: the locator's training and test data.
- :func:`train_locator` fits a locator on such data; :func:`locator_errors` measures it.

Example:
    >>> from vlm2_agent.policy.backbone import build_backbone
    >>> model = build_backbone({"geometry_source": "oracle", "memory_mode": "dual"}, seed=0)
    >>> streamer = MultiMemoryStreamer(model, ("dual", "none"))
    >>> sorted(streamer.modes)
    ['dual', 'none']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from vlm2_agent.policy.backbone import build_backbone, memory_module, strip_language
from vlm2_agent.policy.goal_locator import GoalLocator, GoalLocatorConfig, nearest_target_loss
from vlm2_agent.policy.memory_wrapper import frame_inputs

MEMORY_MODES = ("dual", "working", "none")


class MultiMemoryStreamer:
    """One VLM2 frame encoder feeding one memory per mode (same weights, same frames)."""

    def __init__(self, model, modes: Sequence[str] = MEMORY_MODES):
        if model.config.geometry_source != "oracle":
            raise ValueError("MultiMemoryStreamer: entry positions need geometry_source='oracle' (depth + pose)")
        self.model = model.eval()
        self.modes = {m: memory_module(model, m) for m in modes}
        self.states: dict[str, Any] = {}

    def reset(self) -> None:
        d = self.model.config.hidden_size
        self.states = {m: mem.init_state(1, d) for m, mem in self.modes.items()}

    @torch.no_grad()
    def observe(self, rgb: torch.Tensor, geometry: Mapping[str, torch.Tensor]) -> None:
        """One frame (1, 3, H, W) with its oracle geometry, encoded once and written to every memory."""
        if not self.states:
            raise RuntimeError("MultiMemoryStreamer: call reset() before observe()")
        first = next(iter(self.states.values()))  # holds the episode's reference pose
        fused, coords = self.model.encode_for_memory(first, rgb, dict(geometry))
        for mode, mem in self.modes.items():
            mem.step(fused[:, 0], self.states[mode], coords[:, 0])

    def snapshot(self, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens (P, D), coords (P, 4), mask (P,)) of one mode's memory now."""
        mem, state = self.modes[mode], self.states[mode]
        tokens, mask, _ = mem.prefix(state)
        return (tokens[0].float().numpy().copy(), mem.prefix_coords(state)[0].numpy().copy(), mask[0].numpy().copy())


@dataclass
class TourData:
    """Memory snapshots at the end of ReturnNav tours and the objects seen in them.

    ``tokens[mode]`` (E, P, D), ``coords[mode]`` (E, P, 4), ``mask[mode]`` (E, P): one row per episode.
    Goals (G rows): ``episode`` (index into E), ``category`` / ``room`` indices, ``targets`` (G, T, 2)
    true positions of every instance the goal names (``gps`` frame of the tour's start, metres),
    ``target_mask`` (G, T), and ``age`` = tour steps since the goal was last seen; ``end`` (E, 2):
    where each tour ended (``gps`` frame).
    """

    tokens: dict[str, np.ndarray]
    coords: dict[str, np.ndarray]
    mask: dict[str, np.ndarray]
    episode: np.ndarray
    category: np.ndarray
    room: np.ndarray
    targets: np.ndarray
    target_mask: np.ndarray
    age: np.ndarray
    end: np.ndarray

    def save(self, path) -> None:
        from vlm2_base.io import atomic_write

        arrays = {"episode": self.episode, "category": self.category, "room": self.room, "targets": self.targets,
                  "target_mask": self.target_mask, "age": self.age, "end": self.end}
        for mode in self.tokens:
            arrays.update({f"tokens/{mode}": self.tokens[mode].astype(np.float16),
                           f"coords/{mode}": self.coords[mode], f"mask/{mode}": self.mask[mode]})
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> "TourData":
        with np.load(path) as z:
            modes = sorted({k.split("/", 1)[1] for k in z.files if k.startswith("tokens/")})
            if not modes:
                raise ValueError(f"{path}: no 'tokens/<mode>' arrays; expected a TourData.save file")
            return cls({m: z[f"tokens/{m}"].astype(np.float32) for m in modes}, {m: z[f"coords/{m}"] for m in modes},
                       {m: z[f"mask/{m}"] for m in modes}, z["episode"], z["category"], z["room"], z["targets"],
                       z["target_mask"], z["age"], z["end"])


def goal_records(env) -> list[dict[str, Any]]:
    """Every (category, room type) seen in the tour just finished: indices, instance centres (world
    ``centres`` (T, 3); ``targets`` (T, 2) on the floor in the tour's start frame), age, and
    ``pixels``, the most pixels an instance of it covered in one tour frame."""
    base = env.unwrapped
    centres = {int(o.instance_id): np.asarray(o.box.center, float) for o in base.scene.objects}
    out = []
    for (cat, rt), seen in sorted(base.goal_candidates().items()):
        world = np.stack([centres[i] for i in base.instances(cat, rt)])
        out.append({"category": base.categories.index(cat), "room": base.room_types.index(rt),
                    "centres": world, "targets": base.to_start_frame(world),
                    "age": len(base.tour) - max(base.seen[i][1] for i in seen),
                    "pixels": max(base.seen[i][2] for i in seen)})
    return out


class StreamedTour(NamedTuple):
    """What :func:`stream_tour` and :func:`run_tour` return."""

    info: dict[str, Any]
    """The env's info after the tour's last step."""
    first_camera_to_world: np.ndarray
    """(4, 4) pose of the depth camera at the tour's first frame: the frame of the memory's entry centroids."""


def stream_tour(env, streamer: MultiMemoryStreamer, on_frame: Callable[[Any], None] | None = None) -> StreamedTour:
    """Stream the tour of ``env`` (ReturnNav, just reset) into ``streamer``, from the reset's frame to
    the tour's last step; ``on_frame(env)`` runs after each frame (a ground-truth recogniser, an
    exploration map) so that everything watching the tour sees the same frames."""
    base = env.unwrapped
    types = {s.type: s for s in base.sim_config.sensors}
    first = base.camera_to_world(types["depth"].uuid)
    streamer.reset()
    info: dict[str, Any] = {}
    while True:
        streamer.observe(*frame_inputs(base, types["rgb"], types["depth"]))
        if on_frame is not None:
            on_frame(env)
        if not base.in_tour:
            return StreamedTour(info, first)
        _, _, term, trunc, info = env.step(0)
        if term or trunc:
            raise RuntimeError("stream_tour: the episode ended during the tour")


def run_tour(env, streamer: MultiMemoryStreamer, seed: int | None = None, options: dict[str, Any] | None = None,
             on_frame: Callable[[Any], None] | None = None) -> StreamedTour:
    """Reset ``env`` (ReturnNav) with ``seed`` and ``options`` (e.g. ``{"episode": ep}`` to replay an
    episode file's tour), then :func:`stream_tour`."""
    _, info = env.reset(seed=seed, options=options)
    tour = stream_tour(env, streamer, on_frame)
    return tour if tour.info else tour._replace(info=info)


@torch.no_grad()
def estimate_goal(env, streamer: MultiMemoryStreamer, locator: GoalLocator, mode: str, snap: bool = True) -> np.ndarray:
    """World position of the ReturnNav episode's goal ("the <category> in the <room type>") read
    from ``mode``'s memory by ``locator``; with ``snap`` moved to the nearest navigable point
    (``snap_to_navigable``: the goal is usually an object's surface, not floor)."""
    base = env.unwrapped
    cat = torch.tensor([base.categories.index(base.goal_category)])
    room = torch.tensor([base.room_types.index(base.goal_room_type)])
    tokens, coords, mask = (torch.from_numpy(a)[None] for a in streamer.snapshot(mode))
    xy = locator(tokens, coords, mask, cat, room).position[0].numpy()
    point = base.from_start_frame(xy)
    return base.snap_to_navigable(point) if snap else point


def collect_tours(env_kwargs: Mapping[str, Any], checkpoint: str | None, episodes: int, seed: int,
                  modes: Sequence[str] = MEMORY_MODES, vlm2: Mapping[str, Any] | None = None,
                  progress: bool = True) -> TourData:
    """Run ``episodes`` ReturnNav tours (seeds ``seed + i``) and keep each mode's memory at the tour's end."""
    from tqdm.auto import tqdm

    model = strip_language(build_backbone(vlm2, checkpoint))
    streamer = MultiMemoryStreamer(model, modes)
    env = gym.make("VLM2/ReturnNav-v0", **env_kwargs)
    snaps: dict[str, list] = {m: [] for m in modes}
    goals: list[dict[str, Any]] = []
    ends = []
    for i in tqdm(range(episodes), desc="tours", disable=not progress):
        run_tour(env, streamer, seed + i)
        for m in modes:
            snaps[m].append(streamer.snapshot(m))
        goals += [{**g, "episode": i} for g in goal_records(env)]
        ends.append(env.unwrapped.to_start_frame(env.unwrapped.position)[0])
    env.close()
    if not goals:
        raise RuntimeError("collect_tours: no object was seen in any tour; use longer tours")
    t_max = max(len(g["targets"]) for g in goals)
    targets = np.zeros((len(goals), t_max, 2), np.float32)
    tmask = np.zeros((len(goals), t_max), bool)
    for j, g in enumerate(goals):
        targets[j, :len(g["targets"])] = g["targets"]
        tmask[j, :len(g["targets"])] = True
    stack = {m: [np.stack([s[k] for s in snaps[m]]) for k in range(3)] for m in modes}
    return TourData({m: v[0] for m, v in stack.items()}, {m: v[1] for m, v in stack.items()},
                    {m: v[2] for m, v in stack.items()}, np.array([g["episode"] for g in goals]),
                    np.array([g["category"] for g in goals]), np.array([g["room"] for g in goals]),
                    targets, tmask, np.array([g["age"] for g in goals]), np.array(ends, np.float32))


def _goal_batch(data: TourData, mode: str, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
    e = data.episode[rows]
    return (torch.from_numpy(data.tokens[mode][e]), torch.from_numpy(data.coords[mode][e]),
            torch.from_numpy(data.mask[mode][e]), torch.from_numpy(data.category[rows]),
            torch.from_numpy(data.room[rows]), torch.from_numpy(data.targets[rows]),
            torch.from_numpy(data.target_mask[rows]))


def entry_targets(coords: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, target_mask: torch.Tensor,
                  radius: float = 1.0, min_valid: float = 0.05) -> torch.Tensor:
    """(B, P) bool: the memory entries whose centroid lies within ``radius`` (m, on the floor plane)
    of one of the goal's instances (``targets`` (B, T, 2) in the ``gps`` frame): what a goal read
    should attend to."""
    from vlm2_agent.policy.goal_locator import gps_from_camera

    d = torch.linalg.norm(gps_from_camera(coords)[:, :, None] - targets[:, None], dim=-1)
    near = (d < radius) & target_mask[:, None]
    return near.any(dim=2) & mask.bool() & (coords[..., 3] >= min_valid)


def attention_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Multiple-instance cross-entropy: -log of the attention mass on the positive entries,
    averaged over the goals that have any (a goal whose object no entry shows adds nothing).

    >>> attention_loss(torch.tensor([[0.0, 0.0, float("-inf")]]), torch.tensor([[True, False, False]]))
    tensor(0.6931)
    """
    has = positives.any(dim=1)
    if not bool(has.any()):
        return logits.new_zeros(())
    log_p = torch.log_softmax(logits, dim=1)
    pos = torch.logsumexp(log_p.masked_fill(~positives, float("-inf")), dim=1)
    return -pos[has].mean()


def train_locator(data: TourData, mode: str, num_categories: int, num_room_types: int, steps: int = 2000,
                  batch_size: int = 64, lr: float = 3e-3, seed: int = 0, attention_weight: float = 1.0,
                  radius: float = 1.0, semantic_head: str | None = None,
                  progress: bool = True) -> tuple[GoalLocator, list[float]]:
    """Fit a :class:`GoalLocator` on one memory mode of ``data``. Loss: distance to the nearest
    instance (:func:`nearest_target_loss`) + ``attention_weight`` x :func:`attention_loss` toward
    the entries within ``radius`` of an instance. Why the second term: through the weighted mean
    alone the gradient only says "move the average", not which entry shows the goal.
    ``semantic_head``: a perception head file to start the locator's category scorer from.
    Returns the model and the loss per step."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    loc = GoalLocator(GoalLocatorConfig(hidden_size=int(data.tokens[mode].shape[-1]), num_categories=num_categories,
                                        num_room_types=num_room_types,
                                        semantic_classes=num_categories + 1 if semantic_head else 0))
    if semantic_head:
        loc.load_semantic_head(semantic_head)
    opt = torch.optim.AdamW(loc.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    loc.train()
    for _ in tqdm(range(steps), desc=f"locator[{mode}]", disable=not progress, leave=False):
        rows = rng.integers(0, len(data.episode), batch_size)
        tokens, coords, mask, cat, room, targets, tmask = _goal_batch(data, mode, rows)
        est = loc(tokens, coords, mask, cat, room)
        loss = nearest_target_loss(est.position, targets, tmask)
        if attention_weight:
            positives = entry_targets(coords, mask, targets, tmask, radius, loc.config.min_valid)
            loss = loss + attention_weight * attention_loss(est.logits, positives)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return loc.eval(), losses


@torch.no_grad()
def locator_errors(loc: GoalLocator | None, data: TourData, mode: str) -> dict[str, np.ndarray]:
    """Per goal: ``error`` (m, prediction to the nearest instance; NaN without a locator),
    ``best_entry`` (m, the memory entry nearest to an instance: what the memory holds at best)
    and ``agent`` (m, the tour's end position to the nearest instance: knowing nothing)."""
    rows = np.arange(len(data.episode))
    tokens, coords, mask, cat, room, targets, tmask = _goal_batch(data, mode, rows)
    from vlm2_agent.policy.goal_locator import gps_from_camera

    def nearest(points: torch.Tensor) -> torch.Tensor:  # points (G, Q, 2) -> (G,) min distance to a target
        d = torch.linalg.norm(points[:, :, None] - targets[:, None], dim=-1)
        return d.masked_fill(~tmask[:, None], float("inf")).amin(dim=(1, 2))

    usable = mask & (coords[..., 3] >= 0.05)
    entries = gps_from_camera(coords).masked_fill(~usable[..., None], float("inf"))
    end = torch.from_numpy(data.end[data.episode]).float()
    out = {"best_entry": nearest(entries).numpy(), "agent": nearest(end[:, None]).numpy(), "age": data.age.copy()}
    out["error"] = nearest(loc(tokens, coords, mask, cat, room).position[:, None]).numpy() if loc is not None else \
        np.full(len(rows), np.nan)
    return out


__all__ = ["MEMORY_MODES", "MultiMemoryStreamer", "StreamedTour", "TourData", "collect_tours", "run_tour",
           "stream_tour", "goal_records", "estimate_goal", "entry_targets", "attention_loss", "train_locator",
           "locator_errors"]
