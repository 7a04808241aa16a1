# Everything from a fresh Debian machine (as root): `make test`. Every step is idempotent and prints a
# one-line reason for what it does or skips.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON := .venv/bin/python
TEST_DIRS := tests/unit tests/integration tests/container tests/reliability
FAST_DIRS := tests/unit tests/integration
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_USE_LEGACY_KERAS := 1
# Both cores (pytest-xdist; tests/conftest.py keeps tests that share fixtures or fixed ports on one worker).
# WORKERS=1 runs one test at a time.
WORKERS ?= 2
PYTEST := $(PYTHON) -m pytest --durations=10 $(if $(filter 1,$(WORKERS)),,-n $(WORKERS) --dist loadgroup --no-loadscope-reorder)

.PHONY: test test-fast setup demo smoke bench bench-quick soak host-packages venv engine images clean-images lint

host-packages:
	@bash dev/install_host_packages.sh

venv: host-packages
	@bash dev/ensure_venv.sh

engine: host-packages
	@bash dev/ensure_docker.sh

# Local stand-in bases + both product images, tagged by a hash of their inputs; writes build/images.env.
# `make images ONLY=serve` builds one product image (and its bases).
images: venv engine
	@$(PYTHON) dev/images.py $(if $(ONLY),--only $(ONLY))

# The main job end to end on real data shipped in scikit-learn (no download, no AWS). Your own data:
#   make demo DATA=cifar-10-python.tar.gz SOURCE=cifar10   (or SOURCE=cinic10 / folder with DATA=<dir>)
DEMO_OUT ?= demo-output
SOURCE ?= folder
demo: images
	@set -a && source build/images.env && set +a && $(PYTHON) -m scripts.demo \
	  --train-image "$$BYOC_TRAIN_IMAGE" --serve-image "$$BYOC_SERVE_IMAGE" --output $(DEMO_OUT) \
	  $(if $(DATA),--data $(DATA) --source $(SOURCE))

# docker-compose train -> serve -> smoke client; exits with the client's code.
smoke: images
	@set -a && source build/images.env && set +a && bash dev/smoke.sh

# Ratios of ours vs bare TF / TF Serving, measured side by side -> bench/RESULTS.md, three back-to-back runs and
# their spread (~20 min). Less: make bench BENCH_RUNS=1 BENCH_ONLY=p1,p3
bench: images
	@set -a && source build/images.env && set +a && $(PYTHON) -m bench

bench-quick: images
	@set -a && source build/images.env && set +a && BENCH_QUICK=1 BENCH_OUTPUT=build/bench/RESULTS-quick.md \
	  $(PYTHON) -m bench

# Long reliability run (10,000 fuzz cases per content type, 60 s load); regenerates tests/reliability/RESULTS.md.
soak: images
	@set -a && source build/images.env && set +a && BYOC_SOAK=1 $(PYTHON) -m pytest tests/reliability

# All of it, independent steps side by side, each timed (dev/setup.sh).
setup:
	@bash dev/setup.sh

# Every tier; ends with the set-up, per-tier and slowest-10 timing tables.
test: setup
	@set -a && source build/images.env && set +a && $(PYTEST) $(TEST_DIRS)

# While iterating: unit + integration without the tests marked slow (no images needed).
test-fast: venv
	@$(PYTEST) -m "not slow" $(FAST_DIRS)

lint: venv
	@$(PYTHON) -m ruff check .

clean-images: engine
	@$(PYTHON) dev/images.py --clean
