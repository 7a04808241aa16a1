"""Which host leads, and how many processes each host runs: the cluster shape every launcher agrees on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from train_container.errors import ConfigError


@dataclass(frozen=True)
class Topology:
    """Hosts in SageMaker's sorted order (`algo-1`, `algo-2`, ...) and the processes to start on each."""

    hosts: tuple[str, ...]
    current_host: str
    processes_per_host: int

    @property
    def master(self) -> str:
        # Every host sorts the same list, so all agree on the leader without talking to each other.
        return self.hosts[0]

    @property
    def is_master(self) -> bool:
        return self.current_host == self.master

    @property
    def is_multi_host(self) -> bool:
        return len(self.hosts) > 1

    @property
    def workers(self) -> tuple[str, ...]:
        return self.hosts[1:]

    @property
    def world_size(self) -> int:
        return len(self.hosts) * self.processes_per_host


def _host_sort_key(host: str) -> tuple:
    # Natural order, so algo-10 comes after algo-9 (plain string order would put it after algo-1).
    prefix, _, number = host.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (host, -1)


def build_topology(hosts: Sequence[str], current_host: str, processes_per_host: int) -> Topology:
    """Validate what resourceconfig.json and the hyperparameters say; fail with the offending value."""
    if not hosts:
        raise ConfigError("resourceconfig.json lists no hosts")
    if len(set(hosts)) != len(hosts):
        raise ConfigError(f"resourceconfig.json lists a host twice: {list(hosts)}")
    if current_host not in hosts:
        raise ConfigError(f"current_host {current_host!r} is not in hosts {list(hosts)}")
    if processes_per_host < 1:
        raise ConfigError(f"processes_per_host must be >= 1, got {processes_per_host}")
    return Topology(tuple(sorted(hosts, key=_host_sort_key)), current_host, processes_per_host)
