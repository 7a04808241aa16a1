"""MultiWorkerMirroredStrategy: two real `train` processes on this host, TF_CONFIG from our builder."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.distributed.conftest import Run, make_root, start_train
from tests.support.processes import free_port_block
from train_container.distributed.tf_config import multiworker_tf_config
from train_container.distributed.topology import build_topology

pytestmark = pytest.mark.slow  # real worker processes training (~1 min) (make test-fast leaves it out)

HYPERPARAMETERS = {"distribution": "multiworker", "batch_size": "16"}


WORKER_TIMEOUT_SECONDS = 600


def wait_for_workers(workers: list[tuple[Path, Path, subprocess.Popen]], started: float) -> list[Run]:
    """Every worker to its exit. An MWMS worker blocks on its peers, so one that died would hang the others
    until the timeout: on the first non-zero exit the survivors are killed (returncode < 0) and all logs kept."""
    seconds: dict[int, float] = {}
    while len(seconds) < len(workers) and time.monotonic() < started + WORKER_TIMEOUT_SECONDS:
        for index, (_, _, process) in enumerate(workers):
            if index not in seconds and process.poll() is not None:
                seconds[index] = time.monotonic() - started
        if any(process.returncode for _, _, process in workers):
            break
        time.sleep(0.2)
    for _, _, process in workers:
        if process.poll() is None:
            process.kill()
            process.wait()
    return [
        Run(root, process.returncode, log.read_text(), seconds.get(index, time.monotonic() - started))
        for index, (root, log, process) in enumerate(workers)
    ]


def test_two_workers_train_like_one_device_and_only_the_chief_exports(single_run, dataset, tmp_path):
    topology = build_topology(["localhost"], "localhost", 2)
    base_port = free_port_block(2)
    roots = [make_root(tmp_path / f"worker{slot}", dataset, HYPERPARAMETERS) for slot in range(2)]
    started = time.monotonic()
    workers = []
    for slot, root in enumerate(roots):
        tf_config = multiworker_tf_config(topology, local_slot=slot, base_port=base_port)
        workers.append((root, root / "train.log", start_train(root, root / "train.log", TF_CONFIG=tf_config)))
    chief, other = wait_for_workers(workers, started)
    assert (chief.returncode, other.returncode) == (0, 0), (
        f"chief:\n{chief.output[-3000:]}\n--- worker 1:\n{other.output[-3000:]}"
    )
    print(f"wall time: 1 process {single_run.seconds:.1f} s, 2 MWMS workers {chief.seconds:.1f} s")
    assert "runtime=multiworker replicas=2 rank=0/2" in chief.output
    assert "runtime=multiworker replicas=2 rank=1/2" in other.output
    assert len(chief.epoch_lines) == 5 and other.epoch_lines == []
    assert chief.final_val_accuracy >= 0.85
    assert abs(chief.final_val_accuracy - single_run.final_val_accuracy) <= 0.1
    assert chief.versions() == ["1"]
    assert other.versions() == []
