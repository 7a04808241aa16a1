"""stop_child: the one way launchers end their helper processes (sshd, ps/worker servers)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from train_container.distributed.children import stop_child


def test_a_child_that_obeys_sigterm_ends_by_it():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_child(child, grace_seconds=10)
    assert child.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace():
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    started = time.monotonic()
    stop_child(child, grace_seconds=0.5)
    assert child.returncode == -signal.SIGKILL and time.monotonic() - started < 10


def test_a_finished_child_is_left_alone():
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    child.wait()
    stop_child(child)
    assert child.returncode == 3
