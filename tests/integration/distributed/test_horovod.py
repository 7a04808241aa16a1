"""Horovod through the real `train` entrypoint and real mpirun (OpenMPI) with 2 ranks on this host."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.integration.distributed.conftest import (
    TRAIN,
    TWO_RANKS,
    make_root,
    run_train,
    start_train,
    train_env,
)
from tests.support.processes import REPO_ROOT
from train_container import contract
from train_container.distributed.mpi_command import build_mpirun_command
from train_container.launchers.mpi import horovod_topology

pytestmark = pytest.mark.slow  # real mpirun ranks training (15-70 s each) (make test-fast leaves it out)

FAIL_FAST_SECONDS = 60


def rank_processes(root) -> dict[int, psutil.Process]:
    """Ranks of the job rooted at `root`, found by the OMPI rank mpirun put in their environment."""
    found = {}
    for process in psutil.process_iter(["pid"]):
        try:
            environ = process.environ()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if environ.get("SM_BASE_DIR") == str(root) and "OMPI_COMM_WORLD_RANK" in environ:
            found[int(environ["OMPI_COMM_WORLD_RANK"])] = process
    return found


def wait_for_line(log, text: str, process: subprocess.Popen, timeout: float = 300) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if text in log.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"train exited ({process.returncode}) before '{text}':\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no '{text}' within {timeout} s:\n{log.read_text()[-3000:]}")


def test_two_ranks_train_like_one_device_and_export_once(single_run, two_rank_run):
    run = two_rank_run
    assert run.returncode == 0, run.output[-4000:]
    print(f"wall time: 1 process {single_run.seconds:.1f} s, 2 Horovod ranks {run.seconds:.1f} s")
    assert "-np 2 -H localhost:2" in run.output
    # Both ranks trained (each logs its runtime line), only rank 0 logged metrics.
    assert "rank=0/2" in run.output and "rank=1/2" in run.output
    assert len(run.epoch_lines) == 5
    assert all(line.startswith("[1,0]<stdout>:") for line in run.epoch_lines)
    # Same global batch (2 x 16 vs 1 x 32) and LR: the same accuracy band as one device.
    assert single_run.final_val_accuracy >= 0.85
    assert run.final_val_accuracy >= 0.85
    assert abs(run.final_val_accuracy - single_run.final_val_accuracy) <= 0.1
    assert run.versions() == ["1"]
    assert (run.root / "model" / "1" / "saved_model.pb").is_file()
    assert run.output.count("exported SavedModel") == 1


def test_a_deterministic_two_rank_run_repeats_bit_for_bit(two_rank_run, dataset, tmp_path):
    again = run_train(make_root(tmp_path, dataset, TWO_RANKS))
    assert two_rank_run.returncode == 0 and again.returncode == 0, again.output[-4000:]
    assert "deterministic ops: seed 7" in again.output
    # Only the metrics: mpirun's `[1,0]<stdout>:` tags may fall differently around them.
    first, second = (re.findall(r"epoch=\d+(?: \w+=[0-9.]+)+", run.output) for run in (two_rank_run, again))
    assert len(first) == 5 and first == second


def test_weights_identical_across_ranks_after_broadcast(dataset, tmp_path):
    root = make_root(tmp_path, dataset, TWO_RANKS)
    settings = contract.load(root, train_env(root))
    command = build_mpirun_command(
        horovod_topology(settings),
        interface="lo",
        env_names=settings.process.env_names,
        custom_options=[],
        program=[sys.executable, "-m", "tests.integration.distributed.weights_probe"],
    )
    result = subprocess.run(
        command, env=train_env(root), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Ranks write concurrently, so two probes can share a line of mpirun's tagged output.
    probes = [json.loads(match) for match in re.findall(r"PROBE (\{[^{}]*\})", result.stdout)]
    by_rank = {probe["rank"]: probe for probe in probes}
    assert sorted(by_rank) == [0, 1]
    assert by_rank[0]["before"] != by_rank[1]["before"]  # the ranks really started apart
    assert by_rank[0]["after"] == by_rank[1]["after"]


def test_killed_rank_fails_the_job_fast_naming_the_rank(dataset, tmp_path):
    root = make_root(tmp_path, dataset, {**TWO_RANKS, "epochs": "200"})
    log = tmp_path / "train.log"
    launcher = start_train(root, log)
    try:
        wait_for_line(log, "rank=1/2", launcher)
        ranks = rank_processes(root)
        assert sorted(ranks) == [0, 1]
        ranks[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        returncode = launcher.wait(FAIL_FAST_SECONDS + 30)
        elapsed = time.monotonic() - killed_at
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert returncode != 0
    assert elapsed < FAIL_FAST_SECONDS, f"job took {elapsed:.0f} s to fail"
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("Horovod rank 1 on host"), failure
    assert "signal 9 (Killed)" in failure
    assert not rank_processes(root), "a rank outlived the failed job"


def test_sigterm_reaches_every_rank(dataset, tmp_path):
    root = make_root(tmp_path, dataset, {**TWO_RANKS, "epochs": "200"})
    log = tmp_path / "train.log"
    launcher = start_train(root, log)
    try:
        wait_for_line(log, "rank=1/2", launcher)
        assert sorted(rank_processes(root)) == [0, 1]
        launcher.send_signal(signal.SIGTERM)
        returncode = launcher.wait(FAIL_FAST_SECONDS)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    text = log.read_text()
    assert returncode == 143  # like a process killed by SIGTERM: the job did not finish
    assert "launcher got signal 15" in text
    # Each rank saw the SIGTERM mpirun relayed (StopRequest) or was killed by mpirun after its grace.
    assert not rank_processes(root)
    assert (root / "output" / "failure").read_text().startswith("stopped by SIGTERM: mpirun relayed it")


def test_bad_custom_mpi_options_fail_before_any_launch(dataset, tmp_path):
    root = make_root(tmp_path, dataset, {**TWO_RANKS, "custom_mpi_options": "-x A=1; reboot"})
    result = subprocess.run(
        TRAIN, env=train_env(root), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("custom_mpi_options: ")
    assert "metacharacter" in failure
    assert "mpirun" not in result.stdout
