"""`train` as Horovod launcher: on the master run mpirun over every host; on a worker serve sshd and wait.

Ranks started by mpirun run `train` again; the contract sees OMPI_COMM_WORLD_* and they train in-process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from train_container.contract import TrainingEnv
from train_container.distributed.coordination import MasterCoordinator, follow_master
from train_container.distributed.failure import DistributedFailure, describe_mpirun_failure
from train_container.distributed.mpi_command import build_mpirun_command, parse_custom_mpi_options
from train_container.distributed.mpi_runner import ForwardSignals, MpirunProcess
from train_container.distributed.sshd import start_sshd, wait_for_sshd
from train_container.distributed.topology import Topology, build_topology
from train_container.errors import StoppedError, TrainingError

# Hosts of one job start within seconds of each other, but image pulls can differ by minutes.
WAIT_FOR_HOSTS_SECONDS = 600
# The same entry point as `train`, independent of where the console script was installed.
RANK_PROGRAM = ("-c", "import sys; from train_container.cli import main; sys.exit(main())")


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


def mpirun_command(settings: TrainingEnv, topology: Topology) -> list[str]:
    return build_mpirun_command(
        topology,
        interface=settings.resource.network_interface_name,
        env_names=settings.process.env_names,
        custom_options=parse_custom_mpi_options(settings.hyperparameters.custom_mpi_options),
        program=[sys.executable, *RANK_PROGRAM],
        mpirun=find_mpirun(),
    )


def launch(settings: TrainingEnv) -> int:
    topology = horovod_topology(settings)
    command = mpirun_command(settings, topology)  # validate options on every host, before any waiting
    if not topology.is_master:
        return _follow(topology)
    if not topology.is_multi_host:
        return _run_mpirun(command, topology, coordinator=None)
    return _lead(command, topology)


def _run_mpirun(command: list[str], topology: Topology, coordinator: MasterCoordinator | None) -> int:
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
    headline = result.abort_reason or describe_mpirun_failure(result.returncode, result.tail, topology.hosts)
    raise DistributedFailure(headline, result.returncode or 1)


def _lead(command: list[str], topology: Topology) -> int:
    sshd = start_sshd()
    coordinator = MasterCoordinator(topology.workers, on_lost=lambda reason: None)
    coordinator.start()
    try:
        wait_for_sshd(topology.workers, WAIT_FOR_HOSTS_SECONDS)
        coordinator.wait_for_workers(WAIT_FOR_HOSTS_SECONDS)
        code = _run_mpirun(command, topology, coordinator)
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
        _stop(sshd)


def _follow(topology: Topology) -> int:
    sshd = start_sshd()
    print(f"worker {topology.current_host}: sshd up, waiting for master {topology.master}", flush=True)
    try:
        code, reason = follow_master(topology.master, topology.current_host, WAIT_FOR_HOSTS_SECONDS)
    finally:
        _stop(sshd)
    if code != 0:
        raise DistributedFailure(reason, code)
    print(f"worker {topology.current_host}: master finished successfully", flush=True)
    return 0


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
