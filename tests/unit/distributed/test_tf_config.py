import json

import pytest

from train_container.distributed.tf_config import (
    CHIEF_PORT,
    MULTIWORKER_PORT,
    PS_PORT,
    WORKER_PORT,
    Task,
    multiworker_tf_config,
    parameter_server_tasks,
    parameter_server_tf_config,
)
from train_container.distributed.topology import build_topology


def test_multiworker_two_hosts_first_sorted_host_is_worker_zero():
    for current, index in [("algo-1", 0), ("algo-2", 1)]:
        config = json.loads(multiworker_tf_config(build_topology(["algo-2", "algo-1"], current, 1)))
        assert config == {
            "cluster": {"worker": [f"algo-1:{MULTIWORKER_PORT}", f"algo-2:{MULTIWORKER_PORT}"]},
            "task": {"type": "worker", "index": index},
        }


def test_multiworker_single_host_two_processes_use_consecutive_ports():
    topology = build_topology(["localhost"], "localhost", 2)
    first = json.loads(multiworker_tf_config(topology, local_slot=0, base_port=23000))
    second = json.loads(multiworker_tf_config(topology, local_slot=1, base_port=23000))
    assert first["cluster"] == second["cluster"] == {"worker": ["localhost:23000", "localhost:23001"]}
    assert (first["task"]["index"], second["task"]["index"]) == (0, 1)


def test_multiworker_slots_per_host_are_contiguous():
    topology = build_topology(["algo-1", "algo-2"], "algo-2", 2)
    config = json.loads(multiworker_tf_config(topology, local_slot=1, base_port=100))
    assert config["cluster"]["worker"] == ["algo-1:100", "algo-1:101", "algo-2:100", "algo-2:101"]
    assert config["task"]["index"] == 3


def test_multiworker_rejects_slot_outside_host():
    with pytest.raises(ValueError, match="local_slot"):
        multiworker_tf_config(build_topology(["algo-1"], "algo-1", 1), local_slot=1)


def test_parameter_server_roles_one_ps_and_worker_per_host_chief_on_first():
    master = build_topology(["algo-1", "algo-2", "algo-3"], "algo-1", 1)
    third = build_topology(["algo-1", "algo-2", "algo-3"], "algo-3", 1)
    assert parameter_server_tasks(master) == (Task("ps", 0), Task("worker", 0), Task("chief", 0))
    assert parameter_server_tasks(third) == (Task("ps", 2), Task("worker", 2))
    config = json.loads(parameter_server_tf_config(third, Task("worker", 2)))
    assert config["cluster"] == {
        "chief": [f"algo-1:{CHIEF_PORT}"],
        "ps": [f"algo-{i}:{PS_PORT}" for i in (1, 2, 3)],
        "worker": [f"algo-{i}:{WORKER_PORT}" for i in (1, 2, 3)],
    }
    assert config["task"] == {"type": "worker", "index": 2}


def test_parameter_server_single_host_still_has_every_role():
    topology = build_topology(["algo-1"], "algo-1", 1)
    config = json.loads(parameter_server_tf_config(topology, Task("chief", 0)))
    assert config["cluster"] == {
        "chief": [f"localhost:{CHIEF_PORT}"],
        "ps": [f"localhost:{PS_PORT}"],
        "worker": [f"localhost:{WORKER_PORT}"],
    }
    assert config["task"] == {"type": "chief", "index": 0}


def test_parameter_server_task_command_carries_its_role():
    from train_container.launchers.parameter_server import task_command

    topology = build_topology(["algo-1", "algo-2"], "algo-2", 1)
    command = task_command(topology, Task("ps", 1))
    assert command[0] == "env"
    assert json.loads(command[1].removeprefix("TF_CONFIG="))["task"] == {"type": "ps", "index": 1}
