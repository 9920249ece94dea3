"""Console scripts: bad input ends in one ``error: ...`` line naming it and exit status 2, not a
traceback, whether the app's own checks refuse it or the config's Hydra schema does."""

import os
import subprocess
import sys

import pytest


def _run(module: str, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    code = (f"import sys; from vlm2_agent.cli.{module} import main; "
            f"sys.argv = ['{module}', *{list(overrides)!r}]; main()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}, **env})


def _one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_a_bad_value_ends_in_one_line_naming_the_field():
    assert "error: policy.n_envs=0: expected a positive int" in _one_error_line(
        _run("train_policy", "policy.n_envs=0", "logger=none"))


@pytest.mark.parametrize("module, override, key", [
    ("train_policy", "seed=abc", "full_key: seed"),
    ("train", "train.lr=fast", "full_key: train.lr"),
    ("scenes", "scene.num_rooms=abc", "full_key: scene.num_rooms"),
    ("episode", "fps=abc", "full_key: fps"),
    ("episode", "nosuchkey=1", "Key 'nosuchkey' not in 'EpisodeApp'"),
    ("train_policy", "+policy.memory.fuzz=null",
     "the overrides ['+policy.memory.fuzz=null', 'logger=none'] could not be applied"),
])
def test_a_key_or_type_the_schema_refuses_ends_in_one_line(module, override, key):
    assert key in _one_error_line(_run(module, override, "logger=none"))


def test_an_unknown_model_key_is_refused_naming_it():
    assert "error: model: unknown field(s) ['foo']" in _one_error_line(_run("train", "+model.foo=1", "logger=none"))


def test_hydra_full_error_shows_the_traceback():
    out = _run("train_policy", "policy.n_envs=0", "logger=none", HYDRA_FULL_ERROR="1")
    assert out.returncode == 1 and "Traceback" in out.stderr and "ValueError: policy.n_envs=0" in out.stderr
