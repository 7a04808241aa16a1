# Everything from a fresh Debian machine (as root): `make test`. Every step is idempotent and prints a
# one-line reason for what it does or skips.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON := .venv/bin/python
TEST_DIRS := tests/unit tests/integration tests/container tests/reliability
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_USE_LEGACY_KERAS := 1

.PHONY: test demo smoke bench bench-quick soak host-packages venv engine images clean-images lint

host-packages:
	@bash dev/install_host_packages.sh

venv: host-packages
	@bash dev/ensure_venv.sh

engine: host-packages
	@bash dev/ensure_docker.sh

# Local stand-in bases + both product images, tagged by a hash of their inputs; writes build/images.env.
images: venv engine
	@$(PYTHON) dev/images.py

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

# Ratios of ours vs bare TF / TF Serving, measured side by side -> bench/RESULTS.md (< 15 min warm).
# A subset: make bench BENCH_ONLY=p1,p3
bench: images
	@set -a && source build/images.env && set +a && $(PYTHON) -m bench

bench-quick: images
	@set -a && source build/images.env && set +a && BENCH_QUICK=1 BENCH_OUTPUT=build/bench/RESULTS-quick.md \
	  $(PYTHON) -m bench

# Long reliability run (10,000 fuzz cases per content type, 60 s load); regenerates tests/reliability/RESULTS.md.
soak: images
	@set -a && source build/images.env && set +a && BYOC_SOAK=1 $(PYTHON) -m pytest tests/reliability

test: images
	@set -a && source build/images.env && set +a && $(PYTHON) -m pytest $(TEST_DIRS)

lint: venv
	@$(PYTHON) -m ruff check .

clean-images: engine
	@$(PYTHON) dev/images.py --clean
