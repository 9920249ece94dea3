"""The house rules: layers import only downwards, and ``import envs`` registers every environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_points_to_a_higher_layer():
    out = subprocess.run([sys.executable, "experiments/import_graph.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| envs | scenes |" in out.stdout and "0 pointing up" in out.stdout  # the graph was read


def test_the_graph_check_catches_an_upward_import(tmp_path):
    for package in ("vlm2_base", "scenes", "envs", "vlm2_agent"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "scenes" / "bad.py").write_text("def f():\n    from envs import x\n")
    out = subprocess.run([sys.executable, str(ROOT / "experiments/import_graph.py"), "--check", "--root", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "UP: scenes/bad.py" in out.stdout


def test_import_envs_alone_registers_every_vlm2_id():
    code = ("import importlib, gymnasium as gym, envs\n"
            "from envs.gym import ENV_IDS\n"
            "ids = sorted(i for i in gym.registry if i.startswith('VLM2/'))\n"
            "assert ids == sorted(ENV_IDS), ids\n"
            "for i in ids:\n"
            "    mod, name = gym.spec(i).entry_point.split(':')\n"
            "    assert isinstance(getattr(importlib.import_module(mod), name), type), i\n"
            "print(len(ids))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"

