"""Master/worker channel over real localhost sockets; a vanished peer is a SIGKILLed or SIGSTOPped process."""

import signal
import subprocess
import sys
import threading
import time

import pytest

from train_container.distributed.coordination import (
    MasterCoordinator,
    MasterLink,
    decode_done,
    encode_done,
    follow_master,
)
from train_container.errors import TrainingError

FAST = {"heartbeat": 0.2, "silence_limit": 2.0}


def follow_in_thread(port, host="algo-2", deadline=10.0):
    result = {}

    def follow():
        result["value"] = follow_master("127.0.0.1", host, deadline, port=port, **FAST)

    thread = threading.Thread(target=follow)
    thread.start()
    return thread, result


def spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_done_message_round_trip():
    assert decode_done(encode_done(3, "rank 1 died: x y")) == (3, "rank 1 died: x y")
    assert decode_done(b"beat") is None


@pytest.mark.parametrize(("code", "reason", "expected"), [
    (0, "", (0, "")),
    (3, "rank 1 died", (3, "master 127.0.0.1 reported: rank 1 died")),
])
def test_worker_learns_the_master_result(free_port, code, reason, expected):
    master = MasterCoordinator(["algo-2"], on_lost=lambda why: None, port=free_port, **FAST)
    master.start()
    thread, result = follow_in_thread(free_port)
    master.wait_for_workers(10)
    time.sleep(1)  # a few heartbeats in both directions before the end
    master.finish(code, reason)
    thread.join(10)
    assert result["value"] == expected


def test_master_names_workers_that_never_came(free_port):
    master = MasterCoordinator(["algo-2", "algo-3"], on_lost=lambda why: None, port=free_port, **FAST)
    master.start()
    thread, _ = follow_in_thread(free_port, host="algo-2")
    with pytest.raises(TrainingError, match=r"worker\(s\) algo-3 did not contact the master"):
        master.wait_for_workers(1.5)
    master.finish(1, "gave up")
    thread.join(10)


def test_worker_gives_up_when_no_master(free_port):
    code, reason = follow_master("127.0.0.1", "algo-2", 1.5, port=free_port, **FAST)
    assert code == 1
    assert f"could not reach master 127.0.0.1:{free_port}" in reason


MASTER_PROCESS = """
import time
from train_container.distributed.coordination import MasterCoordinator
m = MasterCoordinator(["algo-2"], on_lost=print, port={port}, heartbeat=0.2, silence_limit=2.0)
m.start()
m.wait_for_workers(20)
print("registered", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(("signum", "expected"), [
    (signal.SIGKILL, "closed the connection without a result"),
    # SIGSTOP keeps the socket open but silent, like a host whose network vanished.
    (signal.SIGSTOP, "stopped answering (no heartbeat for 2 s)"),
])
def test_worker_fails_when_the_master_vanishes(free_port, signum, expected):
    master = spawn(MASTER_PROCESS.format(port=free_port))
    try:
        thread, result = follow_in_thread(free_port, deadline=30)
        time.sleep(3)
        master.send_signal(signum)
        started = time.monotonic()
        thread.join(20)
        assert result["value"][0] == 1
        assert expected in result["value"][1]
        assert time.monotonic() - started < 10
    finally:
        master.kill()
        master.wait()


WORKER_PROCESS = """
from train_container.distributed.coordination import follow_master
print(follow_master("127.0.0.1", "algo-2", 20, port={port}, heartbeat=0.2, silence_limit=2.0))
"""


@pytest.mark.parametrize(("signum", "expected"), [
    (signal.SIGKILL, "host algo-2 stopped answering (connection closed"),
    (signal.SIGSTOP, "host algo-2 stopped answering (no heartbeat for 2 s)"),
])
def test_master_hears_when_a_worker_vanishes(free_port, signum, expected):
    lost = []
    master = MasterCoordinator(["algo-2"], on_lost=lost.append, port=free_port, **FAST)
    master.start()
    worker = spawn(WORKER_PROCESS.format(port=free_port))
    try:
        master.wait_for_workers(20)
        worker.send_signal(signum)
        give_up = time.monotonic() + 10
        while not lost and time.monotonic() < give_up:
            time.sleep(0.1)
        assert len(lost) == 1
        assert lost[0].startswith(expected)
        assert master.lost_reason == lost[0]
    finally:
        worker.kill()
        worker.wait()
        master.finish(1, "lost")


def test_a_workers_failure_report_ends_the_masters_job_at_once(free_port):
    ended = []
    master = MasterCoordinator(["algo-2", "algo-3"], on_lost=ended.append, port=free_port, **FAST)
    master.start()
    links = {host: MasterLink("127.0.0.1", host, 10, port=free_port, **FAST).start() for host in ("algo-2", "algo-3")}
    master.wait_for_workers(10)
    started = time.monotonic()
    links["algo-3"].report(1, "train.py failed: ValueError: empty shard")
    # algo-2 is still running its program: the master does not wait for it to learn that the job failed.
    assert master.wait_for_reports(10) == "host algo-3 failed: train.py failed: ValueError: empty shard"
    assert time.monotonic() - started < 3 and ended == [master.lost_reason]
    master.finish(1, master.lost_reason)
    assert links["algo-2"].wait(10) == (1, "master 127.0.0.1 reported: host algo-3 failed: train.py failed: "
                                           "ValueError: empty shard")  # fmt: skip


def test_the_master_waits_for_every_workers_success_report(free_port):
    master = MasterCoordinator(["algo-2"], on_lost=lambda why: None, port=free_port, **FAST)
    master.start()
    link = MasterLink("127.0.0.1", "algo-2", 10, port=free_port, **FAST).start()
    waiting = threading.Thread(target=lambda: master.wait_for_reports(10))
    waiting.start()
    time.sleep(1)
    assert waiting.is_alive()  # registered, program still running
    link.report(0)
    waiting.join(5)
    assert not waiting.is_alive() and master.lost_reason is None
    master.finish(0)
    assert link.wait(10) == (0, "")


def test_a_worker_link_without_a_master_gives_up_after_its_deadline(free_port):
    link = MasterLink("127.0.0.1", "algo-2", 1.5, port=free_port, **FAST).start()
    code, reason = link.wait(10)
    assert code == 1 and f"could not reach master 127.0.0.1:{free_port}" in reason
