"""transformers integration: ``vlm2`` in AutoConfig / AutoModel, local errors for missing folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vlm2_agent  # noqa: F401  (registers the vlm2 model type)
from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "vlm2_cpu_small"


def test_auto_classes_load_a_saved_vlm2(tmp_path):
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    model = VLM2Model(VLM2Config(memory_mode="working"))
    model.save_pretrained(tmp_path / "ckpt")
    cfg = AutoConfig.from_pretrained(tmp_path / "ckpt")
    assert type(cfg) is VLM2Config and cfg.memory_mode == "working"
    loaded = AutoModel.from_pretrained(tmp_path / "ckpt")
    assert type(loaded) is VLM2Model
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_shipped_checkpoint_loads_through_automodel_from_outside_the_repo(tmp_path):
    code = ("import vlm2_agent, json, sys; from transformers import AutoModel; "
            f"m = AutoModel.from_pretrained({str(SHIPPED)!r}); "
            "print(json.dumps({'cls': type(m).__name__, 'params': sum(p.numel() for p in m.parameters())}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    direct = VLM2Model.from_pretrained(SHIPPED)
    assert info == {"cls": "VLM2Model", "params": sum(p.numel() for p in direct.parameters())}


@pytest.mark.parametrize("load", [VLM2Model.from_pretrained, VLM2Config.from_pretrained, VLM2Streamer.from_pretrained])
def test_missing_local_folder_is_a_local_error_not_a_hub_lookup(load, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "checkpoints/..." run outside the repo; the Hub is never asked
    with pytest.raises(FileNotFoundError, match=r"no VLM2 checkpoint folder at 'checkpoints/vlm2_cpu_small' "
                                                r"\(resolved to .*checkpoints/vlm2_cpu_small\)"):
        load("checkpoints/vlm2_cpu_small")


def test_a_checkpoint_missing_a_tensor_or_truncated_is_refused_naming_it(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    VLM2Model(VLM2Config(memory_mode="working")).save_pretrained(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    tensors = load_file(weights)
    dropped = sorted(tensors)[0]
    save_file({k: v for k, v in tensors.items() if k != dropped}, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=rf"ckpt: the checkpoint does not match the model \(missing keys: \[.*{dropped}"):
        VLM2Model.from_pretrained(tmp_path / "ckpt")
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match="ckpt: the VLM2 checkpoint could not be loaded"):
        VLM2Model.from_pretrained(tmp_path / "ckpt")
