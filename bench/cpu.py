"""CPU seconds spent by the serving processes (gunicorn workers, TF Serving) and by this process.

Throughput on a shared 2-core machine mixes the server's cost with the load generator's; CPU per request is the
server's own cost, the number that decides capacity on a SageMaker instance where clients are remote.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass

import psutil

TFS_MARKERS = ("tensorflow_model_server", "tfs_standin")  # the real binary, or the local stand-in


def _role(process: psutil.Process) -> str | None:
    command = " ".join(process.cmdline())
    if "gunicorn" in command:
        return "proxy"
    if any(marker in command for marker in TFS_MARKERS):
        return "tfs"
    return None


def tree_cpu_seconds(root_pid: int) -> dict[str, float]:
    """{'proxy': s, 'tfs': s} summed over the root and its descendants (the `serve` supervisor's gunicorn master,
    workers and TF Serving; or a bare gunicorn master and its workers)."""
    totals = {"proxy": 0.0, "tfs": 0.0}
    root = psutil.Process(root_pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            role = _role(process)
            if role:
                times = process.cpu_times()
                totals[role] += times.user + times.system
        except psutil.NoSuchProcess:  # a process that ended mid-walk spent nothing we can still count
            continue
    return totals


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuPerCall:
    proxy_ms: float
    tfs_ms: float

    @property
    def total_ms(self) -> float:
        return self.proxy_ms + self.tfs_ms


def per_call(root_pid: int, calls: int, run: Callable[[], object]) -> CpuPerCall:
    before = tree_cpu_seconds(root_pid)
    run()
    after = tree_cpu_seconds(root_pid)
    return CpuPerCall(*((after[k] - before[k]) * 1000 / calls for k in ("proxy", "tfs")))
