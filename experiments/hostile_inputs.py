"""Broken and hostile inputs, rerun: what each one does now, as a table.

Each case builds its input in a scratch folder and runs what a user would run: the console script
(in a subprocess, with a timeout) or the library call it makes. Outcomes:

- ``refused``: a project error naming the input (a console script: one ``error:`` line, exit 2, or
  Hydra's composition error naming the key, exit 1);
- ``handled``: the input is valid and the result is the right one (checked in the case);
- ``CODE RAN`` / ``HANG`` / ``BARE TRACEBACK`` / ``WRONG RESULT``: the defects the table exists to
  show none of.

Then the fuzz test's outcome counts (``tests/test_fuzz.py``, seeded) are printed.

    python experiments/hostile_inputs.py                 # about 2 minutes on 2 cores
    python experiments/hostile_inputs.py --fuzz-cases 300 --fuzz-seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EGL_PLATFORM", "surfaceless")
SID = "apt_test_110000"


class Marker:
    """Unpickling this creates a file: what a crafted checkpoint does with a shell command."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def cli(module: str, *overrides: str, cwd: Path, timeout: int = 300) -> tuple[str, str]:
    """Run a console script; (outcome, detail)."""
    code = (f"import sys; from vlm2_agent.cli.{module} import main; "
            f"sys.argv = ['{module}', *{list(overrides)!r}]; main()")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                             env=env)
    except subprocess.TimeoutExpired:
        return "HANG", f"more than {timeout} s"
    err = out.stderr
    if "Traceback" in err:
        return "BARE TRACEBACK", err.strip().splitlines()[-1][:160]
    if out.returncode == 2 and "error:" in err:
        return "refused", next(line for line in err.splitlines() if line.startswith("error:"))[7:][:160]
    if out.returncode == 1 and "full_key:" in err:
        lines = [x.strip() for x in err.splitlines() if x.strip()]
        key = next(x for x in lines if x.startswith("full_key:"))
        return "refused", f"{lines[1][:100]} ({key})"
    if out.returncode == 0:
        return "ok", (out.stdout.strip().splitlines() or [""])[-1][:160]
    return f"exit {out.returncode}", (err.strip().splitlines() or [""])[-1][:160]


def refused(fn: Callable, *errors: type, must_name: str = "") -> tuple[str, str]:
    """Run a library call that must raise one of ``errors`` naming ``must_name``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except errors as e:
        msg = str(e).replace("\n", " ")
        return ("refused" if must_name in msg else "UNNAMED ERROR"), msg[:160]
    except Exception as e:  # noqa: BLE001 -- anything else is the defect this table looks for
        return "BARE TRACEBACK", f"{type(e).__name__}: {e}"[:160]
    return "WRONG RESULT", "accepted"


def warned(fn: Callable, text: str) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    hits = [str(w.message) for w in caught if text in str(w.message)]
    return ("refused" if hits else "WRONG RESULT"), (hits[0][:160] if hits else "no warning")


# ------------------------------------------------------------------------------------ the cases


class Cases:
    def __init__(self, work: Path):
        self.work = work
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, group: str, case: str, result: tuple[str, str]) -> None:
        self.rows.append((group, case, *result))
        print(f"  [{result[0]}] {case}: {result[1]}", flush=True)

    # -- scene data written once, copied per case
    def dataset(self, name: str) -> Path:
        from scenes.writer import write_dataset

        src = self.work / "scenes" / "vlm2_apartments"
        if not src.exists():
            write_dataset(self.work / "scenes", {"test": 1}, num_rooms=3, write_maps=False, progress=False)
        return Path(shutil.copytree(src, self.work / "cases" / name))

    def edit(self, path: Path, fn) -> None:
        doc = json.loads(path.read_text())
        fn(doc)
        path.write_text(json.dumps(doc))

    def code_execution(self) -> None:
        import torch

        from vlm2_agent.training.checkpoint import load_checkpoint

        marker = self.work / "ran_checkpoint"
        evil = self.work / "cases" / "last.pt"
        evil.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": Marker(str(marker))}, evil)
        m = torch.nn.Linear(2, 2)
        opt = torch.optim.AdamW(m.parameters())
        result = refused(lambda: load_checkpoint(evil, m, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1)),
                         ValueError, must_name="last.pt")
        self.add("1 code execution", "trainer resume from a crafted checkpoints/last.pt",
                 ("CODE RAN", str(marker)) if marker.exists() else result)

        zmarker = self.work / "ran_zip"
        zpath = self.policy_zip()
        evil_zip = _tamper(zpath, self.work / "cases" / "evil.zip", "policy_kwargs", pickle.dumps(Marker(str(zmarker))))
        out = cli("train_policy", f"resume={evil_zip}", "policy.extractor=cnn", "policy.total_timesteps=16",
                  "policy.n_envs=1", "policy.vec_env=dummy", "policy.env.num_scenes=1", "policy.sim.resolution=[64,64]",
                  "random_baseline_episodes=0", "logger=none", "progress=false", "policy.eval.episodes=0",
                  f"hydra.run.dir={self.work / 'runs' / 'evil'}", cwd=self.work)
        self.add("1 code execution", "vlm2-train-policy resume=evil.zip", ("CODE RAN", str(zmarker))
                 if zmarker.exists() else out)

    def policy_zip(self) -> Path:
        path = self.work / "cases" / "ppo.zip"
        if not path.exists():
            from vlm2_agent.policy.algorithms import build_model
            from vlm2_agent.policy.training import make_vec_env

            cfg = {"extractor": "cnn", "sim": {"resolution": [64, 64]}, "env": {"num_scenes": 1}, "vec_env": "dummy",
                   "n_envs": 1, "ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1}}
            venv = make_vec_env(cfg, seed=0)
            build_model(cfg, venv, seed=0).save(path)
            venv.close()
        return path

    def hangs(self) -> None:
        code = f"""
import gymnasium as gym, envs
venv = gym.vector.AsyncVectorEnv([lambda: gym.make("envs:VLM2/Explore-v0", expert=False, sensors=("depth",),
                                                   sim={{"resolution": (8, 8)}}, scene_ids=("nope",),
                                                   dataset_path={str(self.work)!r})], context="spawn")
try:
    venv.reset(seed=0)
except Exception as e:
    print("ERROR", type(e).__name__, e)
venv.close(terminate=True)
print("CLOSED")
"""
        (self.work / "splits.json").write_text('{"train": ["nope"]}')
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            err = next((x for x in out.stdout.splitlines() if x.startswith("ERROR")), "")
            ok = "CLOSED" in out.stdout and err.startswith("ERROR SceneLoadError")
            self.add("2 hangs", "AsyncVectorEnv, one worker on a broken scene",
                     ("refused", err[6:160] + "; close() returned") if ok else ("WRONG RESULT", out.stdout[-160:]))
        except subprocess.TimeoutExpired:
            self.add("2 hangs", "AsyncVectorEnv, one worker on a broken scene", ("HANG", "120 s"))
        for o in ("policy.task=fly", "policy.env.num_scenes=0", "policy.env.sensors=[lidar]"):
            self.add("2 hangs", f"vlm2-train-policy {o}", cli("train_policy", o, "logger=none", cwd=self.work))

    def stale_work(self) -> None:
        from vlm2_agent.eqa.build import BuildConfig, build_split
        from vlm2_agent.eqa.store import EpisodeStore

        def cfg(budget: int) -> BuildConfig:
            return BuildConfig(split="test", num_scenes=1, out_root=str(self.work / "eqa"),
                               scenes_root=str(self.work / "scenes"), resolution=(64, 64), num_rooms=3,
                               episodes={"short": {"count": 1, "budget": budget}}, write_maps=False)

        build_split(cfg(101), progress=False)
        m = build_split(cfg(30), progress=False)
        store = EpisodeStore(self.work / "eqa" / "test" / "episodes")
        frames = store.log(store.episode_ids()[0]).num_frames
        self.add("3 stale work", "vlm2-eqa-build again with eqa.episodes.short.budget=30",
                 ("handled", f"recorded again: {m['episodes_recorded']} episode, {frames} frames")
                 if frames <= 31 else ("WRONG RESULT", f"kept {frames} frames"))
        self.trainer_resume()
        from vlm2_agent.eqa.evaluate import evaluate
        from vlm2_agent.eqa.question import load_jsonl

        qs = load_jsonl(self.work / "eqa" / "test" / "questions.jsonl")
        self.add("3 stale work", "a model whose replies are all empty",
                 warned(lambda: evaluate(qs, [""] * len(qs)), "replies are empty"))
        holder = subprocess.Popen([sys.executable, "-c", "import time; from vlm2_base.io import folder_lock\n"
                                   f"with folder_lock({str(self.work / 'eqa' / 'test')!r}):\n"
                                   "    print('held', flush=True); time.sleep(120)"],
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            holder.stdout.readline()
            out = cli("eqa_build", "eqa.split=test", f"eqa.out_root={self.work / 'eqa'}", "eqa.num_scenes.test=1",
                      f"scene.root={self.work / 'scenes'}", "scene.num_rooms=3", "logger=none", cwd=self.work)
        finally:
            holder.kill()
            holder.wait()
        self.add("3 stale work", "two vlm2-eqa-build runs on the same folder", out)
        scenes = self.work / "cli_scenes"
        cli("scenes", "scene.splits=[train,test]", "scene.num_scenes.train=1", "scene.num_scenes.test=1",
            f"scene.root={scenes}", "scene.maps=false", "logger=none", cwd=self.work)
        cli("scenes", "scene.splits=[val]", "scene.num_scenes.val=1", f"scene.root={scenes}", "scene.maps=false",
            "logger=none", cwd=self.work)
        index = json.loads((scenes / "vlm2_apartments" / "splits.json").read_text())
        self.add("4 lost index", "vlm2-scenes scene.splits=[val] after train and test",
                 ("handled", f"splits.json keeps {sorted(index)}") if sorted(index) == ["test", "train", "val"]
                 else ("WRONG RESULT", str(sorted(index))))

    def trainer_resume(self) -> None:
        from omegaconf import OmegaConf

        from vlm2_agent.training import TrainConfig, Trainer

        model = OmegaConf.load(ROOT / "configs" / "model" / "vlm2_tiny.yaml")
        memory = OmegaConf.load(ROOT / "configs" / "memory" / "dual.yaml")
        memory.pop("defaults", None)
        base = {"data_root": str(self.work / "eqa"), "train_split": "test", "val_split": None, "test_split": None,
                "max_steps": 4, "stop_after": 2, "questions_per_video": 2, "checkpoint_every": 1, "progress": False,
                "diagnostics": False, "device": "cpu", "tokenizer_vocab_size": 512}
        run = self.work / "runs" / "train"

        def trainer(model_cfg=model, **kw):
            return Trainer(TrainConfig(**{**base, **kw}), model_cfg, memory, run_dir=run,
                           run_config={"model": OmegaConf.to_container(model_cfg), "memory": {}})

        trainer().fit()
        self.add("3 stale work", "vlm2-train resumed with train.lr=0.5",
                 refused(lambda: trainer(lr=0.5).fit(), ValueError, must_name="train.lr"))
        no_vaga = OmegaConf.merge(model, {"use_vaga": False})
        self.add("3 stale work", "vlm2-train resumed with model.use_vaga=false",
                 refused(lambda: trainer(model_cfg=no_vaga).fit(), ValueError, must_name="model.use_vaga"))

    def escapes(self) -> None:
        from scenes.loader import load
        from scenes.types import SceneLoadError

        for case, rel, fn in [
            ('stages.paths: ["../outside_stages"]', "vlm2_apartments.scene_dataset_config.json",
             lambda d: d["stages"].update({"paths": {".json": ["../outside_stages"]}})),
            ('semantic_scene_instance: "../../secret"', f"scenes/{SID}.scene_instance.json",
             lambda d: d.update({"semantic_scene_instance": "../../secret"})),
            ('render_asset: "../../../../../../etc/hostname"', f"stages/{SID}.stage_config.json",
             lambda d: d.update({"render_asset": "../../../../../../etc/hostname"})),
        ]:
            ds = self.dataset(f"esc{len(self.rows)}")
            self.edit(ds / rel, fn)
            self.add("5 paths escape", case, refused(lambda ds=ds: load(ds, SID), SceneLoadError, must_name="leaves"))
        self.add("5 paths escape", "vlm2-scenes scene.name=../../escape",
                 cli("scenes", "scene.name=../../escape", f"scene.root={self.work / 'esc_root'}", "logger=none",
                     cwd=self.work))

    def silent(self) -> None:
        from scenes.loader import load
        from scenes.types import SceneLoadError

        sem = f"semantics/{SID}.semantic_config.json"
        stage = f"stages/{SID}.stage_config.json"
        for case, rel, fn, name in [
            ("object centre 1e300", sem, lambda d: _obj(d).update({"center": [1e300, 0.5, 1]}), "finite"),
            ("object 700 m outside its room", sem, lambda d: _obj(d).update({"center": [700, 0.5, 1]}), "outside"),
            ("stage up: [0, 0, 1]", stage, lambda d: d.update({"up": [0, 0, 1]}), "'up'"),
            ("stage up: [0, 0, 1], front: [0, 1, 0]", stage, lambda d: d.update({"up": [0, 0, 1], "front": [0, 1, 0]}),
             "vertical"),
        ]:
            ds = self.dataset(f"bad{len(self.rows)}")
            self.edit(ds / rel, fn)
            self.add("6 silent / bare", case, refused(lambda ds=ds: load(ds, SID), SceneLoadError, must_name=name))
        for case, frame in [("stage up: [0, -1, 0]", {"up": [0, -1, 0]}), ("stage scale: [-1, 1, 1]",
                                                                            {"scale": [-1, 1, 1]})]:
            ds = self.dataset(f"frame{len(self.rows)}")
            self.edit(ds / stage, lambda d, f=frame: d.update(f))
            self.add("6 silent / bare", case, _boxes_follow(load(ds, SID)))
        self.add("6 silent / bare", "NaN vertices", refused(lambda: load(_nan_glb(self.work)), SceneLoadError,
                                                              must_name="not finite"))
        ds = self.dataset("glob")
        self.edit(ds / "vlm2_apartments.scene_dataset_config.json",
                  lambda d: d["scene_instances"].update({"paths": {".json": ["nope/*.json"]}}))
        self.add("6 silent / bare", 'scene_instances.paths: ["nope/*.json"]',
                 warned(lambda: load(ds, SID), "names no *.scene_instance.json"))
        self.checkpoints()
        for module, override in [("train", "train.lr=fast"), ("scenes", "scene.num_rooms=abc"),
                                 ("train_policy", "policy.n_envs=0"), ("train_policy", "seed=abc"),
                                 ("train", "+model.foo=1"), ("scenes", "scene.door_width=[-1,0]")]:
            extra = [f"scene.root={self.work / 'ov'}"] if module == "scenes" else []
            self.add("6 silent / bare", f"vlm2-{module.replace('_', '-')} {override}",
                     cli(module, override, "logger=none", *extra, cwd=self.work))
        run = self.work / "runs" / "fps0"
        out = cli("episode", "fps=0", "logger=none", f"hydra.run.dir={run}", cwd=self.work)
        left = sorted(p.name for p in run.glob("*.mp4")) if run.exists() else []
        self.add("6 silent / bare", "vlm2-episode fps=0", out if not left else ("WRONG RESULT", f"left {left}"))

    def checkpoints(self) -> None:
        from safetensors.torch import load_file, save_file

        from vlm2_agent.model import VLM2Config, VLM2Model

        good = self.work / "cases" / "model"
        VLM2Model(VLM2Config()).save_pretrained(good)
        missing = Path(shutil.copytree(good, self.work / "cases" / "missing"))
        tensors = load_file(missing / "model.safetensors")
        tensors.pop(sorted(tensors)[0])
        save_file(tensors, missing / "model.safetensors", metadata={"format": "pt"})
        self.add("6 silent / bare", "safetensors checkpoint missing a tensor",
                 refused(lambda: VLM2Model.from_pretrained(missing), ValueError, must_name="missing keys"))
        cut = Path(shutil.copytree(good, self.work / "cases" / "truncated"))
        data = (cut / "model.safetensors").read_bytes()
        (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
        self.add("6 silent / bare", "truncated safetensors file",
                 refused(lambda: VLM2Model.from_pretrained(cut), ValueError, must_name=str(cut)))
        self.add("6 silent / bare", "missing checkpoint directory",
                 refused(lambda: VLM2Model.from_pretrained(self.work / "no_such_dir"), FileNotFoundError,
                         must_name="no_such_dir"))


def _obj(d):
    return d["vlm2_annotations"]["objects"][0]


def _boxes_follow(scene) -> tuple[str, str]:
    import numpy as np

    for obj in scene.objects:
        verts = np.concatenate([m.vertices for m in scene.meshes if m.instance_id == obj.instance_id])
        local = (verts - obj.box.center) @ obj.box.rotation
        if np.any(np.abs(local) > obj.box.axis_lengths / 2 + 0.02):
            return "WRONG RESULT", f"object {obj.instance_id}'s mesh lies outside its annotated box"
    return "handled", f"all {len(scene.objects)} annotated boxes moved with their meshes"


def _nan_glb(work: Path) -> Path:
    import numpy as np
    import trimesh

    box = trimesh.creation.box()
    box.vertices[0] = [np.nan, 0, 0]
    path = work / "cases" / "nan.glb"
    box.export(str(path))
    return path


def _tamper(src: Path, dst: Path, key: str, payload: bytes) -> Path:
    import base64
    import zipfile

    with zipfile.ZipFile(src) as z:
        items = {n: z.read(n) for n in z.namelist()}
    data = json.loads(items["data"])
    data[key] = {":type:": "<class 'dict'>", ":serialized:": base64.b64encode(payload).decode()}
    items["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in items.items():
            z.writestr(n, b)
    return dst


def fuzz_counts(cases: int, seed: int) -> list[str]:
    env = {**os.environ, "VLM2_FUZZ_CASES": str(cases), "VLM2_FUZZ_SEED": str(seed)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-o", "addopts=",
                          str(ROOT / "tests" / "test_fuzz.py")], capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [x for x in out.stdout.splitlines() if x.startswith("fuzz ")]
    return lines + [out.stdout.strip().splitlines()[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzz-cases", type=int, default=40)
    parser.add_argument("--fuzz-seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cases = Cases(Path(tmp))
        for part in (cases.code_execution, cases.hangs, cases.stale_work, cases.escapes, cases.silent):
            part()
        rows = cases.rows
    print("\n| issue item | case | outcome | what happened |\n|---|---|---|---|")
    for group, case, outcome, detail in rows:
        print(f"| {group} | {case} | {outcome} | {detail.replace('|', '/')} |")
    bad = [r for r in rows if r[2] not in ("refused", "handled", "ok")]
    print(f"\n{len(rows)} cases: {sum(r[2] == 'refused' for r in rows)} refused with a clear error, "
          f"{sum(r[2] == 'handled' for r in rows)} handled correctly, {len(bad)} defects "
          f"({time.time() - t0:.0f} s)")
    print(f"\nfuzz (tests/test_fuzz.py, {args.fuzz_cases} cases per target, seed {args.fuzz_seed}):")
    for line in fuzz_counts(args.fuzz_cases, args.fuzz_seed):
        print("  " + line)


if __name__ == "__main__":
    main()
