"""Script mode across two training containers (docker-compose hosts algo-1/algo-2, compose.multihost.yml): an
unmodified Horovod Keras script over our mpirun/sshd launcher, and the toolkit's TF_CONFIG for a
MultiWorkerMirrored and a parameter-server script. Each host has its own /opt/ml, written as SageMaker writes it."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.container.test_multihost import HOSTS, Cluster, run_to_end
from tests.integration.train import script_jobs

CODE = "/opt/ml/code"


class ScriptCluster(Cluster):
    """Two hosts whose /opt/ml holds the user's script in code/ and SDK-style script-mode hyperparameters."""

    def __init__(self, image: str, base: Path, script: str, hyperparameters: dict):
        self.project = f"byocsm{uuid.uuid4().hex[:8]}"
        self.base = base
        self.env = {**os.environ, "BYOC_TRAIN_IMAGE": image}
        for host in HOSTS:
            ml = base / host
            script_jobs.source_dir(ml / "code", script)
            script_jobs.script_tree(ml, script_jobs.sdk_hyperparameters(script, CODE, **hyperparameters),
                                    hosts=HOSTS, current_host=host)  # fmt: skip
            self.env[f"{host.replace('-', '').upper()}_ML"] = str(ml)

    def report(self, host: str) -> dict:
        return json.loads((self.base / host / "output" / "data" / "report.json").read_text())


@pytest.fixture
def script_cluster(train_image, tmp_path):
    made = []

    def make(script: str, hyperparameters: dict) -> ScriptCluster:
        made.append(ScriptCluster(train_image, tmp_path, script, hyperparameters))
        return made[-1]

    yield make
    for cluster in made:
        cluster.down()


def test_horovod_keras_script_across_two_containers(script_cluster):
    job = script_cluster("hvd_keras.py", {"sagemaker_mpi_enabled": True, "sagemaker_mpi_num_of_processes_per_host": 1})
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    master = job.logs("algo-1")
    assert "-H algo-1:1,algo-2:1" in master
    # Each rank sees its own host (the DLC toolkit would show algo-1 to both).
    assert "hvd rank 0/2 on algo-1 done" in master and "hvd rank 1/2 on algo-2 done" in master
    assert "master finished successfully" in job.logs("algo-2")
    assert job.report("algo-1")["size"] == 2
    assert job.models("algo-1") == ["1"] and job.models("algo-2") == []


def test_multi_worker_mirrored_script_gets_the_toolkits_tf_config(script_cluster):
    job = script_cluster("mwms_tf_config.py", {"sagemaker_multi_worker_mirrored_strategy_enabled": True})
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    for index, host in enumerate(HOSTS):
        got = job.report(host)
        assert got["tf_config"] == {"cluster": {"worker": ["algo-1:8890", "algo-2:8890"]}, "environment": "cloud",
                                    "task": {"index": index, "type": "worker"}}  # fmt: skip
        assert got["replicas"] == 2  # the two workers really formed one cluster
    assert job.models("algo-1") == ["1"] and job.models("algo-2") == []


def test_parameter_server_script_gets_the_toolkits_tf_config_and_live_ps_tasks(script_cluster):
    job = script_cluster("ps_tf_config.py", {"sagemaker_parameter_server_enabled": True})
    assert run_to_end(job) == {"algo-1": 0, "algo-2": 0}
    cluster = {"master": ["algo-1:2222"], "ps": ["algo-1:2223", "algo-2:2223"], "worker": ["algo-2:2222"]}
    master, worker = job.report("algo-1"), job.report("algo-2")
    assert master["tf_config"] == {"cluster": cluster, "environment": "cloud", "task": {"index": 0, "type": "master"}}
    assert worker["tf_config"] == {"cluster": cluster, "environment": "cloud", "task": {"index": 0, "type": "worker"}}
    assert master["ps_reachable"] == worker["ps_reachable"] == {"algo-1:2223": True, "algo-2:2223": True}
    assert "master finished successfully" in job.logs("algo-2")
