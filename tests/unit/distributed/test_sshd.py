import socket
import threading

import pytest

from train_container.distributed.sshd import sshd_answers, wait_for_sshd
from train_container.errors import TrainingError


def serve_once(banner: bytes):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.sendall(banner)

    threading.Thread(target=answer, daemon=True).start()
    return server


def test_banner_means_sshd_answers():
    with serve_once(b"SSH-2.0-OpenSSH_9.2\r\n") as server:
        assert sshd_answers("127.0.0.1", server.getsockname()[1])


def test_other_service_on_the_port_is_not_sshd():
    with serve_once(b"HTTP/1.1 400 Bad Request\r\n") as server:
        assert not sshd_answers("127.0.0.1", server.getsockname()[1])


def test_closed_port_and_unknown_host_do_not_answer(free_port):
    assert not sshd_answers("127.0.0.1", free_port)
    assert not sshd_answers("no-such-host.invalid", 22)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_waits_for_each_worker_until_it_answers():
    clock = FakeClock()
    answers = {"algo-2": iter([False, False, True]), "algo-3": iter([True])}
    wait_for_sshd(
        ["algo-2", "algo-3"], 60, probe=lambda host, port: next(answers[host]), clock=clock, sleep=clock.sleep
    )
    assert clock.now == 2.0


def test_deadline_names_the_silent_host():
    clock = FakeClock()
    with pytest.raises(TrainingError, match="worker algo-3: sshd on port 22 did not answer within 30 s"):
        wait_for_sshd(
            ["algo-2", "algo-3"], 30, probe=lambda host, _: host == "algo-2", clock=clock, sleep=clock.sleep
        )
