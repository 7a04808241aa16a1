"""Test servers' ports: below the ephemeral range, a slice per xdist worker, a port already taken passed over."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support import processes
from tests.support.processes import TEST_PORTS, free_port, free_port_block, worker_ports


def test_blocks_are_free_and_in_this_workers_slice_below_the_ephemeral_range():
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = worker_ports()
    assert TEST_PORTS.start <= ports.start and ports.stop <= min(TEST_PORTS.stop, ephemeral_low)
    picked = [free_port_block(3) for _ in range(20)] + [free_port() for _ in range(20)]
    assert len(set(picked)) == len(picked), "taken in turn: no port handed out twice in a row of 40"
    for base in picked[:20]:
        assert ports.start <= base and base + 3 <= ports.stop
        for port in range(base, base + 3):  # each one bindable right now
            with socket.socket() as sock:
                sock.bind(("", port))


def test_two_workers_get_disjoint_slices(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    slices = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        slices.append(set(worker_ports()))
    assert slices[0] and slices[1] and not slices[0] & slices[1]


def test_a_block_touching_a_taken_port_is_passed_over(monkeypatch):
    base = free_port_block(4)
    taken = socket.socket()
    taken.bind(("", base + 1))
    taken.listen()
    with taken:
        monkeypatch.setattr(processes, "_cursor", [base - worker_ports().start])  # next: [base, base+1], taken
        assert free_port_block(2) == base + 2
