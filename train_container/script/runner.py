"""Run the user's program: once, on every MPI slot (our mpirun/sshd launcher), or with the toolkit's TF_CONFIG.

Every host runs `train`; each fetches the code and installs requirements.txt itself (mpirun ranks on a host run
what that host fetched). Single process: our child, its stderr tailed so a failure names the user's exception,
SIGTERM passed to its whole process group.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from train_container.distributed.children import stop_child
from train_container.distributed.coordination import MasterCoordinator, MasterLink
from train_container.distributed.failure import DistributedFailure, describe_mpirun_failure
from train_container.distributed.mpi_command import build_mpirun_command, parse_custom_mpi_options
from train_container.distributed.mpi_runner import ForwardSignals
from train_container.distributed.tf_config import (
    toolkit_multiworker_tf_config,
    toolkit_parameter_server_tf_config,
)
from train_container.distributed.topology import Topology, build_topology
from train_container.errors import StoppedError, TrainingError
from train_container.launchers import mpi
from train_container.script import code, program
from train_container.script.failure import find_user_exception
from train_container.script.job import ScriptJob
from train_container.script.toolkit_env import program_env, user_args
from train_container.stopping import StopRequest

log = logging.getLogger(__name__)
RANK_PROGRAM = ("-m", "train_container.script.rank")
PS_SERVER_PROGRAM = ("-m", "train_container.script.ps_server")
TAIL_LINES = 400
STOP_GRACE_SECONDS = 10
# How long a failed worker waits for the master to take its report before exiting.
REPORT_SECONDS = 30


class UserProgramError(TrainingError):
    """The user's program failed; `detail` (its traceback) follows the headline in output/failure."""

    def __init__(self, message: str, exit_code: int, detail: str = ""):
        super().__init__(message)
        self.exit_code = exit_code
        self.detail = detail


class UserProcess:
    """The program as our child in its own process group; stderr passed through and its tail kept."""

    def __init__(self, command: Sequence[str], cwd: Path, env: Mapping[str, str]):
        self.command = list(command)
        self._cwd = cwd
        self._env = dict(env)
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        print("+ " + " ".join(self.command), flush=True)
        self._process = subprocess.Popen(
            self.command, cwd=self._cwd, env=self._env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, text=True, errors="replace", bufsize=1,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._pump, name="user-stderr", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            self.tail.append(line.rstrip("\n"))

    def terminate(self) -> None:
        """SIGTERM to every process the program started (its process group), as SageMaker's stop would."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)

    def wait(self) -> int:
        assert self._process is not None
        code = self._process.wait()
        self._reader.join(timeout=5)
        return 128 - code if code < 0 else code


def user_failure(job: ScriptJob, returncode: int, lines: Sequence[str], rank: str | None = None) -> UserProgramError:
    found = find_user_exception(lines, rank)
    where = f" on rank {found.rank}" if found is not None and found.rank is not None else ""
    if found is None:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        message = f"{job.program} exited with code {returncode}" + (f": {last}" if last else "")
        return UserProgramError(message, returncode or 1)
    return UserProgramError(f"{job.program} failed{where}: {found.headline}", returncode or 1, found.traceback)


def run(job: ScriptJob, stop: StopRequest) -> int:
    code_dir = code.fetch(job)
    code.install_requirements(code_dir)
    kind = program.prepare(code_dir, job.program)
    if stop.requested:
        raise StoppedError(f"stopped by {stop.reason} before {job.program} started")
    log.info("script mode: %s from %s (%s), distribution=%s", job.program, code_dir, kind, job.distribution)
    topology = build_topology(job.resource.hosts, job.resource.current_host, job.processes_per_host)
    if job.distribution == "mpi" and not job.process.under_mpi:
        return mpi.run_mpi_job(
            topology, mpirun_command(job, topology), lambda rc, tail, hosts: _rank_failure(job, rc, tail, hosts)
        )
    if job.distribution == "parameter_server" and topology.is_multi_host:
        return run_parameter_server(job, code_dir, kind, topology)
    extra = {}
    if job.distribution == "multiworker":
        extra["TF_CONFIG"] = json.dumps(toolkit_multiworker_tf_config(topology.hosts, topology.current_host))
    return run_once(job, code_dir, kind, extra)


def run_once(
    job: ScriptJob, code_dir: Path, kind: str, extra_env: Mapping[str, str],
    coordinator: MasterCoordinator | None = None,
) -> int:
    """The program as one process. With a master's `coordinator`, another host's failure stops it and is the cause."""
    env = program_env(job, code_dir, extra_env)
    child = UserProcess(program.program_command(kind, job.program, user_args(job)), code_dir, env)
    child.start()
    if coordinator is not None:
        coordinator.on_lost = lambda reason: child.terminate()
        if coordinator.lost_reason is not None:
            child.terminate()
    with ForwardSignals(child) as forwarded:
        returncode = child.wait()
    if coordinator is not None and coordinator.lost_reason is not None:
        raise DistributedFailure(coordinator.lost_reason)
    if returncode == 0:
        return 0
    if forwarded.received is not None:
        raise StoppedError(f"stopped by {forwarded.received}: passed to {job.program}, which exited {returncode}")
    raise user_failure(job, returncode, list(child.tail))


def mpirun_command(job: ScriptJob, topology: Topology) -> list[str]:
    return build_mpirun_command(
        topology,
        interface=mpi.network_interface(job.resource.network_interface_name),
        env_names=job.process.env_names,
        custom_options=parse_custom_mpi_options(job.custom_mpi_options),
        program=[sys.executable, *RANK_PROGRAM],
        mpirun=mpi.find_mpirun(),
    )


def _rank_failure(job: ScriptJob, returncode: int, tail: Sequence[str], hosts: Sequence[str]) -> TrainingError:
    found = find_user_exception(tail)
    if found is None:
        return DistributedFailure(describe_mpirun_failure(returncode, tail, hosts), returncode or 1)
    return user_failure(job, returncode, tail, found.rank)


def run_parameter_server(job: ScriptJob, code_dir: Path, kind: str, topology: Topology) -> int:
    """The TF toolkit's layout: a ps server on every host, the program as `master` (first host) or `worker`.

    Each worker is connected to the master while its program runs and reports how it ended: a failing worker ends
    the master's program at once (the job fails in seconds, naming the worker's exception), a lost host likewise.
    Workers keep their ps server up after their program ends, until the master reports the job's result.
    """
    hosts, host = topology.hosts, topology.current_host
    ps_config = json.dumps(toolkit_parameter_server_tf_config(hosts, host, ps_task=True))
    server = subprocess.Popen(
        [sys.executable, *PS_SERVER_PROGRAM], env={**job.environ, "TF_CONFIG": ps_config}, stdin=subprocess.DEVNULL
    )
    env = {"TF_CONFIG": json.dumps(toolkit_parameter_server_tf_config(hosts, host))}
    try:
        if topology.is_master:
            return _lead_parameter_server(job, code_dir, kind, topology, env)
        link = MasterLink(topology.master, host, mpi.WAIT_FOR_HOSTS_SECONDS).start()
        try:
            run_once(job, code_dir, kind, env)
        except TrainingError as exc:
            link.report(exc.exit_code or 1, str(exc).splitlines()[0])
            link.wait(REPORT_SECONDS)  # the master has it (its answer is our own failure echoed)
            raise
        link.report(0)
        returncode, reason = link.wait()
        if returncode != 0:
            raise DistributedFailure(reason, returncode)
        print(f"worker {host}: master finished successfully", flush=True)
        return 0
    finally:
        stop_child(server, STOP_GRACE_SECONDS)


def _lead_parameter_server(job: ScriptJob, code_dir: Path, kind: str, topology: Topology, env) -> int:
    coordinator = MasterCoordinator(topology.workers, on_lost=lambda reason: None)
    coordinator.start()
    try:
        run_once(job, code_dir, kind, env, coordinator)
        failure = coordinator.wait_for_reports(mpi.WAIT_FOR_HOSTS_SECONDS)  # every worker's program ended
        if failure is not None:
            raise DistributedFailure(failure)
    except TrainingError as exc:
        coordinator.finish(exc.exit_code or 1, str(exc).splitlines()[0])
        raise
    coordinator.finish(0)
    return 0
