"""The built-in trainer's parameter-server launcher: start this host's ps and worker servers (and, on the first host,
the chief that trains), keep them together, and end them together.

Each task is `train` again with its own TF_CONFIG; `runtimes.multi_process.parameter_server` then serves (ps, worker)
or trains (chief). Hosts other than the first wait for the master's result over the coordination channel.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from train_container import datasets
from train_container.contract import EVAL_CHANNEL, TRAIN_CHANNEL, VALIDATION_CHANNEL, TrainingEnv
from train_container.distributed.children import stop_child
from train_container.distributed.coordination import MasterCoordinator, follow_master
from train_container.distributed.failure import DistributedFailure
from train_container.distributed.tf_config import Task, parameter_server_tasks, parameter_server_tf_config
from train_container.distributed.topology import Topology, build_topology
from train_container.errors import TrainingError
from train_container.launchers.mpi import TRAIN_PROGRAM, WAIT_FOR_HOSTS_SECONDS
from train_container.stopping import StopRequest

POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 30


def task_command(topology: Topology, task: Task) -> list[str]:
    """`env TF_CONFIG=... python -c <train>`: the task's role travels in its command, not our environment."""
    return ["env", f"TF_CONFIG={parameter_server_tf_config(topology, task)}", sys.executable, *TRAIN_PROGRAM]


def launch(settings: TrainingEnv) -> int:
    resource = settings.resource
    topology = build_topology(resource.hosts, resource.current_host, 1)
    if topology.is_master:
        check_step_counts(settings)
    servers = {task: _start(topology, task) for task in parameter_server_tasks(topology) if task.type != "chief"}
    try:
        if not topology.is_master:
            code, reason = follow_master(topology.master, topology.current_host, WAIT_FOR_HOSTS_SECONDS)
            if code != 0:
                raise DistributedFailure(reason, code)
            print(f"worker {topology.current_host}: master finished successfully", flush=True)
            return 0
        return _lead(topology, servers, settings.failure_file)
    finally:
        for process in servers.values():
            stop_child(process)


def check_step_counts(settings: TrainingEnv) -> None:
    """Workers read the data, so Keras cannot see where an epoch or an evaluation pass ends: it needs counts.

    Without validation_steps, the first worker to exhaust its validation shard ends the job with TF's
    "End of sequence" (seen with 2 hosts); refuse before starting any server instead.
    """
    hp = settings.hyperparameters
    if hp.steps_per_epoch is None:
        raise TrainingError(
            "distribution=parameter_server needs the steps_per_epoch hyperparameter: Keras cannot "
            "detect the end of an epoch when workers read the data"
        )
    evaluated = [name for name in (VALIDATION_CHANNEL, EVAL_CHANNEL) if settings.channel(name) is not None]
    train = settings.channel(TRAIN_CHANNEL)
    if VALIDATION_CHANNEL not in evaluated and train is not None:
        arrays = datasets.find_arrays(train.name, train.path)
        if arrays is not None and arrays.held_out is not None:  # numpy_input.resolve validates on that pair
            evaluated.insert(0, f"{VALIDATION_CHANNEL} ({arrays.held_out}_* arrays of '{train.name}')")
    if evaluated and hp.validation_steps is None:
        raise TrainingError(
            f"distribution=parameter_server needs the validation_steps hyperparameter with the "
            f"{' and '.join(evaluated)} channel{'s' if len(evaluated) > 1 else ''}: Keras cannot detect the "
            "end of an evaluation pass when workers read the data"
        )


def _lead(topology: Topology, servers: dict[Task, subprocess.Popen], failure_file: Path) -> int:
    coordinator = None
    if topology.is_multi_host:
        coordinator = MasterCoordinator(topology.workers, on_lost=lambda reason: None)
        coordinator.start()
    try:
        if coordinator is not None:
            coordinator.wait_for_workers(WAIT_FOR_HOSTS_SECONDS)
        code = _supervise(_start(topology, Task("chief", 0)), servers, coordinator, failure_file)
    except TrainingError as exc:
        if coordinator is not None:
            coordinator.finish(exc.exit_code or 1, str(exc))
        raise
    if coordinator is not None:
        coordinator.finish(0)
    return code


def _supervise(chief, servers, coordinator: MasterCoordinator | None, failure_file: Path) -> int:
    """Wait for the chief; a dead local server or lost host ends it. SIGTERM is passed to the chief."""
    stop = StopRequest().install()
    while chief.poll() is None:
        problem = next(
            (f"{task.type} {task.index} exited with code {p.returncode}" for task, p in servers.items()
             if p.poll() is not None),
            coordinator.lost_reason if coordinator is not None else None,
        )
        if stop.requested or problem:
            stop_child(chief, STOP_GRACE_SECONDS)
            if problem:
                raise DistributedFailure(f"parameter server job failed: {problem}")
        time.sleep(POLL_SECONDS)
    if chief.returncode != 0:
        cause = _first_line(failure_file) or f"exited with code {chief.returncode}"
        raise DistributedFailure(f"parameter server chief failed: {cause}", chief.returncode)
    return 0


def _first_line(path: Path) -> str:
    try:
        return path.read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return ""


def _start(topology: Topology, task: Task) -> subprocess.Popen:
    print(f"starting {task.type} {task.index} on {topology.current_host}", flush=True)
    return subprocess.Popen(task_command(topology, task), stdin=subprocess.DEVNULL)
