"""How to read a ReturnNav goal out of VLM2's memory: read rules compared on train-split tours.

ReturnNav's search (``experiments/returnnav_search.py``) fails mostly at the read: after 1,000-step
tours the dual memory holds an entry within 1 m of the goal in most episodes, and the patch
classifier's best entry in the goal's room is that entry in few. This script measures read rules
on memories at the end of train-split tours, so that the rule ``returnnav_search`` uses is chosen
without the test scenes:

1. ``--tours`` ReturnNav tours (train split, seeds ``--seed`` + i) stream once into every memory
   mode (``MultiMemoryStreamer``). Kept per tour (``<runs>/tour<steps>_<seed>_v2.npz``, reused): each mode's
   entries (token, centroid in world coordinates, valid fraction), the room type each centroid lies
   in, the category of the object each centroid lies on (ground truth, for the probe), and every
   (category, room type) goal seen in the tour with its instances' centres, age and most pixels.
2. Read rules, each giving one point per goal (``RULES``): the classifier's best entry (``max``),
   and the classifier's probability summed over entries near each entry (``vote``: many views of an
   object agree, one confident wrong patch does not), each with the perception's patch head or a
   linear probe fitted on memory entries of other tours (two folds over tours).
3. The share of goals whose read point lies within 1 m of an instance, by memory mode, rule and
   age of the last sighting; what a perfect read would get (the entry nearest a goal).
4. Why the best entry misses (:func:`rivalry`): per age bin, the score of the goal's own entries
   against the best other entry in rooms of its type, and how the share found depends on how
   large the goal was seen.

Usage: python experiments/returnnav_read.py [--tours 66] [--tour 1000] [--shard K --shards N]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

AGE_BINS = (0, 100, 300, 1000, 5001)
OBJECTNAV_THRESHOLD = 0.5  # experiments/objectnav_search.py's choice on train episodes
LABEL_MARGIN = 0.25  # m: an entry within this of an object's box shows that object


def object_labels(scene, categories: tuple[str, ...], points: np.ndarray) -> np.ndarray:
    """(N,) class of each world point (N, 3): 1 + the category index of the nearest object whose
    oriented box, grown by LABEL_MARGIN, contains it; 0 for none."""
    best = np.full(len(points), np.inf)
    label = np.zeros(len(points), np.int64)
    for o in scene.objects:
        if o.category not in categories:
            continue
        local = (points - o.box.center) @ np.asarray(o.box.rotation)
        outside = np.maximum(np.abs(local) - np.asarray(o.box.axis_lengths) / 2, 0.0)
        d = np.linalg.norm(outside, axis=1)
        hit = (d <= LABEL_MARGIN) & (d < best)
        best[hit], label[hit] = d[hit], categories.index(o.category) + 1
    return label


def cache_path(args, seed: int) -> Path:
    """Where :func:`collect` keeps a tour (v2: goals carry the most pixels seen in one frame)."""
    return Path(args.runs) / f"tour{args.tour}_{seed}_v2.npz"


def collect(args, seed: int, model, env) -> dict[str, Any]:
    from vlm2_agent.policy.memory_goal import MEMORY_MODES, MultiMemoryStreamer, goal_records, run_tour
    from vlm2_agent.policy.object_search import entry_world_points

    path = cache_path(args, seed)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    base = env.unwrapped
    streamer = MultiMemoryStreamer(model, MEMORY_MODES)
    first_c2w = run_tour(env, streamer, seed).first_camera_to_world  # the frame of the memory's centroids
    room_index = {t: i for i, t in enumerate(base.room_types)}
    out: dict[str, Any] = {}
    for mode in MEMORY_MODES:
        tokens, coords, mask = streamer.snapshot(mode)
        keep = mask & (coords[:, 3] >= 0.05)
        world = entry_world_points(coords[keep], first_c2w)
        out[f"{mode}/tokens"] = tokens[keep].astype(np.float32)
        out[f"{mode}/world"] = world
        out[f"{mode}/room"] = np.array([room_index.get(t, -1) for t in base.scene.room_types_at(world)], np.int64)
        out[f"{mode}/label"] = object_labels(base.scene, base.categories, world)
    goals = [(g["category"], g["room"], g["age"], *c, g["pixels"]) for g in goal_records(env) for c in g["centres"]]
    out["goals"] = np.array(goals, np.float64).reshape(-1, 7)  # category, room, age, instance centre x y z, pixels
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    from vlm2_base.io import atomic_write

    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    atomic_write(path, buf.getvalue())
    return out


def collect_all(args) -> list[dict[str, Any]]:
    import gymnasium as gym

    import vlm2_agent.policy  # noqa: F401  (registers VLM2/ReturnNav-v0)
    from vlm2_agent.policy.backbone import build_backbone, strip_language

    seeds = [args.seed + i for i in range(args.tours)]
    todo = [s for s in seeds if not cache_path(args, s).is_file()]
    todo = todo[args.shard::args.shards]
    if todo:
        model = strip_language(build_backbone({"geometry_source": "oracle"}, args.checkpoint))
        env = gym.make("VLM2/ReturnNav-v0", tour=args.tour, sensors=("rgb", "depth"),
                       sim={"resolution": (args.resolution, args.resolution)},
                       config={"split": "train", "num_scenes": args.num_scenes, "max_cached_scenes": 4})
        for seed in tqdm(todo, desc=f"tours of {args.tour} steps"):
            collect(args, seed, model, env)
        env.close()
    if args.shards > 1:
        return []
    return [collect(args, s, None, None) for s in seeds]


def goals_of(tour: dict[str, Any]) -> list[tuple[int, int, int, np.ndarray, int]]:
    """(category, room type, age, instance centres (T, 3), most pixels in one frame) per goal of a tour."""
    g = tour["goals"]
    keys = sorted({(int(c), int(r)) for c, r in g[:, :2]})
    out = []
    for c, r in keys:
        sel = (g[:, 0] == c) & (g[:, 1] == r)
        out.append((c, r, int(g[sel, 2][0]), g[sel, 3:6], int(g[sel, 6][0])))
    return out


def patch_head(checkpoint: str):
    from safetensors.torch import load_file

    w = load_file(str(Path(checkpoint) / "semantic_head.safetensors"))
    head = torch.nn.Linear(w["weight"].shape[1], w["weight"].shape[0])
    head.load_state_dict(w)
    return head.eval()


@torch.no_grad()
def probabilities(head, tokens: np.ndarray) -> np.ndarray:
    """(N, C + 1) class probabilities of memory tokens (N, D); class 0 is "no object"."""
    return torch.softmax(head(torch.as_tensor(tokens, dtype=torch.float32)), dim=-1).numpy()


def fit_probe(tours: list[dict[str, Any]], num_classes: int, seed: int = 0) -> torch.nn.Linear:
    """A linear probe from memory tokens to object classes (multinomial logistic regression, fitted on
    the entries of ``tours``, every mode), as a ``Linear`` head like the perception's: classes that
    never occur get zero weight and a bias of -1e4 (probability 0)."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([t[f"{m}/tokens"] for t in tours for m in ("dual", "working", "none")])
    y = np.concatenate([t[f"{m}/label"] for t in tours for m in ("dual", "working", "none")])
    clf = LogisticRegression(max_iter=2000, C=0.5, random_state=seed).fit(x, y)
    head = torch.nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-1e4)
        coef, bias = (clf.coef_, clf.intercept_) if len(clf.classes_) > 2 else (
            np.concatenate([-clf.coef_, clf.coef_]) / 2, np.concatenate([-clf.intercept_, clf.intercept_]) / 2)
        head.weight[clf.classes_] = torch.as_tensor(coef, dtype=torch.float32)
        head.bias[clf.classes_] = torch.as_tensor(bias, dtype=torch.float32)
    return head.eval()


def read_point(world: np.ndarray, p_goal: np.ndarray, rule: str) -> np.ndarray | None:
    """The read rule's point for one goal from the candidate entries' centroids (N, 3) and their goal
    probabilities (N,): ``max`` the best entry, ``vote`` :func:`~vlm2_agent.policy.object_search.vote_point`."""
    from vlm2_agent.policy.object_search import vote_point

    if not len(world):
        return None
    return world[int(np.argmax(p_goal))] if rule == "max" else vote_point(world, p_goal)[0]


def floor_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N,) floor distance from each point (N, 3) to the nearest of ``centres`` (T, 3)."""
    points = np.asarray(points, float).reshape(-1, 3)
    return np.hypot(points[:, None, 0] - centres[None, :, 0], points[:, None, 2] - centres[None, :, 2]).min(axis=1)


def floor_error(point: np.ndarray | None, centres: np.ndarray) -> float:
    if point is None:
        return float("inf")
    return float(np.min(np.hypot(centres[:, 0] - point[0], centres[:, 2] - point[2])))


def evaluate(tours: list[dict[str, Any]], heads: dict[str, Any], folds: int = 2) -> list[dict[str, Any]]:
    """Per goal, mode and read: the floor error of the read point (and of a perfect read)."""
    rows = []
    for t_index, tour in enumerate(tours):
        for mode in ("dual", "working", "none"):
            world, room = tour[f"{mode}/world"], tour[f"{mode}/room"]
            probs = {name: probabilities(h if not isinstance(h, list) else h[t_index % folds], tour[f"{mode}/tokens"])
                     for name, h in heads.items()}
            for cat, rt, age, centres, _ in goals_of(tour):
                cand = room == rt
                base = {"tour": t_index, "mode": mode, "category": cat, "age": age}
                rows.append({**base, "read": "perfect read (entry nearest the goal)",
                             "error": floor_error(None, centres) if not cand.any() else
                             float(floor_distances(world[cand], centres).min())})
                for name, p in probs.items():
                    for rule in ("max", "vote"):
                        point = read_point(world[cand], p[cand, cat + 1], rule)
                        rows.append({**base, "read": f"{name}, {rule}", "error": floor_error(point, centres)})
                        if name == "patch head" and rule == "max":  # the ObjectNav search's threshold
                            sure = point is not None and p[cand, cat + 1].max() >= OBJECTNAV_THRESHOLD
                            rows.append({**base, "read": f"{name}, {rule}, score >= {OBJECTNAV_THRESHOLD}",
                                         "error": floor_error(point if sure else None, centres)})
    return rows


def rivalry(tours: list[dict[str, Any]], head) -> list[dict[str, Any]]:
    """Per goal of the dual memory, why the best-entry read finds it or not. Among the entries whose
    centroid lies in a room of the goal's type: ``goal_score``, the head's best probability for the
    category among entries within 1 m (floor) of an instance (NaN: the memory holds none there);
    ``rival_score``, the best among the other entries; ``entries``, how many there are. The read
    (``max``) finds the goal exactly when ``goal_score`` beats ``rival_score``. ``on_goal_score``:
    as ``goal_score`` over only those near entries whose centroid lies on an object of the goal's
    category (:func:`object_labels`), the entries that show the goal. ``pixels``: the most pixels
    the goal covered in one tour frame, how well the tour showed it."""
    rows = []
    for tour in tours:
        world, room, label = tour["dual/world"], tour["dual/room"], tour["dual/label"]
        probs = probabilities(head, tour["dual/tokens"])
        for cat, rt, age, centres, pixels in goals_of(tour):
            cand = room == rt
            near = floor_distances(world[cand], centres) <= 1.0
            p = probs[cand, cat + 1]
            on_goal = near & (label[cand] == cat + 1)
            rows.append({"age": age, "pixels": pixels, "entries": int(cand.sum()),
                         "goal_score": float(p[near].max()) if near.any() else float("nan"),
                         "on_goal_score": float(p[on_goal].max()) if on_goal.any() else float("nan"),
                         "rival_score": float(p[~near].max()) if (~near).any() else 0.0})
    return rows


def rivalry_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`rivalry` per age bin: shares held and found, medians, and the share found for goals
    seen at least as large as the median ``pixels`` and for the others."""
    cut = float(np.median([r["pixels"] for r in rows]))
    out = []
    for a, b in zip(AGE_BINS[:-1], AGE_BINS[1:]):
        sel = [r for r in rows if a <= r["age"] < b]
        if not sel:
            continue
        found = [np.isfinite(r["goal_score"]) and r["goal_score"] > r["rival_score"] for r in sel]
        held = [r["goal_score"] for r in sel if np.isfinite(r["goal_score"])]
        on_goal = [r["on_goal_score"] for r in sel if np.isfinite(r["on_goal_score"])]
        large = np.array([r["pixels"] >= cut for r in sel])
        out.append({"ages": f"{a}-{b - 1}", "goals": len(sel), "held": len(held) / len(sel),
                    "found": float(np.mean(found)), "goal_score": float(np.median(held)) if held else None,
                    "on_goal": len(on_goal) / len(sel),
                    "on_goal_score": float(np.median(on_goal)) if on_goal else None,
                    "rival_score": float(np.median([r["rival_score"] for r in sel])),
                    "entries": float(np.median([r["entries"] for r in sel])),
                    "pixels": float(np.median([r["pixels"] for r in sel])), "pixels_cut": cut,
                    "large": int(large.sum()),
                    "found_large": float(np.mean(np.array(found)[large])) if large.any() else None,
                    "found_small": float(np.mean(np.array(found)[~large])) if (~large).any() else None})
    return out


def rivalry_table(summary: list[dict[str, Any]]) -> str:
    cut = summary[0]["pixels_cut"] if summary else 0.0
    out = [f"| dual, seen | goals | held | found | goal score (held) | held on the goal | its score | rival score "
           f"| entries in rooms of the type | most pixels | found, seen large (>= {cut:.0f} px) | found, seen small |",
           "|---" * 12 + "|"]

    def cell(x, n=None) -> str:
        return "—" if x is None else f"{x:.2f}" + (f" (n={n})" if n is not None else "")

    for r in summary:
        out.append(f"| {r['ages']} steps ago | {r['goals']} | {r['held']:.2f} | {r['found']:.2f} "
                   f"| {cell(r['goal_score'])} | {r['on_goal']:.2f} | {cell(r['on_goal_score'])} "
                   f"| {r['rival_score']:.2f} | {r['entries']:.0f} | {r['pixels']:.0f} "
                   f"| {cell(r['found_large'], r['large'])} | {cell(r['found_small'], r['goals'] - r['large'])} |")
    return "\n".join(out)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per read and mode: goals and the share read within 1 m, overall and per age bin (dual's
    bins as in the table; every mode's kept)."""
    out: dict[str, Any] = {}
    for read in dict.fromkeys(r["read"] for r in rows):
        out[read] = {}
        for mode in ("dual", "working", "none"):
            err = np.array([r["error"] for r in rows if r["read"] == read and r["mode"] == mode])
            by_age = {}
            for a, b in zip(AGE_BINS[:-1], AGE_BINS[1:]):
                e = np.array([r["error"] for r in rows
                              if r["read"] == read and r["mode"] == mode and a <= r["age"] < b])
                by_age[f"{a}-{b - 1}"] = {"goals": len(e), "within_1m": float(np.mean(e <= 1.0)) if len(e) else None}
            out[read][mode] = {"goals": len(err), "within_1m": float(np.mean(err <= 1.0)), "by_age": by_age}
    return out


def table(rows: list[dict[str, Any]]) -> str:
    reads = list(dict.fromkeys(r["read"] for r in rows))
    modes = ("dual", "working", "none")
    bins = list(zip(AGE_BINS[:-1], AGE_BINS[1:]))
    dual_ages = np.array([r["age"] for r in rows if r["mode"] == "dual" and r["read"] == reads[0]])
    counts = [int(((dual_ages >= a) & (dual_ages < b)).sum()) for a, b in bins]
    head = " | ".join(f"dual, seen {a}-{b - 1} steps ago (n={n})" for (a, b), n in zip(bins, counts))
    out = [f"| read | {' | '.join(modes)} | {head} |", "|---" * (1 + len(modes) + len(bins)) + "|"]
    for read in reads:
        cells = []
        for mode in modes:
            err = np.array([r["error"] for r in rows if r["read"] == read and r["mode"] == mode])
            cells.append(f"{np.mean(err <= 1.0):.2f}")
        for a, b in bins:
            err = np.array([r["error"] for r in rows
                            if r["read"] == read and r["mode"] == "dual" and a <= r["age"] < b])
            cells.append(f"{np.mean(err <= 1.0):.2f}" if len(err) else "—")
        out.append(f"| {read} | {' | '.join(cells)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tours", type=int, default=80)
    p.add_argument("--tour", type=int, default=1000, help="steps per tour")
    p.add_argument("--seed", type=int, default=20000)
    p.add_argument("--shard", type=int, default=0, help="with --shards N: collect every N-th tour only, then exit")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--checkpoint", default="checkpoints/vlm2_cpu_small_semantic")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--num-scenes", type=int, default=24)
    p.add_argument("--runs", default="outputs/returnnav_read")
    p.add_argument("--out", default="results/policy/returnnav_read")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tours = collect_all(args)
    if not tours:
        return
    from envs.gym.objectnav import default_categories

    num_classes = len(default_categories()) + 1
    folds = 2
    probes = [fit_probe([t for i, t in enumerate(tours) if i % folds != f], num_classes) for f in range(folds)]
    head = patch_head(args.checkpoint)
    rows = evaluate(tours, {"patch head": head, "memory probe": probes}, folds)
    n_goals = sum(len(goals_of(t)) for t in tours)
    rivals = rivalry_summary(rivalry(tours, head))
    body = (f"Goals read within 1 m, after {args.tour}-step tours on train scenes ({len(tours)} tours, seeds "
            f"{args.seed}-{args.seed + len(tours) - 1}, {n_goals} goals; the probe's tours are the other fold's):\n\n"
            + table(rows) + "\n\nWhy the patch head's best entry misses (dual): held, an entry in a room of the "
            "goal's type lies within 1 m of an instance; found, the best such entry outscores every other "
            "entry in those rooms (the max read's hit); held on the goal, such an entry lies on an object of "
            "the goal's category; scores are medians of the category's probability:\n\n"
            + rivalry_table(rivals) + "\n")
    out = Path(args.out)
    from vlm2_base.io import atomic_write

    atomic_write(out.with_suffix(".md"), body)
    report = {"args": vars(args), "summary": summarise(rows), "rivalry": rivals}
    atomic_write(out.with_suffix(".json"), json.dumps(report, indent=1))
    print(body)


if __name__ == "__main__":
    main()
