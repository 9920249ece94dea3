"""Policy zips load without running code from them; a crafted zip is refused, naming what it holds."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("EGL_PLATFORM", "surfaceless")

from vlm2_agent.policy.algorithms import build_model, load_model  # noqa: E402
from vlm2_agent.policy.safe_load import UntrustedModelError  # noqa: E402
from vlm2_agent.policy.training import make_vec_env  # noqa: E402

CFG = {"extractor": "cnn", "sim": {"resolution": [64, 64]}, "env": {"num_scenes": 1}, "vec_env": "dummy", "n_envs": 1,
       "ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1}}


class _Marker:
    """Unpickling this touches a file: what a crafted model zip does with a shell command."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "ppo.zip"
    venv = make_vec_env(CFG, seed=0)
    model = build_model(CFG, venv, seed=0)
    model.learn(16)
    model.save(path)
    obs = venv.reset()
    action = model.predict(obs, deterministic=True)[0]
    venv.close()
    return path, obs, action


def _tamper(src: Path, dst: Path, key: str, payload: bytes) -> Path:
    with zipfile.ZipFile(src) as z:
        items = {n: z.read(n) for n in z.namelist()}
    data = json.loads(items["data"])
    data[key] = {":type:": "<class 'dict'>", ":serialized:": base64.b64encode(payload).decode()}
    items["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in items.items():
            z.writestr(n, b)
    return dst


def test_a_saved_policy_loads_safely_and_acts_the_same(saved):
    path, obs, action = saved
    model = load_model(path)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], action)


def test_a_crafted_zip_is_refused_before_anything_runs(saved, tmp_path):
    path, _, _ = saved
    marker = tmp_path / "ran"
    evil = _tamper(path, tmp_path / "evil.zip", "policy_kwargs", pickle.dumps(_Marker(str(marker))))
    with pytest.raises(UntrustedModelError, match=r"data\['policy_kwargs'\]: refuses to unpickle pathlib\.[A-Za-z]*Path\.touch"):
        load_model(evil)
    assert not marker.exists()
    # the user who made the file can still load it the way SB3 does
    with pytest.raises(Exception):
        load_model(evil, trusted=True)  # SB3 unpickles it: the marker is touched, then the kwargs are wrong
    assert marker.exists()


def test_a_truncated_pickle_names_the_field(saved, tmp_path):
    path, _, _ = saved
    bad = _tamper(path, tmp_path / "bad.zip", "observation_space", pickle.dumps({"a": 1})[:5])
    with pytest.raises(ValueError, match=r"data\['observation_space'\] could not be unpickled"):
        load_model(bad)
