"""TF2 ParameterServerStrategy through the real `train` entrypoint: the launcher starts ps, worker and chief
on this host (the documented topology for one host), and ends them together."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from tests.integration.distributed.conftest import TRAIN, make_root, run_train, train_env
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.slow  # real chief/ps/worker processes training (~30 s) (make test-fast leaves it out)

PS = {"distribution": "parameter_server", "steps_per_epoch": "16", "validation_steps": "4"}


def job_processes(root) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("SM_BASE_DIR") == str(root):
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_parameter_server_trains_like_one_device_and_exports_once(single_run, dataset, tmp_path):
    run = run_train(make_root(tmp_path, dataset, PS))
    assert run.returncode == 0, run.output[-4000:]
    print(f"wall time: 1 process {single_run.seconds:.1f} s, ps+worker+chief {run.seconds:.1f} s")
    for task in ("ps 0", "worker 0", "chief 0"):
        assert f"starting {task} on algo-1" in run.output
    assert "runtime=parameter_server" in run.output
    assert len(run.epoch_lines) == 5
    assert run.final_val_accuracy >= 0.85
    assert abs(run.final_val_accuracy - single_run.final_val_accuracy) <= 0.1
    assert run.versions() == ["1"]
    assert not job_processes(run.root), "a ps/worker server outlived the job"


def test_parameter_server_without_steps_per_epoch_is_refused(dataset, tmp_path):
    root = make_root(tmp_path, dataset, {"distribution": "parameter_server"})
    result = subprocess.run(TRAIN, env=train_env(root), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "needs the steps_per_epoch hyperparameter" in (root / "output" / "failure").read_text()
    assert not job_processes(root)


def test_parameter_server_without_validation_steps_is_refused(dataset, tmp_path):
    root = make_root(tmp_path, dataset, {"distribution": "parameter_server", "steps_per_epoch": "4"})
    result = subprocess.run(TRAIN, env=train_env(root), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "needs the validation_steps hyperparameter with the validation" in (root / "output" / "failure").read_text()
    assert not job_processes(root)
