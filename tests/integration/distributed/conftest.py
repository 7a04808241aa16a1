"""Fixtures for distributed training on this host: the quadrants dataset, SageMaker-shaped roots, `train` runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.distributed.quadrants import SIZE, write_dataset
from tests.support.processes import REPO_ROOT, quiet_tf_env

EPOCH_LINE = re.compile(r"epoch=(\d+) .*val_accuracy=([0-9.]+)")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("quadrants"))


HYPERPARAMETERS = {
    "epochs": "5",
    "batch_size": "32",
    "learning_rate": "0.002",
    "lr_scaling": "none",
    "image_size": str(SIZE),
    "augment": "false",
    "checkpoint_every_epochs": "0",
    "seed": "7",
    "deterministic": "true",  # see BASE_HYPERPARAMETERS in tests/integration/train/conftest.py
}


TWO_RANKS = {"distribution": "horovod", "processes_per_host": "2", "batch_size": "16"}


@dataclass
class Run:
    root: Path
    returncode: int
    output: str
    seconds: float

    @property
    def epoch_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if EPOCH_LINE.search(line)]

    @property
    def final_val_accuracy(self) -> float:
        return float(EPOCH_LINE.search(self.epoch_lines[-1])[2])

    @property
    def failure(self) -> str:
        path = self.root / "output" / "failure"
        return path.read_text() if path.exists() else ""

    def versions(self) -> list[str]:
        model = self.root / "model"
        return sorted(p.name for p in model.iterdir()) if model.is_dir() else []


def make_root(
    base: Path, dataset: Path, hyperparameters: dict, hosts=("algo-1",), current="algo-1", iface="lo"
) -> Path:
    root = base / current
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({**HYPERPARAMETERS, **hyperparameters}))
    resource = {"current_host": current, "hosts": list(hosts), "network_interface_name": iface}
    (config / "resourceconfig.json").write_text(json.dumps(resource))
    data = root / "input" / "data"
    data.mkdir(parents=True)
    for channel in ("train", "validation"):
        shutil.copytree(dataset / channel, data / channel)
    return root


def train_env(root: Path, **extra: str) -> dict[str, str]:
    env = quiet_tf_env()
    env["SM_BASE_DIR"] = str(root)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


TRAIN = [sys.executable, "-m", "train_container.cli"]


def start_train(root: Path, log: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        TRAIN, env=train_env(root, **extra), cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def run_train(root: Path, timeout: float = 600, **extra: str) -> Run:
    log = root / "train.log"
    started = time.monotonic()
    process = start_train(root, log, **extra)
    try:
        returncode = process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return Run(root, returncode, log.read_text(), time.monotonic() - started)


@pytest.fixture(scope="session")
def two_rank_run(dataset, tmp_path_factory) -> Run:
    """Two Horovod ranks on this host (deterministic, as every run here: see HYPERPARAMETERS)."""
    return run_train(make_root(tmp_path_factory.mktemp("two-ranks"), dataset, TWO_RANKS))


@pytest.fixture(scope="session")
def single_run(dataset, tmp_path_factory) -> Run:
    """The baseline: one process, one device, global batch 32."""
    root = make_root(tmp_path_factory.mktemp("single"), dataset, {"distribution": "single"})
    run = run_train(root)
    assert run.returncode == 0, run.output[-3000:]
    return run


def pytest_report_header(config):
    return f"distributed integration: {os.cpu_count()} cores"
