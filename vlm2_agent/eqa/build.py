"""Build an EQA split: scenes -> exploration videos of three horizons -> questions with exact answers.

For each scene of the split (written to the scene dataset through :mod:`scenes.writer`, reusing
scenes already built with the same config), the exploration expert of ``VLM2/Explore-v0`` walks
tours of three horizons; every step's frame is stored (:class:`~vlm2_agent.eqa.store.EpisodeStore`)
with the episode's :class:`~envs.episode_log.EpisodeLog`, and
:func:`~vlm2_agent.eqa.questions.generate_questions` asks questions about it, planning routes on the
nav grid's shortest paths. The generators over-generate ``candidates_per_type`` candidates per type
and episode; the split's questions are then chosen from all its candidates by the answer-balanced
selection (:mod:`~vlm2_agent.eqa.selection`) and, as the last step, iterative bias pruning against
blind models (:func:`~vlm2_agent.eqa.audit.prune.prune_bias`). Output under ``<out_root>/<split>/``:
``episodes/``, ``questions.jsonl``, ``manifest.json`` (benchmark version, generator and renderer
versions, seeds, config, counts per type and horizon, the pruning record and the files' hashes; the
same seeds give the same bytes) and ``build_log.json`` (timings of this run).

Horizons (EpisodeLog's 4 steps per second): a tour of ``budget`` steps gives ``len(tour) + 1``
frames; Short < 240 frames (< 60 s), Mid 240-480, Long > 480. A question's horizon is computed from
its video length, so a tour that ends early is counted where its length puts it.

Resumable and deterministic: episode ``k`` of horizon ``h`` in scene ``s`` is seeded by
``(seed, s, h, k)``; a complete episode folder with the same recording and question keys and tour budget is skipped,
one whose recording matches but whose questions are stale (a new generator version or ``gen``
config) is asked again from its stored log without rendering, and a half-written one is redone.

Example:
    >>> cfg = BuildConfig(split="test", num_scenes=1, resolution=(32, 32),
    ...                   episodes={"short": {"count": 1, "budget": 40}})
    >>> cfg.episode_plan()[0]
    ('short', 0, 40)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from envs.episode_log import DEFAULT_FPS, EpisodeLog
from scenes.types import Scene
from vlm2_base.io import atomic_write, folder_lock

from .audit.prune import PruneConfig, prune_bias
from .question import BENCHMARK_VERSION, Question, load_jsonl, save_jsonl
from .questions import GENERATOR_VERSION, GenConfig, generate_questions
from .selection import SelectionConfig, balance_problems, enforce_count_cap, select_balanced
from .store import EpisodeStore
from .tasks import HORIZONS, QUESTION_TYPES

SPLITS = ("train", "val", "test")
DEFAULT_EPISODES = {"short": {"count": 1, "budget": 200}, "mid": {"count": 1, "budget": 400},
                    "long": {"count": 1, "budget": 1000}}


@dataclass
class BuildConfig:
    """What to build. ``episodes``: per horizon name, ``count`` episodes per scene of at most
    ``budget`` steps; ``resolution``: (H, W) of the stored video (and of the visibility log);
    ``gen``: :class:`GenConfig` field overrides; ``scene_spec``: a :class:`scenes.generator.SceneSpec`
    (None: the generator's default) and ``num_rooms`` as in ``vlm2-scenes``."""

    split: str = "test"
    out_root: str = "data/eqa"
    scenes_root: str = "data/scenes"
    dataset_name: str = "vlm2_apartments"
    num_scenes: int = 12
    episodes: dict[str, dict[str, int]] = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_EPISODES)))
    resolution: tuple[int, int] = (64, 64)
    hfov: float = 90.0
    depth_dtype: str = "float16"
    fps: float = DEFAULT_FPS
    candidates_per_type: int = 30
    types: list[str] | None = None
    seed: int = 0
    gen: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    prune: dict[str, Any] = field(default_factory=dict)
    num_rooms: int | None = None
    write_maps: bool = True
    scene_spec: Any = None

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], **overrides: Any) -> "BuildConfig":
        from vlm2_base.config import check_fields

        merged = check_fields(cls, {**dict(d), **overrides}, "eqa")
        if merged.get("episodes") is not None:
            merged["episodes"] = {str(k): dict(v) for k, v in dict(merged["episodes"]).items()}
        cfg = cls(**merged)
        cfg.validate()
        return cfg

    def validate(self) -> "BuildConfig":
        if self.split not in SPLITS:
            raise ValueError(f"eqa.split: expected one of {SPLITS}, got {self.split!r}")
        if not isinstance(self.num_scenes, int) or self.num_scenes < 1:
            raise ValueError(f"eqa.num_scenes: expected a positive int, got {self.num_scenes!r}")
        if len(self.resolution) != 2 or min(self.resolution) < 8:
            raise ValueError(f"eqa.resolution: expected (height, width) >= 8 pixels, got {self.resolution}")
        if not self.episodes:
            raise ValueError("eqa.episodes: expected at least one horizon, e.g. {short: {count: 1, budget: 200}}")
        for name, spec in self.episodes.items():
            if name not in HORIZONS:
                raise ValueError(f"eqa.episodes: unknown horizon {name!r}, expected one of {HORIZONS}")
            if set(spec) != {"count", "budget"} or any(not isinstance(spec[k], int) or spec[k] < 0 for k in spec) \
                    or spec["budget"] < 1:
                raise ValueError(f"eqa.episodes.{name}: expected {{count: int >= 0, budget: int >= 1}}, got {spec}")
        if self.candidates_per_type < 0:
            raise ValueError(f"eqa.candidates_per_type: expected >= 0, got {self.candidates_per_type}")
        for name, kind in (("gen", GenConfig), ("selection", SelectionConfig), ("prune", PruneConfig)):
            try:
                kind(**getattr(self, name))
            except TypeError as e:
                fields = sorted(f.name for f in dataclasses.fields(kind))
                raise ValueError(f"eqa.{name}: {e}; expected fields among {fields}") from e
        return self

    def episode_plan(self) -> list[tuple[str, int, int]]:
        """(horizon, index, step budget) of the episodes recorded in every scene."""
        order = [h for h in HORIZONS if h in self.episodes]
        return [(h, k, self.episodes[h]["budget"]) for h in order for k in range(self.episodes[h]["count"])]

    def recording_key(self) -> str:
        """Hash of everything an episode's frames and log depend on (not the questions)."""
        keys = ("split", "resolution", "hfov", "depth_dtype", "fps", "seed", "num_rooms", "dataset_name")
        doc = {k: getattr(self, k) for k in keys}
        doc["versions"] = {k: v for k, v in versions().items() if k not in ("benchmark", "question_generator")}
        doc["spec"] = self.scene_spec.to_dict() if self.scene_spec is not None else None
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def question_key(self) -> str:
        """Hash of everything an episode's candidate questions depend on besides its recording."""
        doc = {k: getattr(self, k) for k in ("candidates_per_type", "types", "seed", "gen")}
        v = versions()
        doc["versions"] = {k: v[k] for k in ("benchmark", "question_generator")}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def build_key(self) -> str:
        """Both keys: what a complete episode of this build must match."""
        return f"{self.recording_key()}-{self.question_key()}"


def versions() -> dict[str, Any]:
    """What a split's bytes depend on besides its config: benchmark, question generator, scene
    generator and renderer versions."""
    import moderngl

    from envs.render.gl_backend import RENDERER_VERSION
    from scenes.generator import GENERATOR_VERSION as SCENE_GENERATOR_VERSION

    return {"benchmark": BENCHMARK_VERSION, "question_generator": GENERATOR_VERSION,
            "scene_generator": SCENE_GENERATOR_VERSION, "renderer": f"gl-{RENDERER_VERSION}",
            "moderngl": moderngl.__version__}


def episode_seed(seed: int, scene_id: str, horizon: str, index: int) -> int:
    """The episode's seed: start pose, tour order and questions all follow from it."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(scene_id.encode()),
                                       zlib.crc32(horizon.encode()), int(index)]).generate_state(1)[0])


def episode_id(scene_id: str, horizon: str, index: int) -> str:
    return f"{scene_id}-{horizon}-{index}"


def navgrid_path_fn(navgrid) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``path_fn(a, b)`` for route planning: the nav grid's shortest path between the navigable
    points nearest to ``a`` and ``b`` (object centres are inside furniture, off the grid), with
    ``a`` and ``b`` themselves as end points; ``(K, 2)`` (x, z) points. Unreachable: ``[a, b]``."""
    from scipy.spatial import cKDTree

    cells = np.argwhere(navgrid.largest_component)
    if len(cells) == 0:
        raise ValueError("navgrid_path_fn: the nav grid has no navigable cell")
    points = navgrid.grid_to_world(cells)
    tree = cKDTree(points[:, [0, 2]])

    def snap(p: np.ndarray) -> np.ndarray:
        return points[tree.query(np.asarray(p, float)[[0, 2]])[1]]

    cache: dict[tuple, np.ndarray] = {}

    def path_fn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, float), np.asarray(b, float)
        key = (*a.round(4), *b.round(4))  # routes of different facings share their start and end
        if key not in cache:
            mid = navgrid.shortest_path(snap(a), snap(b))
            cache[key] = np.asarray([a[[0, 2]], *([] if len(mid) == 0 else mid[:, [0, 2]]), b[[0, 2]]])
        return cache[key]

    return path_fn


def prepare_scenes(cfg: BuildConfig, progress: bool = True) -> tuple[Path, list[str]]:
    """Write (or reuse) the split's scenes in the dataset folder; returns (dataset dir, scene ids).

    ``splits.json`` keeps the other splits' lists (``write_dataset`` does that) and, for this split,
    the scenes an earlier, larger build indexed."""
    from scenes.writer import indexed_splits, write_dataset, write_dataset_files

    d = Path(cfg.scenes_root) / cfg.dataset_name
    with folder_lock(d, "scene dataset"):
        before = indexed_splits(d).get(cfg.split, [])
        summary = write_dataset(cfg.scenes_root, {cfg.split: cfg.num_scenes}, name=cfg.dataset_name,
                                spec=cfg.scene_spec, num_rooms=cfg.num_rooms, write_maps=cfg.write_maps,
                                progress=progress)
        ids = list(summary["splits"][cfg.split])
        if set(before) - set(ids):
            write_dataset_files(d, {**indexed_splits(d), cfg.split: sorted(set(before) | set(ids))}, cfg.dataset_name)
    return d, ids


def make_explore_env(scene: Scene, cfg: BuildConfig):
    """An ``ExploreEnv`` on one in-memory scene rendering rgb, depth and semantic at ``cfg.resolution``."""
    from envs.gym.explore import ExploreEnv

    longest = max(spec["budget"] for spec in cfg.episodes.values())
    return ExploreEnv(scenes=[scene], tour=longest, sensors=("rgb", "depth", "semantic"), max_cached_scenes=1,
                      sim={"resolution": tuple(cfg.resolution), "hfov": float(cfg.hfov)})


def record_episode(env, store: EpisodeStore, cfg: BuildConfig, scene: Scene, horizon: str, index: int,
                   budget: int, path_fn=None) -> list[Question]:
    """Walk one expert tour of at most ``budget`` steps, store its frames and log, ask its questions.
    ``path_fn`` (route planning) defaults to :func:`navgrid_path_fn` on the env's nav grid."""
    from envs.wrappers.recorder import visible_counts

    base = env.unwrapped
    eid = episode_id(scene.scene_id, horizon, index)
    seed = episode_seed(cfg.seed, scene.scene_id, horizon, index)
    base.tour_budget = int(budget)  # one env per scene serves every horizon: the tour is planned at reset
    env.reset(seed=seed)
    uuids = {s.type: s.uuid for s in base.sim_config.sensors}
    tour = list(base.tour)
    path_fn = path_fn or navgrid_path_fn(base.navgrid)
    T = len(tour) + 1
    c2w, pos, head, vis = [], [], [], []
    with store.writer(eid, T, cfg.resolution, cfg.depth_dtype) as w:
        for t in range(T):
            if t > 0:
                env.step(tour[t - 1])
            raw = base.sensor_observations()
            w.write(t, raw[uuids["rgb"]], raw[uuids["depth"]])
            c2w.append(base.camera_to_world(uuids["rgb"]).astype(np.float32))
            pos.append(np.asarray(base.position, np.float32))
            head.append(np.float32(base.heading))
            vis.append(visible_counts(raw[uuids["semantic"]]))
        log = EpisodeLog(
            scene_id=scene.scene_id, episode_id=eid, camera_to_world=np.stack(c2w), positions=np.stack(pos),
            headings=np.asarray(head, np.float32), visible=vis, image_size=tuple(cfg.resolution),
            hfov_deg=float(cfg.hfov), fps=float(cfg.fps),
            meta={"recording_key": cfg.recording_key(), "question_key": cfg.question_key(),
                  "horizon_target": horizon, "tour_budget": int(budget), "seed": seed, "split": cfg.split},
        )
        questions = generate_questions(scene, log, seed, types=cfg.types, max_per_type=cfg.candidates_per_type,
                                       config=GenConfig(**cfg.gen), path_fn=path_fn)
        w.finish(log, questions)
    return questions


def ask_again(store: EpisodeStore, cfg: BuildConfig, scene: Scene, eid: str, path_fn) -> list[Question]:
    """Regenerate a recorded episode's candidate questions from its stored log (no rendering): what a
    change of the question generator or its config needs."""
    log = store.log(eid)
    log.meta["question_key"] = cfg.question_key()
    questions = generate_questions(scene, log, int(log.meta["seed"]), types=cfg.types,
                                   max_per_type=cfg.candidates_per_type, config=GenConfig(**cfg.gen), path_fn=path_fn)
    store.replace_candidates(eid, log, questions)
    return questions


def episode_status(store: EpisodeStore, eid: str, cfg: BuildConfig, budget: int) -> str:
    """``"done"``, ``"ask"`` (the recording matches, the questions are stale) or ``"record"`` (none,
    half-written, or recorded under another recording key or tour budget)."""
    try:
        if not store.has(eid):
            return "record"
        meta = store.meta(eid)
    except (OSError, ValueError):
        return "record"
    if meta.get("recording_key") != cfg.recording_key() or meta.get("tour_budget") != int(budget):
        return "record"
    return "done" if meta.get("question_key") == cfg.question_key() else "ask"


def _record_scene(job: tuple[BuildConfig, str, str, list[tuple[str, int, int]], list[str]]) -> int:
    """Record the given episodes of one scene and re-ask the stale ones (a worker's unit of work);
    returns how many episodes it handled."""
    from scenes import load as load_scene

    cfg, dataset_dir, sid, episodes, stale = job
    store = EpisodeStore(Path(cfg.out_root) / cfg.split / "episodes")
    scene = load_scene(dataset_dir, scene_id=sid)
    env = make_explore_env(scene, cfg)
    try:
        for horizon, k, budget in episodes:
            record_episode(env, store, cfg, scene, horizon, k, budget)
        if stale:
            env.reset(seed=0)  # loads the scene's nav grid; the tour it plans is not used
            path_fn = navgrid_path_fn(env.unwrapped.navgrid)
            for eid in stale:
                ask_again(store, cfg, scene, eid, path_fn)
    finally:
        env.close()
    return len(episodes) + len(stale)


def build_split(cfg: BuildConfig, progress: bool = True, workers: int = 1) -> dict[str, Any]:
    """Build (or resume) ``cfg.split``, recording scenes in ``workers`` processes; returns the
    manifest (also written to ``manifest.json``). The split folder is locked while it is written."""
    cfg.validate()
    with folder_lock(Path(cfg.out_root) / cfg.split, "EQA split"):
        return _build_split(cfg, progress, workers)


def _build_split(cfg: BuildConfig, progress: bool, workers: int) -> dict[str, Any]:
    from tqdm import tqdm

    t0 = time.perf_counter()
    dataset_dir, scene_ids = prepare_scenes(cfg, progress=progress)
    t_scenes = time.perf_counter() - t0
    out = Path(cfg.out_root) / cfg.split
    store = EpisodeStore(out / "episodes")
    key, plan = cfg.build_key(), cfg.episode_plan()
    status = {(sid, p): episode_status(store, episode_id(sid, p[0], p[1]), cfg, p[2]) for sid in scene_ids
              for p in plan}
    todo = {sid: [p for p in plan if status[(sid, p)] == "record"] for sid in scene_ids}
    stale = {sid: [episode_id(sid, p[0], p[1]) for p in plan if status[(sid, p)] == "ask"] for sid in scene_ids}
    skipped = sum(v == "done" for v in status.values())
    asked = sum(len(v) for v in stale.values())
    bar = tqdm(total=len(scene_ids) * len(plan), initial=skipped, desc=f"eqa {cfg.split}", unit="episode",
               disable=not progress)
    jobs = [(cfg, str(dataset_dir), sid, todo[sid], stale[sid]) for sid in scene_ids if todo[sid] or stale[sid]]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        # spawn: every worker opens its own EGL context; nothing GL-related is inherited
        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            for done in pool.imap_unordered(_record_scene, jobs):
                bar.update(done)
    else:
        for job in jobs:
            bar.set_postfix_str(job[2])
            bar.update(_record_scene(job))
    bar.close()
    episodes = [episode_id(sid, h, k) for sid in scene_ids for h, k, _ in plan]
    t_select = time.perf_counter()
    questions, pruning = select_split(store, episodes, cfg, progress=progress)
    save_jsonl(questions, out / "questions.jsonl")
    manifest = {
        "benchmark_version": BENCHMARK_VERSION, "versions": versions(), "split": cfg.split, "build_key": key,
        "seed": cfg.seed, "episode_seeds": {e: int(store.meta(e)["seed"]) for e in episodes},
        "scene_dataset": Path(dataset_dir).name, "scenes": scene_ids, "episodes": episodes,
        "num_candidates": pruning["candidates"], "num_selected": pruning["selected"],
        "num_questions": len(questions), "counts": question_counts(questions), "bias_pruning": pruning["prune"],
        "balance_problems": pruning["problems"],
        "config": {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                   if f.name not in ("scene_spec", "out_root", "scenes_root")},
        "hashes": split_hashes(out, episodes),
    }
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, default=list) + "\n")
    # wall times of this run only (a resumed run skips recorded episodes), kept out of the manifest so
    # that a rebuild from the same seeds gives the same bytes
    log = {"episodes_recorded": len(scene_ids) * len(plan) - skipped - asked, "episodes_skipped": skipped,
           "episodes_asked_again": asked,
           "seconds": {"scenes": round(t_scenes, 2), "selection": round(time.perf_counter() - t_select, 2),
                       "total": round(time.perf_counter() - t0, 2)}}
    atomic_write(out / "build_log.json", json.dumps(log, indent=1) + "\n")
    return {**manifest, **log}


def select_split(store: EpisodeStore, episodes: list[str], cfg: BuildConfig,
                 progress: bool = True) -> tuple[list[Question], dict[str, Any]]:
    """Choose the split's questions from its episodes' candidates (balanced selection, then bias
    pruning) and write each episode's ``questions.jsonl``; returns (questions, record)."""
    candidates = [q for eid in episodes for q in store.candidates(eid)]
    selected = select_balanced(candidates, SelectionConfig(**{"seed": cfg.seed, **cfg.selection}))
    fit = None
    train_questions = Path(cfg.out_root) / "train" / "questions.jsonl"
    if cfg.split != "train" and train_questions.is_file():
        fit = load_jsonl(train_questions)  # models fit on the train split are detectors too
    kept, record = prune_bias(selected, PruneConfig(**{"seed": cfg.seed, **cfg.prune}), progress=progress, fit=fit,
                              keep_rules=enforce_count_cap)
    kept = enforce_count_cap(kept)
    by_episode: dict[str, list[Question]] = {e: [] for e in episodes}
    for q in kept:
        by_episode[q.episode_id].append(q)
    for eid, qs in by_episode.items():
        store.write_questions(eid, qs)
    problems = balance_problems(kept, reference=candidates)
    return kept, {"candidates": len(candidates), "selected": len(selected), "prune": record, "problems": problems}


def split_hashes(out: Path, episodes: list[str]) -> dict[str, str]:
    """sha256 of the split's question file and of every episode file (the manifest's proof of bytes)."""
    def sha(p: Path) -> str:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    files = [out / "questions.jsonl"] + [out / "episodes" / e / name for e in episodes
                                          for name in (*EpisodeStore.FILES, "questions.jsonl")]
    return {str(p.relative_to(out)): sha(p) for p in files}


def question_counts(questions: list[Question]) -> dict[str, dict[str, int]]:
    """{question_type: {horizon: count, "all": count}} in the benchmarks' order (VSI, then VSTI)."""
    c = Counter((q.question_type, q.horizon) for q in questions)
    out: dict[str, dict[str, int]] = {}
    for qt in [t for t in QUESTION_TYPES if any(q.question_type == t for q in questions)]:
        out[qt] = {h: c[(qt, h)] for h in HORIZONS}
        out[qt]["all"] = sum(out[qt].values())
    return out


def format_counts(counts: Mapping[str, Mapping[str, int]]) -> str:
    """A Markdown table of :func:`question_counts`."""
    lines = ["| question type | short | mid | long | all |", "|---|---|---|---|---|"]
    tot = Counter()
    for qt, c in counts.items():
        lines.append(f"| {qt} | " + " | ".join(str(c.get(h, 0)) for h in (*HORIZONS, "all")) + " |")
        tot.update({h: c.get(h, 0) for h in (*HORIZONS, "all")})
    lines.append("| **total** | " + " | ".join(str(tot[h]) for h in (*HORIZONS, "all")) + " |")
    return "\n".join(lines)


__all__ = ["BuildConfig", "ask_again", "build_split", "episode_status", "select_split", "split_hashes", "versions", "episode_id", "episode_seed", "format_counts", "make_explore_env",
           "navgrid_path_fn", "prepare_scenes", "question_counts", "record_episode"]
