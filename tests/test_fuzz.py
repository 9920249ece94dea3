"""Fuzz: seeded mutations of real inputs, each of which must end in success or a project error.

Every case mutates a real file (a glb, a semantic config, the dataset / stage / scene-instance
configs of a written apartment, a ``save_pretrained`` checkpoint, a trainer checkpoint, an SB3 zip)
or composes an app's Hydra config with a hostile override, and runs what a user's command would run
on it. A case passes when it succeeds or raises the project's error for that input (naming the file
or the key); it fails on any other exception, on taking more than ``CASE_SECONDS``, on a file
written outside its folder, and on a scene loaded from a file outside the dataset. The cases are
seeded (``VLM2_FUZZ_SEED``, ``VLM2_FUZZ_CASES`` per target), so a failure replays exactly; every test
prints its outcome counts (``pytest -s``) and ``experiments/hostile_inputs.py`` prints them all.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import signal
import warnings
import zipfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

SEED = int(os.environ.get("VLM2_FUZZ_SEED", "0"))
CASES = int(os.environ.get("VLM2_FUZZ_CASES", "40"))
CASE_SECONDS = 20
SID = "apt_test_110000"

#: values a hostile or broken file puts where a field was
HOSTILE = [None, "", "x", "null", -1, 0, 1, 1e300, -1e300, float("nan"), float("inf"), [], {}, [1, 2], [[]],
           True, "../../outside/outside.glb", "/etc/hostname", "*", "../outside", 2**63, "ü" * 3, {"a": 1},
           [0, 0, 1], [-1, 1, 1], [0, -1, 0], [1e300, 0, 0]]
#: override values for Hydra keys
HOSTILE_OVERRIDES = ["abc", "-1", "0", "1e300", "null", "[]", "[-1,0]", "true", "../../x", "{}", "nan"]


class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def fire(*_):
        raise Timeout(f"more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def run_cases(name: str, cases: list[tuple[str, Callable[[], Any]]], allowed: tuple[type, ...],
              names_input: Callable[[BaseException, str], bool], watch: Path) -> Counter:
    """Run every case; returns outcome counts; fails listing every case that broke a rule."""
    before = listing(watch)
    counts: Counter = Counter()
    broken = []
    for what, fn in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with time_limit(CASE_SECONDS):
                    fn()
            counts["ok"] += 1
        except Timeout as e:
            counts["hang"] += 1
            broken.append(f"{what}: hang ({e})")
        except allowed as e:
            if names_input(e, what):
                counts["clear error"] += 1
            else:
                counts["unnamed error"] += 1
                broken.append(f"{what}: {type(e).__name__} does not name the input: {str(e)[:200]}")
        except Exception as e:  # noqa: BLE001 -- the point: anything else is a defect
            counts["bare exception"] += 1
            broken.append(f"{what}: bare {type(e).__name__}: {str(e)[:200]}")
    after = listing(watch)
    written = sorted(set(after) - set(before))
    if written:
        broken.append(f"files written outside the case folders: {written[:5]}")
    print(f"\nfuzz {name}: {len(cases)} cases, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert not broken, "\n".join(broken)
    return counts


# ------------------------------------------------------------------------------------ mutations


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    op = rng.choice(["truncate", "flip", "insert", "header", "zero"])
    b = bytearray(data)
    if op == "truncate":
        n = rng.randrange(len(b))
        return f"truncate to {n}", bytes(b[:n])
    if op == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return "flip bits", bytes(b)
    if op == "insert":
        at = rng.randrange(len(b))
        return f"insert at {at}", bytes(b[:at] + rng.randbytes(rng.randint(1, 64)) + b[at:])
    if op == "header":
        at = rng.randrange(min(len(b), 64))
        b[at] = rng.randrange(256)
        return f"header byte {at}", bytes(b)
    at = rng.randrange(len(b))
    n = rng.randint(1, 4096)
    b[at:at + n] = bytes(min(n, len(b) - at))
    return f"zero {n} at {at}", bytes(b)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            out += _paths(v, prefix + (i,))
    return out


def mutate_json(rng: random.Random, doc: Any) -> tuple[str, Any]:
    """One structural edit: a value replaced by a hostile one, a key dropped or an unknown one added."""
    doc = copy.deepcopy(doc)
    path = rng.choice(_paths(doc)[1:] or [()])
    if not path:
        return "root replaced", rng.choice(HOSTILE)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.choice(["replace", "replace", "replace", "drop", "add"])
    where = ".".join(map(str, path))
    if op == "drop":
        del parent[key]
        return f"drop {where}", doc
    if op == "add" and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(99)}"] = rng.choice(HOSTILE)
        return f"add beside {where}", doc
    value = rng.choice(HOSTILE)
    parent[key] = value
    return f"{where} = {value!r}"[:120], doc


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A written apartment, a file outside it that no scene may load, and room for the cases."""
    import trimesh

    from scenes.writer import write_dataset

    root = tmp_path_factory.mktemp("fuzz")
    write_dataset(root / "scenes", {"test": 1}, num_rooms=2, write_maps=False, progress=False)
    outside = root / "scenes" / "outside"
    outside.mkdir()
    trimesh.creation.box(extents=(77, 77, 77)).export(str(outside / "outside.glb"))
    (outside / "outside.stage_config.json").write_text(json.dumps({"render_asset": "outside.glb"}))
    (root / "cases").mkdir()
    return root


def _dataset_copy(world: Path, i: int) -> Path:
    return Path(shutil.copytree(world / "scenes" / "vlm2_apartments", world / "cases" / f"ds{i}"))


def _not_outside(scene) -> None:
    if scene.meshes and np.ptp(scene.bounds, axis=0).max() > 70:
        raise AssertionError(f"loaded geometry from outside the dataset: {scene.source}")


def _names_file(e: BaseException, what: str) -> bool:
    return any(s in str(e) for s in (".json", ".glb", "ds", "dataset"))


# ------------------------------------------------------------------------------------ scenes


def test_fuzz_glb_bytes(world):
    from scenes.loader import load
    from scenes.types import SceneLoadError

    data = (world / "scenes" / "vlm2_apartments" / "stages" / f"{SID}.glb").read_bytes()
    rng = random.Random(SEED)
    cases = []
    for i in range(CASES):
        what, mutated = mutate_bytes(rng, data)
        path = world / "cases" / f"g{i}.glb"
        path.write_bytes(mutated)
        cases.append((f"glb {i} ({what})", lambda p=path: load(p)))
    run_cases("glb", cases, (SceneLoadError,), lambda e, w: ".glb" in str(e), world / "scenes")


@pytest.mark.parametrize("target", ["semantics", "dataset", "stage", "instance"])
def test_fuzz_scene_json(world, target):
    from scenes.loader import load
    from scenes.types import SceneLoadError

    files = {"semantics": Path("semantics") / f"{SID}.semantic_config.json",
             "dataset": Path("vlm2_apartments.scene_dataset_config.json"),
             "stage": Path("stages") / f"{SID}.stage_config.json",
             "instance": Path("scenes") / f"{SID}.scene_instance.json"}
    rel = files[target]
    original = json.loads((world / "scenes" / "vlm2_apartments" / rel).read_text())
    rng = random.Random(f"{SEED}-{target}")
    cases = []
    for i in range(CASES):
        what, doc = mutate_json(rng, original)
        ds = _dataset_copy(world, f"{target}{i}")
        (ds / rel).write_text(json.dumps(doc))
        cases.append((f"{rel.name} {i} ({what})", lambda ds=ds: _not_outside(load(ds, SID))))
    run_cases(f"{target} json", cases, (SceneLoadError,), _names_file, world / "scenes")


# ------------------------------------------------------------------------------------ configs

APPS = {
    "scenes": lambda cfg: __import__("scenes.config", fromlist=["x"]).SceneDatasetConfig.from_config(cfg.scene),
    "eqa_build": lambda cfg: __import__("vlm2_agent.cli.eqa_build", fromlist=["x"]).build_config(cfg),
    "train": lambda cfg: _check_train(cfg),
    "train_policy": lambda cfg: _check_policy(cfg),
}


def _check_train(cfg):
    from omegaconf import OmegaConf

    from vlm2_agent.model.configuration_vlm2 import config_from_hydra
    from vlm2_agent.training import TrainConfig

    TrainConfig.from_mapping(OmegaConf.to_container(cfg.train, resolve=True))
    config_from_hydra(cfg.model, cfg.memory)


def _check_policy(cfg):
    from vlm2_agent.policy.config import PolicyConfig
    from vlm2_agent.policy.training import env_config

    env_config(PolicyConfig.coerce(cfg.policy), "train")


@pytest.mark.parametrize("app", sorted(APPS))
def test_fuzz_hydra_overrides(app, world):
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from vlm2_agent.cli import config_error_text, from_config_machinery

    rng = random.Random(f"{SEED}-{app}")
    with initialize_config_module("configs", version_base="1.3"):
        base = compose(config_name=app)
        keys = [k for k in _leaf_keys(OmegaConf.to_container(base, resolve=False)) if not k.startswith("hydra")]
        cases = []
        for i in range(CASES):
            key, value = rng.choice(keys), rng.choice(HOSTILE_OVERRIDES)
            override = f"+{key}.fuzz={value}" if rng.random() < 0.1 else f"{key}={value}"

            def case(override=override):
                try:
                    cfg = compose(config_name=app, overrides=[override, "logger=none"])
                except Exception as e:  # what the console script reports: vlm2_agent.cli.vlm2_app
                    if not from_config_machinery(e):
                        raise
                    raise ValueError(config_error_text(e, [override])) from None
                APPS[app](cfg)

            cases.append((f"{app} {override}", case))
        run_cases(f"{app} overrides", cases, (ValueError, FileNotFoundError, HydraException, OmegaConfBaseException),
                  lambda e, w: w.split(" ", 1)[1].split("=")[0].lstrip("+").split(".")[-1] in str(e)
                  or "full_key" in str(e) or "override" in str(e).lower(), world / "scenes")


def _leaf_keys(d: Any, prefix: str = "") -> list[str]:
    if isinstance(d, dict) and d:
        return [k for key, v in d.items() for k in _leaf_keys(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


# ------------------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def tiny_model_dir(world) -> Path:
    from vlm2_agent.model import VLM2Config, VLM2Model

    cfg = VLM2Config(vision_config={"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                    "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32,
                                    "patch_size": 8},
                     text_config={"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64,
                                  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                                  "vocab_size": 64, "max_position_embeddings": 256},
                     hidden_size=32, geometry_dim=16, num_heads=2, entry_grid=2)
    out = world / "model"
    VLM2Model(cfg).save_pretrained(out)
    return out


@pytest.mark.parametrize("target", ["model.safetensors", "config.json"])
def test_fuzz_pretrained_checkpoint(world, tiny_model_dir, target):
    from vlm2_agent.model import VLM2Model

    rng = random.Random(f"{SEED}-{target}")
    raw = (tiny_model_dir / target).read_bytes()
    cases = []
    for i in range(CASES // 2):
        folder = Path(shutil.copytree(tiny_model_dir, world / "cases" / f"m{target}{i}"))
        if target == "config.json":
            what, doc = mutate_json(rng, json.loads(raw))
            (folder / target).write_text(json.dumps(doc))
        else:
            what, data = mutate_bytes(rng, raw)
            (folder / target).write_bytes(data)
        cases.append((f"{target} {i} ({what})", lambda f=folder: VLM2Model.from_pretrained(f)))
    run_cases(target, cases, (ValueError, FileNotFoundError, OSError), lambda e, w: "/m" in str(e), world / "scenes")


def test_fuzz_trainer_checkpoint(world):
    import torch

    from vlm2_agent.training.checkpoint import load_checkpoint, save_checkpoint

    m = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(m.parameters())
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    raw = save_checkpoint(world / "cases" / "ref.pt", m, opt, sch, step=3).read_bytes()
    rng = random.Random(f"{SEED}-pt")
    cases = []
    for i in range(CASES // 2):
        what, data = mutate_bytes(rng, raw)
        path = world / "cases" / f"last{i}.pt"
        path.write_bytes(data)
        cases.append((f"last.pt {i} ({what})", lambda p=path: load_checkpoint(p, m, opt, sch)))
    run_cases("trainer checkpoint", cases, (ValueError,), lambda e, w: "last" in str(e), world / "scenes")


def test_fuzz_policy_zip(world):
    from stable_baselines3 import PPO

    from vlm2_agent.policy.algorithms import load_model

    ref = world / "cases" / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, seed=0, device="cpu").save(ref)
    with zipfile.ZipFile(ref) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    rng = random.Random(f"{SEED}-zip")
    cases = []
    for i in range(CASES // 2):
        path = world / "cases" / f"p{i}.zip"
        if rng.random() < 0.3:
            what, data = mutate_bytes(rng, ref.read_bytes())
            path.write_bytes(data)
        else:
            what, doc = mutate_json(rng, json.loads(entries["data"]))
            with zipfile.ZipFile(path, "w") as z:
                for n, b in entries.items():
                    z.writestr(n, json.dumps(doc) if n == "data" else b)
        cases.append((f"zip {i} ({what})", lambda p=path: load_model(p)))
    run_cases("policy zip", cases, (ValueError, FileNotFoundError), lambda e, w: ".zip" in str(e), world / "scenes")
