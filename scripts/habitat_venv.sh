#!/usr/bin/env bash
# A Python 3.13 venv with habitat-sim 0.2.2 (the kit in ../shared/habitat-sim-py313) and what the
# habitat backend's tests need; called by `make test-habitat`. Idempotent: a finished venv is reused.
# usage: bash scripts/habitat_venv.sh VENV_DIR KIT_DIR      exit 0 without doing anything if the kit is absent
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:?usage: habitat_venv.sh VENV_DIR KIT_DIR}
KIT=${2:?usage: habitat_venv.sh VENV_DIR KIT_DIR}
STAMP="$VENV/.habitat-stamp"
SCENE="$KIT/../habitat-test-assets/scenes/simple_room.glb"

if [ ! -f "$KIT/install.sh" ]; then
    echo "[test-habitat] no habitat-sim kit at $KIT: nothing to set up (the habitat tests skip without habitat-sim)"
    exit 0
fi
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$KIT/install.sh" ] && [ "$STAMP" -nt "$0" ]; then
    exit 0
fi

# The kit's own installer; its last step is a smoke test, which a copy of the kit that lost its
# symbolic links (libMagnum.so.2 -> libMagnum.so.2.4 stored as a text file naming the target)
# fails. Those stubs are put back as links below and the smoke test is run again.
bash "$KIT/install.sh" "$VENV" || echo "[test-habitat] the kit's installer failed; repairing its library links"
LIBS=$(echo "$VENV"/lib/python3.13/site-packages/hs_py313_libs)
if [ -d "$LIBS" ]; then
    for f in "$LIBS"/*; do
        if [ ! -L "$f" ] && [ "$(stat -c %s "$f")" -lt 200 ] && target=$(head -c 200 "$f") \
           && [ -n "$target" ] && [ -f "$LIBS/$target" ]; then
            rm -f "$f" && ln -s "$target" "$f" && echo "[test-habitat] linked $(basename "$f") -> $target"
        fi
    done
fi
HSIM_DISABLE_CUDA_DEVICE=1 "$VENV/bin/python" "$KIT/smoke_test.py" "$SCENE"

# The envs / scenes layers' dependencies (no torch: the habitat tests never load a model).
"$VENV/bin/pip" install -q -c "$KIT/constraints.txt" "scipy>=1.11,<2" "trimesh>=4.0,<6" "moderngl>=5.10,<6" \
    "scikit-image>=0.24,<1" "shapely>=2.0,<3" "gymnasium>=1.0,<2" "imageio>=2.34,<3" "pillow>=10,<14" "pytest>=8,<10"
touch "$STAMP"
