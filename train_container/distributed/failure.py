"""Turn what mpirun printed into a one-line cause naming the rank and host (SageMaker's FailureReason)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from train_container.errors import TrainingError

_SIGNALLED = re.compile(
    r"process rank (?P<rank>\d+) with PID \d+ on node (?P<host>\S+) exited on signal (?P<signal>\d+)"
    r"(?: \((?P<name>[^)]+)\))?"
)
_EXITED = re.compile(r"Process name:\s*\[\[\d+,\d+\],(?P<rank>\d+)\]\s*Exit code:\s*(?P<code>\d+)", re.S)
_LOST_DAEMON = re.compile(r"Remote daemon:\s*\S+ on node (?P<host>\S+)")
_TAGGED = re.compile(r"^\[\d+,(?P<rank>\d+)\]<(?:stdout|stderr)>:(?P<text>.*)$")
_ERROR_LINE = re.compile(r"^(ERROR: |[A-Za-z_.]*(Error|Exception)\b.*: )")
_NO_SSH = re.compile(r"(ssh: .*|Permission denied.*|Host key verification failed.*)")


class DistributedFailure(TrainingError):
    """The job failed on some rank or host; the message names which and why."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _last_words(lines: Sequence[str], rank: str) -> str:
    """The failing rank's last error line (`ERROR: ...` from `train`, or `SomeError: ...`), if it printed one.

    A rank killed by a signal prints nothing: its last log line says nothing about the cause, so none.
    """
    for line in reversed(lines):
        tagged = _TAGGED.match(line)
        if tagged and tagged["rank"] == rank and _ERROR_LINE.match(tagged["text"].strip()):
            return tagged["text"].strip().removeprefix("ERROR: ")
    return ""


def describe_mpirun_failure(returncode: int, lines: Sequence[str], hosts: Sequence[str]) -> str:
    """Headline for a failed mpirun: which rank on which host, and the cause it printed."""
    text = "\n".join(lines)
    signalled = _SIGNALLED.search(text)
    if signalled:
        name = signalled["name"] or f"signal {signalled['signal']}"
        headline = (
            f"Horovod rank {signalled['rank']} on host {signalled['host']} was killed by "
            f"signal {signalled['signal']} ({name})"
        )
        last = _last_words(lines, signalled["rank"])
        return f"{headline}: {last}" if last else headline
    exited = _EXITED.search(text)
    if exited:
        headline = f"Horovod rank {exited['rank']} exited with code {exited['code']}"
        last = _last_words(lines, exited["rank"])
        return f"{headline}: {last}" if last else headline
    lost = _LOST_DAEMON.search(text)
    if lost:
        return f"mpirun lost contact with host {lost['host']} (host died or network failed)"
    no_ssh = _NO_SSH.search(text)
    if no_ssh:
        return f"mpirun could not start ranks over ssh on {', '.join(hosts[1:])}: {no_ssh[1].strip()}"
    tail = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return f"mpirun exited with code {returncode}: {tail}"
