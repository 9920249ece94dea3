"""Console scripts: bad input ends in a message naming it, not a traceback.

A value the app checks ends in one ``error: ...`` line and exit status 2; a key or type its Hydra
schema refuses ends in Hydra's composition error naming the full key (exit status 1).
"""

import os
import subprocess
import sys

import pytest


def _run(module: str, *overrides: str) -> subprocess.CompletedProcess:
    code = (f"import sys; from vlm2_agent.cli.{module} import main; "
            f"sys.argv = ['{module}', *{list(overrides)!r}]; main()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"})


def test_a_bad_value_ends_in_one_line_naming_the_field():
    out = _run("train_policy", "policy.n_envs=0", "logger=none")
    assert out.returncode == 2, out.stderr
    assert "error: policy.n_envs=0: expected a positive int" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("module, override, key", [
    ("train_policy", "seed=abc", "full_key: seed"),
    ("train", "train.lr=fast", "full_key: train.lr"),
    ("scenes", "scene.num_rooms=abc", "full_key: scene.num_rooms"),
    ("episode", "fps=abc", "full_key: fps"),
])
def test_a_wrongly_typed_key_is_refused_by_the_schema(module, override, key):
    out = _run(module, override, "logger=none")
    assert out.returncode == 1 and key in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_an_unknown_model_key_is_refused_naming_it():
    out = _run("train", "+model.foo=1", "logger=none")
    assert out.returncode == 2 and "error: model: unknown field(s) ['foo']" in out.stderr, out.stderr
