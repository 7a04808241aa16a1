"""Shared data (made once by scripts/prepare_data.py, as a process) and `train` process helpers."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.sm_tree import REPO_ROOT, make_sm_tree, prepare_colour_tfrecords

TRAIN_TIMEOUT_SECONDS = 240
# Small on purpose: 2 busy cores shared by six engineers.
# learning_rate 0.001: at 0.002 Adam drives the loss on these easy colours to ~0 in two epochs, and about one run in
# twenty then takes a spiking step at the end (val_accuracy 1.0 -> 0.75, one class lost): measured, 2 of 35 runs.
# deterministic: without it one seed's runs differ (TF's threads reorder sums), so a test's verdict could too.
BASE_HYPERPARAMETERS = {"batch_size": 16, "epochs": 2, "shuffle_buffer": 256, "learning_rate": 0.001,
                        "deterministic": True}


def train_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "HOROVOD_", "PMIX_", "TF_CONFIG"))}
    env.update(SM_BASE_DIR=str(root), TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
    return env


def run_train(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train_container.cli"],
        env=train_env(root),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TRAIN_TIMEOUT_SECONDS,
    )


@dataclass
class TrainProcess:
    """A running `train` whose stdout lines can be awaited (reader thread: no pipe deadlock)."""

    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no stdout line starting {prefix!r}; got {self.seen[-10:]}")


def start_train(root: Path) -> TrainProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "train_container.cli"],
        env=train_env(root),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    running = TrainProcess(process)

    def pump():
        for line in process.stdout:
            running.lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return running


@pytest.fixture(scope="session")
def colour_tfrecords(tmp_path_factory) -> Path:
    """Noisy solid-colour images (4 classes) -> TFRecords by the real data prep CLI."""
    return prepare_colour_tfrecords(tmp_path_factory.mktemp("colour"))


@pytest.fixture
def sm_tree(tmp_path, colour_tfrecords):
    """Build a tree with the colour data: sm_tree(hyperparameters, channels=("train", "validation"))."""

    def build(hyperparameters=None, channels=("train", "validation"), **kwargs) -> Path:
        sources = {"train": colour_tfrecords / "train", "validation": colour_tfrecords / "validation",
                   "eval": colour_tfrecords / "validation"}  # fmt: skip
        return make_sm_tree(
            tmp_path / "opt_ml",
            {**BASE_HYPERPARAMETERS, **(hyperparameters or {})},
            {name: sources[name] for name in channels},
            **kwargs,
        )

    return build
