#!/usr/bin/env bash
# GPU checks in one short run (about 4 minutes on a GPU machine; also runs on a CPU one, slower):
#   1. the gl renderer and env on the GPU's EGL device: steps/s of one env, 2 AsyncVectorEnv workers
#      and the batched renderer (16 scenes), each as a ratio to the GL pass (experiments/bench_env.py);
#   2. VLM2 training steps/s in bf16 on CUDA on a tiny EQA split built here (the tiny model from
#      scratch: no pretrained weights are needed);
#   3. the same training as a 1-GPU torchrun DDP run (init, all-reduce, checkpoint, resume path).
# Figures go to $OUT (default outputs/gpu_check): bench_env.md, train.json, ddp.json, and gpu_check.md.
#
# Usage: bash experiments/gpu_check.sh           (after `make test` or `make demo` made .venv)
#        EGL_DEVICE=1 bash experiments/gpu_check.sh   (another EGL device index for the renderer)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs/gpu_check}
EGL_DEVICE=${EGL_DEVICE:-0}
LIMIT=${LIMIT:-300}   # seconds per step of the check
export EGL_DEVICE
mkdir -p "$OUT"
report="$OUT/gpu_check.md"
: > "$report"

say() { echo "$@" | tee -a "$report"; }

say "# GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v nvidia-smi >/dev/null; then
  say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
else
  say "no nvidia-smi: no NVIDIA GPU here; the figures below are the CPU's"
fi
"$PY" - <<'EOF' | tee -a "$report"
import os, moderngl, torch
os.environ.setdefault("EGL_PLATFORM", "surfaceless")
dev = int(os.environ.get("EGL_DEVICE", "0"))
ctx = moderngl.create_standalone_context(backend="egl", device_index=dev)
print(f"EGL device {dev}: {ctx.info['GL_RENDERER']}; torch {torch.__version__}, cuda {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()})" if torch.cuda.is_available() else ""))
EOF

say ""
say "## 1. env and renderer (bench_env, EGL device $EGL_DEVICE)"
timeout "$LIMIT" "$PY" experiments/bench_env.py --steps 2000 --long 1000 --repeat 2 --batch 16 \
  --egl-device "$EGL_DEVICE" | tee "$OUT/bench_env.md" | tee -a "$report"

say ""
say "## 2. training steps/s (bf16 on CUDA when present)"
timeout "$LIMIT" "$PY" -m vlm2_agent.cli.eqa_build eqa.split=train eqa.num_scenes.train=2 \
  eqa.episodes.short.budget=120 eqa.episodes.mid.count=0 eqa.episodes.long.count=0 eqa.candidates_per_type=8 eqa.out_root="$OUT/eqa" \
  scene.root="$OUT/scenes" scene.maps=false eqa.progress=false logger=none hydra.run.dir="$OUT/hydra_build" >/dev/null
common=(train=cpu_small train.data_root="$OUT/eqa" train.val_split=null train.test_split=null train.max_steps=40
        train.log_every=10 train.checkpoint_every=40 train.bf16=true train.num_threads=null train.progress=false
        train.resume=false logger=none)
device=cpu
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" && device=cuda
timeout "$LIMIT" "$PY" -m vlm2_agent.cli.train "${common[@]}" train.device=$device run_dir="$OUT/train" >/dev/null
"$PY" - "$OUT/train" <<'EOF' | tee "$OUT/train.json" | tee -a "$report"
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl") if '"loss"' in l]
a, b = rows[0], rows[-1]
print(json.dumps({"steps": b["step"], "steps_per_s": round((b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"]), 2),
                  "loss_first": round(a["loss"], 3), "loss_last": round(b["loss"], 3)}))
EOF

say ""
say "## 3. torchrun, 1 process (DDP)"
if [ "$device" = cuda ]; then
  timeout "$LIMIT" "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m vlm2_agent.cli.train "${common[@]}" \
    run_dir="$OUT/ddp" >/dev/null
else
  timeout "$LIMIT" "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m vlm2_agent.cli.train "${common[@]}" \
    train.device=cpu run_dir="$OUT/ddp" >/dev/null
fi
"$PY" - "$OUT/ddp" <<'EOF' | tee "$OUT/ddp.json" | tee -a "$report"
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl") if '"loss"' in l]
cfg = json.load(open(f"{sys.argv[1]}/train_config.json"))
a, b = rows[0], rows[-1]
print(json.dumps({"world_size": cfg["world_size"], "steps": b["step"],
                  "steps_per_s": round((b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"]), 2)}))
EOF
say ""
say "report: $report"
