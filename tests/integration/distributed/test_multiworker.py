"""MultiWorkerMirroredStrategy: two real `train` processes on this host, TF_CONFIG from our builder."""

from __future__ import annotations

import time

import pytest

from tests.integration.distributed.conftest import Run, make_root, start_train
from tests.support.processes import free_port, port_is_open
from train_container.distributed.tf_config import multiworker_tf_config
from train_container.distributed.topology import build_topology

pytestmark = pytest.mark.slow  # real worker processes training (~1 min) (make test-fast leaves it out)

HYPERPARAMETERS = {"distribution": "multiworker", "batch_size": "16"}


def two_free_ports() -> int:
    for _ in range(20):
        base = free_port()
        if not port_is_open(base + 1):
            return base
    raise AssertionError("no two consecutive free ports")


def test_two_workers_train_like_one_device_and_only_the_chief_exports(single_run, dataset, tmp_path):
    topology = build_topology(["localhost"], "localhost", 2)
    base_port = two_free_ports()
    runs, processes = [], []
    started = time.monotonic()
    for slot in range(2):
        root = make_root(tmp_path / f"worker{slot}", dataset, HYPERPARAMETERS)
        log = root / "train.log"
        tf_config = multiworker_tf_config(topology, local_slot=slot, base_port=base_port)
        processes.append((root, log, start_train(root, log, TF_CONFIG=tf_config)))
    try:
        for root, log, process in processes:
            returncode = process.wait(600)
            runs.append(Run(root, returncode, log.read_text(), time.monotonic() - started))
    finally:
        for _, _, process in processes:
            if process.poll() is None:
                process.kill()
    chief, other = runs
    assert chief.returncode == 0, chief.output[-4000:]
    assert other.returncode == 0, other.output[-4000:]
    print(f"wall time: 1 process {single_run.seconds:.1f} s, 2 MWMS workers {chief.seconds:.1f} s")
    assert "runtime=multiworker replicas=2 rank=0/2" in chief.output
    assert "runtime=multiworker replicas=2 rank=1/2" in other.output
    assert len(chief.epoch_lines) == 5 and other.epoch_lines == []
    assert chief.final_val_accuracy >= 0.85
    assert abs(chief.final_val_accuracy - single_run.final_val_accuracy) <= 0.1
    assert chief.versions() == ["1"]
    assert other.versions() == []
