"""Run mpirun as a child: stream its output, forward SIGTERM, and abort it when a host is lost.

mpirun is a child rather than exec'd so the launcher can still write `output/failure` naming the dead
rank, and can kill the job itself when a whole host vanishes (mpirun alone may wait minutes for TCP
to time out on a container that disappeared).
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

# mpirun sends SIGTERM to every rank itself, then SIGKILL after a few seconds; give it that long.
TERMINATE_GRACE_SECONDS = 15
TAIL_LINES = 400


@dataclass(frozen=True)
class MpirunResult:
    returncode: int
    tail: tuple[str, ...]
    abort_reason: str | None


class MpirunProcess:
    def __init__(self, command: Sequence[str]):
        self._command = list(command)
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._abort_reason: str | None = None
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        print("+ " + " ".join(self._command), flush=True)
        # Own process group: a hard kill can then reach the local ranks mpirun forked.
        self._process = subprocess.Popen(
            self._command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._pump, name="mpirun-output", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            self._tail.append(line.rstrip("\n"))

    def terminate(self) -> None:
        """SIGTERM to mpirun, which relays it to every rank on every host."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def abort(self, reason: str) -> None:
        """Stop the job because of something mpirun cannot see (a lost host); escalate to SIGKILL."""
        with self._lock:
            if self._abort_reason is not None:
                return
            self._abort_reason = reason
        print(f"aborting mpirun: {reason}", file=sys.stderr, flush=True)
        self.terminate()
        threading.Thread(target=self._kill_after_grace, name="mpirun-kill", daemon=True).start()

    def _kill_after_grace(self) -> None:
        assert self._process is not None
        try:
            self._process.wait(TERMINATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)

    def wait(self) -> MpirunResult:
        assert self._process is not None
        returncode = self._process.wait()
        self._reader.join(timeout=5)
        if returncode < 0:
            returncode = 128 - returncode
        return MpirunResult(returncode, tuple(self._tail), self._abort_reason)


class ForwardSignals:
    """While active, SIGTERM/SIGINT to the launcher terminate mpirun (and so every rank) instead of us."""

    def __init__(self, process: MpirunProcess):
        self._process = process
        self._previous: dict[int, object] = {}
        self.received: str | None = None

    def _handle(self, signum, frame) -> None:
        print(f"launcher got signal {signum}: stopping every rank", file=sys.stderr, flush=True)
        self.received = signal.Signals(signum).name
        self._process.terminate()

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False
