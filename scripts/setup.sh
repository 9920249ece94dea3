#!/usr/bin/env bash
# One-time, idempotent set-up: system packages for headless EGL rendering, a .venv, torch, the package.
# Called by `make setup` (and so by `make demo` / `make test`); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EGL_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri"

have_egl() {
    if command -v dpkg-query >/dev/null 2>&1; then
        for p in $EGL_PACKAGES; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
        done
        return 0
    fi
    ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'
}

if ! have_egl; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing headless EGL rendering packages: $EGL_PACKAGES"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $EGL_PACKAGES >/dev/null
    else
        echo "[setup] headless rendering needs the system packages: $EGL_PACKAGES" >&2
        echo "[setup] install them with: sudo apt-get install -y $EGL_PACKAGES" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "[setup] GPU found: installing torch with CUDA"
        $PIP install "torch>=2.3,<3"
    else
        echo "[setup] no GPU: installing torch's CPU build"
        $PIP install "torch==2.13.0" || $PIP install "torch>=2.3,<3"
    fi
fi

echo "[setup] installing vlm2-agent and its dependencies"
$PIP install -e ".[dev]"
echo "[setup] done"
