"""sshd for multi-host MPI: start it here, and wait until every worker's sshd answers."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from train_container.errors import TrainingError

SSHD = Path("/usr/sbin/sshd")
SSH_PORT = 22
PRIVSEP_DIR = Path("/run/sshd")


def start_sshd(sshd: Path = SSHD) -> subprocess.Popen:
    """sshd in the foreground as our child (-D), logging to our stderr (-e) so auth problems show up."""
    if not sshd.exists():
        raise TrainingError(
            f"{sshd} not found: multi-host Horovod needs openssh-server in the image "
            "(docker/config/train_setup.sh sets it up)"
        )
    # Privilege separation dir: on some runtimes /run is a fresh tmpfs, losing the one made at build.
    PRIVSEP_DIR.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(sshd), "-D", "-e"], stdin=subprocess.DEVNULL)


def sshd_answers(host: str, port: int = SSH_PORT, timeout: float = 2.0) -> bool:
    """True when something on host:port speaks SSH (sends the `SSH-` banner), not merely accepts TCP."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_sshd(
    hosts: Sequence[str],
    deadline_seconds: float,
    port: int = SSH_PORT,
    interval: float = 1.0,
    probe: Callable[[str, int], bool] = sshd_answers,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Block until each host's sshd answers; raise naming the first host still silent at the deadline."""
    deadline = clock() + deadline_seconds
    for host in hosts:
        while not probe(host, port):
            if clock() >= deadline:
                raise TrainingError(
                    f"worker {host}: sshd on port {port} did not answer within {deadline_seconds:.0f} s"
                )
            sleep(interval)
        print(f"worker {host}: sshd is up", flush=True)
