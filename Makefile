# Everything from a fresh Debian machine (as root): `make test`. Every step is idempotent and prints a
# one-line reason for what it does or skips.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON := .venv/bin/python
TEST_DIRS := tests/unit tests/integration tests/container tests/reliability
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_USE_LEGACY_KERAS := 1

.PHONY: test host-packages venv engine images clean-images lint

host-packages:
	@bash dev/install_host_packages.sh

venv: host-packages
	@bash dev/ensure_venv.sh

engine: host-packages
	@bash dev/ensure_docker.sh

# Local stand-in bases + both product images, tagged by a hash of their inputs; writes build/images.env.
images: venv engine
	@$(PYTHON) dev/images.py

test: images
	@set -a && source build/images.env && set +a && $(PYTHON) -m pytest $(TEST_DIRS)

lint: venv
	@$(PYTHON) -m ruff check .

clean-images: engine
	@$(PYTHON) dev/images.py --clean
