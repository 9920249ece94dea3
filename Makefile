# The two commands a new user runs: `make demo` (the main job) and `make test`.
# Each sets itself up on first use (system EGL packages, .venv, torch, the package).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

HABITAT_VENV ?= .venv-habitat
HABITAT_KIT ?= ../shared/habitat-sim-py313

.PHONY: setup demo test test-habitat bench clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh
	@touch $@

demo: setup
	$(VENV)/bin/vlm2-demo

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

# The habitat-sim backend against habitat-sim 0.2.2, in a Python 3.13 venv built from the kit beside
# the checkout (nothing to do without it).
test-habitat:
	@bash scripts/habitat_venv.sh $(HABITAT_VENV) $(HABITAT_KIT)
	@if [ -x $(HABITAT_VENV)/bin/python ] && [ -f $(HABITAT_KIT)/install.sh ]; then \
		PYTHONPATH=$(CURDIR) $(HABITAT_VENV)/bin/python -m pytest -q -p no:cacheprovider -o addopts=-ra \
			tests/test_habitat_backend.py; fi

bench: setup
	$(PY) experiments/bench_scenes.py

clean-data:
	rm -rf data/scenes data/demo
