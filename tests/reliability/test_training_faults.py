"""Training faults through the real `train` entrypoint: SIGTERM then restart, a full disk, an unwritable model dir.

Already covered elsewhere (referenced in RESULTS.md, not duplicated): a killed Horovod rank fails the job fast
naming the rank (tests/integration/distributed/test_horovod.py::test_killed_rank_fails_the_job_fast_naming_the_rank),
SIGTERM writes a checkpoint (tests/integration/train/test_train_process.py).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.train.conftest import BASE_HYPERPARAMETERS, prepare_colour_tfrecords, run_train, start_train
from tests.reliability import figures
from tests.support.docker import image_from_env
from tests.support.sm_tree import make_sm_tree


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory) -> Path:
    return prepare_colour_tfrecords(tmp_path_factory.mktemp("colour"))


def tree(root: Path, data: Path, **hyperparameters) -> Path:
    channels = {"train": data / "train", "validation": data / "validation"}
    return make_sm_tree(root, {**BASE_HYPERPARAMETERS, "augment": False, **hyperparameters}, channels)


def test_sigterm_mid_epoch_then_restart_loses_at_most_one_epoch(tmp_path, colour_data):
    # checkpoint_every_epochs=0: the only checkpoint the restart can resume from is the one SIGTERM wrote.
    root = tree(tmp_path / "opt_ml", colour_data, epochs=4, checkpoint_every_epochs=0)
    running = start_train(root)
    try:
        running.wait_for_line("epoch=2 ", timeout=240)
        running.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        code = running.process.wait(timeout=60)
        stop_seconds = time.monotonic() - stopped_at
    finally:
        if running.process.poll() is None:
            running.process.kill()
    completed = max(int(line.split()[0].split("=")[1]) for line in running.seen if line.startswith("epoch="))
    assert code == 143
    assert (root / "output" / "failure").read_text().startswith("stopped by SIGTERM during epoch ")
    (root / "output" / "failure").unlink()

    restarted = run_train(root)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    start = int(re.search(r"start_epoch=(\d+) of 4", restarted.stderr).group(1))
    # The interrupted epoch is redone; at most one completed epoch may be repeated.
    assert completed <= start <= completed + 1, f"resumed at epoch {start} after {completed} completed epochs"
    assert (root / "model" / "1" / "saved_model.pb").is_file()
    figures.record(
        "fault_train_sigterm_restart",
        epochs_completed_before_sigterm=completed,
        exit_code=code,
        stopped_after_s=round(stop_seconds, 1),
        resumed_at_epoch=start,
        epochs_lost=max(0, completed + 1 - start),
    )


def _train_in_container(root: Path, *docker_args: str) -> subprocess.CompletedProcess:
    image = image_from_env("BYOC_TRAIN_IMAGE")
    return subprocess.run(
        ["docker", "run", "--rm", "-v", f"{root}:/opt/ml", *docker_args, image, "train"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "docker_args", "expected"),
    [
        # Room for the pre-training write check, not for the SavedModel: fails at export, saying where and why.
        ("full_disk", ("--tmpfs", "/opt/ml/model:rw,size=16k"),
         r"^could not write the SavedModel to /opt/ml/model/1: No space left on device \(\d+ bytes free\)$"),
        ("read_only_model_dir", ("READONLY",), r"^/opt/ml/model is not writable: Read-only file system$"),
    ],
)
def test_unwritable_model_dir_fails_with_a_clear_failure_file(tmp_path, colour_data, case, docker_args, expected):
    root = tree(tmp_path / "opt_ml", colour_data, epochs=1)
    if docker_args == ("READONLY",):
        (root / "model").mkdir(exist_ok=True)
        docker_args = ("-v", f"{root / 'model'}:/opt/ml/model:ro")
    started = time.monotonic()
    done = _train_in_container(root, *docker_args)
    elapsed = time.monotonic() - started
    failure = root / "output" / "failure"
    assert done.returncode != 0, done.stderr[-3000:]
    assert failure.is_file(), done.stderr[-3000:]
    first_line = failure.read_text().splitlines()[0]
    assert re.search(expected, first_line), first_line
    assert "Traceback" not in first_line
    if case == "read_only_model_dir":
        assert "epoch=1" not in done.stdout, "a read-only model dir must fail before training, not after"
    figures.record(
        f"fault_train_{case}", exit_code=done.returncode, failure_first_line=first_line, seconds=round(elapsed, 1)
    )
