"""free_port_block: TF_CONFIG-style port blocks outside the range the kernel hands out to outgoing sockets."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support import processes
from tests.support.processes import FIXED_BLOCK_PORTS, free_port_block


def test_blocks_are_free_and_below_the_ephemeral_range():
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        base = free_port_block(3)
        assert FIXED_BLOCK_PORTS.start <= base and base + 3 <= min(FIXED_BLOCK_PORTS.stop, ephemeral_low)
        for port in range(base, base + 3):  # each one bindable right now
            with socket.socket() as sock:
                sock.bind(("", port))


def test_a_block_touching_a_taken_port_is_passed_over(monkeypatch):
    taken = socket.socket()
    taken.bind(("", free_port_block(1)))
    taken.listen()
    with taken:
        port = taken.getsockname()[1]
        free = free_port_block(2)
        draws = iter([port - 1, port, free])  # two blocks that contain the taken port, then a free one
        monkeypatch.setattr(processes.random, "randrange", lambda *_: next(draws))
        assert free_port_block(2) == free
