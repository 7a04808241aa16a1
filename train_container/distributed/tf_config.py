"""Pure builders for TF_CONFIG: MultiWorkerMirroredStrategy and ParameterServerStrategy clusters.

Parameter-server topology (documented for users, seed 001): every host runs one `ps` task and one `worker`
task; the first host in sorted order also runs the `chief`, which holds the training loop and the
ClusterCoordinator. Variables are sharded over all ps tasks, so adding hosts adds both compute and
parameter bandwidth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from train_container.distributed.topology import Topology

MULTIWORKER_PORT = 8890
CHIEF_PORT = 2222
PS_PORT = 2223
WORKER_PORT = 2224


def multiworker_cluster(topology: Topology, base_port: int = MULTIWORKER_PORT) -> dict:
    """TF_CONFIG cluster for MWMS: `processes_per_host` workers per host on consecutive ports.

    No `chief` entry: MWMS treats worker 0 (the first slot of the first sorted host) as chief.
    """
    workers = [
        f"{host}:{base_port + slot}" for host in topology.hosts for slot in range(topology.processes_per_host)
    ]
    return {"worker": workers}


def multiworker_tf_config(topology: Topology, local_slot: int = 0, base_port: int = MULTIWORKER_PORT) -> str:
    """TF_CONFIG (JSON text) for the process in `local_slot` of the current host."""
    if not 0 <= local_slot < topology.processes_per_host:
        raise ValueError(f"local_slot {local_slot} outside 0..{topology.processes_per_host - 1}")
    index = topology.hosts.index(topology.current_host) * topology.processes_per_host + local_slot
    config = {
        "cluster": multiworker_cluster(topology, base_port),
        "task": {"type": "worker", "index": index},
    }
    return json.dumps(config, sort_keys=True)


@dataclass(frozen=True)
class Task:
    """One TF server process: `type` is chief, ps or worker."""

    type: str
    index: int


def parameter_server_cluster(topology: Topology) -> dict:
    """Cluster spec: chief on the first host, one ps and one worker on every host.

    A single host uses `localhost`: outside SageMaker (local runs, tests) its name may not resolve.
    """
    hosts = topology.hosts if topology.is_multi_host else ("localhost",)
    return {
        "chief": [f"{hosts[0]}:{CHIEF_PORT}"],
        "ps": [f"{host}:{PS_PORT}" for host in hosts],
        "worker": [f"{host}:{WORKER_PORT}" for host in hosts],
    }


def parameter_server_tasks(topology: Topology) -> tuple[Task, ...]:
    """Tasks the current host runs, servers first and the chief (which trains) last."""
    index = topology.hosts.index(topology.current_host)
    tasks = [Task("ps", index), Task("worker", index)]
    if topology.is_master:
        tasks.append(Task("chief", 0))
    return tuple(tasks)


def parameter_server_tf_config(topology: Topology, task: Task) -> str:
    config = {"cluster": parameter_server_cluster(topology), "task": {"type": task.type, "index": task.index}}
    return json.dumps(config, sort_keys=True)


# ---------------------------------------------------------------- user scripts (script mode)
# The exact TF_CONFIG shapes sagemaker-tensorflow-training-toolkit exports to a user's script, so scripts written
# for the DLC read the same cluster. `environment: cloud` is part of what they see.
TOOLKIT_MASTER_PORT = 2222
TOOLKIT_PS_PORT = 2223


def toolkit_multiworker_tf_config(hosts: tuple[str, ...], current_host: str) -> dict:
    """sagemaker_multi_worker_mirrored_strategy_enabled: every host one worker on port 8890, worker 0 = chief."""
    return {
        "cluster": {"worker": [f"{host}:{MULTIWORKER_PORT}" for host in hosts]},
        "environment": "cloud",
        "task": {"index": hosts.index(current_host), "type": "worker"},
    }


def toolkit_parameter_server_tf_config(hosts: tuple[str, ...], current_host: str, ps_task: bool = False) -> dict:
    """sagemaker_parameter_server_enabled (more than one host): the first host is `master`, the others `worker`
    (port 2222, running the user's script); every host also runs a `ps` server on port 2223."""
    workers = hosts[1:]
    cluster: dict = {"master": [f"{hosts[0]}:{TOOLKIT_MASTER_PORT}"]}
    if len(hosts) > 1:
        cluster["ps"] = [f"{host}:{TOOLKIT_PS_PORT}" for host in hosts]
    if workers:
        cluster["worker"] = [f"{host}:{TOOLKIT_MASTER_PORT}" for host in workers]
    if ps_task:
        if len(hosts) < 2:
            raise ValueError("a ps task needs more than one host")
        task = {"index": hosts.index(current_host), "type": "ps"}
    elif current_host == hosts[0]:
        task = {"index": 0, "type": "master"}
    else:
        task = {"index": workers.index(current_host), "type": "worker"}
    return {"cluster": cluster, "environment": "cloud", "task": task}
