# The two commands a new user runs: `make demo` (the main job) and `make test`.
# Each sets itself up on first use (system EGL packages, .venv, torch, the package).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test bench clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh
	@touch $@

demo: setup
	$(VENV)/bin/vlm2-demo

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: setup
	$(PY) experiments/bench_scenes.py

clean-data:
	rm -rf data/scenes data/demo
