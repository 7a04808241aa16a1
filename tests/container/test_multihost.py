"""Two containers of the training image as SageMaker hosts algo-1/algo-2 (docker-compose): Horovod over
ssh and MultiWorkerMirrored across hosts, and fail-fast when one host disappears mid-training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.distributed.quadrants import SIZE, write_dataset

COMPOSE_FILE = Path(__file__).with_name("compose.multihost.yml")
HOSTS = ("algo-1", "algo-2")
JOB_TIMEOUT_SECONDS = 900
FAIL_FAST_SECONDS = 60
HYPERPARAMETERS = {
    "epochs": "5",
    "batch_size": "16",
    "learning_rate": "0.002",
    "lr_scaling": "none",
    "image_size": str(SIZE),
    "augment": "false",
    "checkpoint_every_epochs": "0",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("quadrants"))


class Cluster:
    """One docker-compose project: two hosts, each with its own /opt/ml under `base`."""

    def __init__(self, image: str, base: Path, dataset: Path, hyperparameters: dict):
        self.project = f"byocmh{uuid.uuid4().hex[:8]}"
        self.base = base
        self.env = {**os.environ, "BYOC_TRAIN_IMAGE": image}
        for host in HOSTS:
            ml = base / host
            config = ml / "input" / "config"
            config.mkdir(parents=True)
            (config / "hyperparameters.json").write_text(json.dumps({**HYPERPARAMETERS, **hyperparameters}))
            resource = {"current_host": host, "hosts": list(HOSTS), "network_interface_name": "eth0"}
            (config / "resourceconfig.json").write_text(json.dumps(resource))
            for channel in ("train", "validation"):
                shutil.copytree(dataset / channel, ml / "input" / "data" / channel)
            self.env[f"{host.replace('-', '').upper()}_ML"] = str(ml)

    def compose(self, *args: str, timeout: float = 120) -> str:
        command = ["docker-compose", "-f", str(COMPOSE_FILE), "-p", self.project, *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")
        self.ids = {host: self.compose("ps", "-q", host).strip() for host in HOSTS}

    def wait(self, host: str, timeout: float) -> int:
        done = subprocess.run(["docker", "wait", self.ids[host]], capture_output=True, text=True, timeout=timeout)
        return int(done.stdout.strip())

    def logs(self, host: str) -> str:
        done = subprocess.run(["docker", "logs", self.ids[host]], capture_output=True, text=True)
        return done.stdout + done.stderr

    def wait_for_log(self, host: str, text: str, timeout: float) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if text in self.logs(host):
                return
            time.sleep(1)
        pytest.fail(f"no '{text}' in {host}'s log within {timeout} s:\n{self.logs(host)[-4000:]}")

    def models(self, host: str) -> list[str]:
        model = self.base / host / "model"
        return sorted(p.name for p in model.iterdir()) if model.is_dir() else []

    def failure(self, host: str) -> str:
        path = self.base / host / "output" / "failure"
        return path.read_text() if path.exists() else ""

    def down(self) -> None:
        subprocess.run(
            ["docker-compose", "-f", str(COMPOSE_FILE), "-p", self.project, "down", "-t", "5"],
            env=self.env, capture_output=True, timeout=120,
        )  # fmt: skip


@pytest.fixture
def cluster(train_image, dataset, tmp_path):
    clusters = []

    def make(hyperparameters: dict) -> Cluster:
        clusters.append(Cluster(train_image, tmp_path, dataset, hyperparameters))
        return clusters[-1]

    yield make
    for made in clusters:
        made.down()


def run_to_end(cluster: Cluster) -> dict[str, int]:
    cluster.up()
    codes = {host: cluster.wait(host, JOB_TIMEOUT_SECONDS) for host in HOSTS}
    for host in HOSTS:
        print(f"--- {host} (exit {codes[host]})\n{cluster.logs(host)[-3000:]}")
    return codes


def test_two_host_horovod_over_ssh(cluster):
    job = cluster({"distribution": "horovod", "processes_per_host": "1"})
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    master = job.logs("algo-1")
    assert "-H algo-1:1,algo-2:1" in master
    assert "rank=0/2" in master and "rank=1/2" in master  # rank 1's output comes back through mpirun
    assert "master finished successfully" in job.logs("algo-2")
    assert job.models("algo-1") == ["1"]
    assert job.models("algo-2") == []


def test_two_host_multiworker(cluster):
    job = cluster({"distribution": "multiworker"})
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    assert "runtime=multiworker replicas=2 rank=0/2" in job.logs("algo-1")
    assert "runtime=multiworker replicas=2 rank=1/2" in job.logs("algo-2")
    assert job.models("algo-1") == ["1"]
    assert job.models("algo-2") == []


def test_two_host_parameter_server(cluster):
    # Chief on algo-1; a ps and a worker server on each host, so variables and steps really cross containers.
    job = cluster({"distribution": "parameter_server", "steps_per_epoch": "4", "validation_steps": "2", "epochs": "2",
                   "checkpoint_every_epochs": "1"})  # fmt: skip
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    master, worker = job.logs("algo-1"), job.logs("algo-2")
    assert "runtime=parameter_server" in master
    assert "parameter_server: ps 1 serving" in worker and "parameter_server: worker 1 serving" in worker
    assert "master finished successfully" in worker
    assert job.models("algo-1") == ["1"]
    assert job.models("algo-2") == []


@pytest.mark.parametrize(("killed", "survivor", "expected"), [
    ("algo-2", "algo-1", "algo-2"),  # a worker host vanishes: the master must notice and fail
    ("algo-1", "algo-2", "master algo-1"),  # the master vanishes: the worker must not wait forever
])
def test_horovod_host_killed_mid_training_fails_the_other_fast(cluster, killed, survivor, expected):
    job = cluster({"distribution": "horovod", "processes_per_host": "1", "epochs": "500"})
    job.up()
    job.wait_for_log("algo-1", "rank=1/2", timeout=600)
    time.sleep(3)  # well inside the training loop
    subprocess.run(["docker", "kill", job.ids[killed]], check=True, capture_output=True)
    killed_at = time.monotonic()
    code = job.wait(survivor, FAIL_FAST_SECONDS + 60)
    elapsed = time.monotonic() - killed_at
    print(job.logs(survivor)[-3000:])
    assert code != 0
    assert elapsed < FAIL_FAST_SECONDS, f"{survivor} took {elapsed:.0f} s to fail"
    failure = job.failure(survivor)
    assert expected in failure, failure
