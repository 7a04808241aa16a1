"""The mpirun launcher: on the master run mpirun over every host; on a worker serve sshd and wait.

Built-in trainer (distribution=horovod): ranks run `train` again; the contract sees OMPI_COMM_WORLD_* and they
train in-process. User scripts pass their own rank program to `run_mpi_job`.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable, Sequence

from train_container.contract import TrainingEnv
from train_container.distributed.children import stop_child
from train_container.distributed.coordination import MasterCoordinator, follow_master
from train_container.distributed.failure import DistributedFailure, describe_mpirun_failure
from train_container.distributed.mpi_command import (
    build_mpirun_command,
    parse_custom_mpi_options,
    require_interface,
)
from train_container.distributed.mpi_runner import ForwardSignals, MpirunProcess
from train_container.distributed.sshd import start_sshd, wait_for_sshd
from train_container.distributed.topology import Topology, build_topology
from train_container.errors import StoppedError, TrainingError

# Hosts of one job start within seconds of each other, but image pulls can differ by minutes.
WAIT_FOR_HOSTS_SECONDS = 600
# What each built-in process runs: `train`'s entry point, wherever the console script was installed.
TRAIN_PROGRAM = ("-c", "import sys; from train_container.cli import main; sys.exit(main())")


def horovod_topology(settings: TrainingEnv) -> Topology:
    per_host = settings.hyperparameters.processes_per_host or max(settings.num_gpus, 1)
    resource = settings.resource
    return build_topology(resource.hosts, resource.current_host, per_host)


def find_mpirun() -> str:
    # By absolute path: OpenMPI then treats its prefix as --prefix, so orted is found on other hosts
    # even where the non-login ssh PATH lacks it (the DLC installs OpenMPI under /usr/local/openmpi).
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise TrainingError("distribution=horovod needs OpenMPI's mpirun on PATH; it was not found")
    return os.path.realpath(mpirun)


def network_interface(name: str) -> str:
    """resourceconfig.json's interface, checked against this container's (every host checks its own)."""
    return require_interface(name, (present for _, present in socket.if_nameindex()))


def mpirun_command(settings: TrainingEnv, topology: Topology) -> list[str]:
    return build_mpirun_command(
        topology,
        interface=network_interface(settings.resource.network_interface_name),
        env_names=settings.process.env_names,
        custom_options=parse_custom_mpi_options(settings.hyperparameters.custom_mpi_options),
        program=[sys.executable, *TRAIN_PROGRAM],
        mpirun=find_mpirun(),
    )


# (mpirun exit code, its last output lines, hosts) -> the error that ends the job.
FailureBuilder = Callable[[int, Sequence[str], Sequence[str]], TrainingError]


def _rank_failure(returncode: int, tail: Sequence[str], hosts: Sequence[str]) -> TrainingError:
    return DistributedFailure(describe_mpirun_failure(returncode, tail, hosts), returncode or 1)


def launch(settings: TrainingEnv) -> int:
    topology = horovod_topology(settings)
    command = mpirun_command(settings, topology)  # validate options on every host, before any waiting
    return run_mpi_job(topology, command)


def run_mpi_job(topology: Topology, command: list[str], failure: FailureBuilder = _rank_failure) -> int:
    """Master: mpirun `command` over every host (after their sshd and coordinator answer); worker: serve sshd
    until the master reports the result. Used for the built-in trainer and for user scripts alike."""
    if not topology.is_master:
        return _follow(topology)
    if not topology.is_multi_host:
        return _run_mpirun(command, topology, None, failure)
    return _lead(command, topology, failure)


def _run_mpirun(
    command: list[str], topology: Topology, coordinator: MasterCoordinator | None, failure: FailureBuilder
) -> int:
    mpirun = MpirunProcess(command)
    if coordinator is not None:
        coordinator.on_lost = mpirun.abort
        if coordinator.lost_reason is not None:
            raise DistributedFailure(coordinator.lost_reason)
    mpirun.start()
    with ForwardSignals(mpirun) as forwarded:
        result = mpirun.wait()
    if result.returncode == 0 and result.abort_reason is None:
        return 0
    if forwarded.received is not None:
        raise StoppedError(
            f"stopped by {forwarded.received}: mpirun relayed it to every rank; training did not finish"
        )
    if result.abort_reason is not None:
        raise DistributedFailure(result.abort_reason, result.returncode or 1)
    raise failure(result.returncode, result.tail, topology.hosts)


def _lead(command: list[str], topology: Topology, failure: FailureBuilder) -> int:
    sshd = start_sshd()
    coordinator = MasterCoordinator(topology.workers, on_lost=lambda reason: None)
    coordinator.start()
    try:
        wait_for_sshd(topology.workers, WAIT_FOR_HOSTS_SECONDS)
        coordinator.wait_for_workers(WAIT_FOR_HOSTS_SECONDS)
        code = _run_mpirun(command, topology, coordinator, failure)
    except TrainingError as exc:
        coordinator.finish(exc.exit_code or 1, str(exc).splitlines()[0])
        raise
    except BaseException:
        coordinator.finish(1, "master launcher crashed")
        raise
    else:
        coordinator.finish(0)
        return code
    finally:
        stop_child(sshd, grace_seconds=5)


def _follow(topology: Topology) -> int:
    sshd = start_sshd()
    print(f"worker {topology.current_host}: sshd up, waiting for master {topology.master}", flush=True)
    try:
        code, reason = follow_master(topology.master, topology.current_host, WAIT_FOR_HOSTS_SECONDS)
    finally:
        stop_child(sshd, grace_seconds=5)
    if code != 0:
        raise DistributedFailure(reason, code)
    print(f"worker {topology.current_host}: master finished successfully", flush=True)
    return 0
