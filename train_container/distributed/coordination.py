"""Master/worker heartbeat channel for multi-host jobs: workers learn the job's result, the master learns
when a host vanished.

Why a channel rather than watching `orted` like the SageMaker toolkit: a worker that only watches its
local orted cannot tell success from failure, and nobody notices a host whose container disappeared until
TCP times out minutes later. Here each worker holds one connection to the master; both ends send a beat
every second. The master ends the job with `done <code> <reason>`; a silence longer than the limit is a
lost host (master side: abort mpirun, naming it) or a lost master (worker side: fail). A worker that runs a program
of its own (script mode's parameter-server layout) sends `report <code> <reason>` when it ends: a failure there ends
the master's job at once, naming the worker's cause, instead of the master waiting for a host that will never finish.

Messages are raw bytes over `multiprocessing.connection` (its HMAC handshake keeps strangers out; nothing
is unpickled).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import Client, Connection, Listener

from train_container.errors import TrainingError

PORT = 29800
HEARTBEAT_SECONDS = 1.0
SILENCE_LIMIT_SECONDS = 15.0
AUTHKEY = b"byoc-tensorflow-train/coordination/v1"


def encode_done(code: int, reason: str) -> bytes:
    return f"done {code} {reason}".encode()


def encode_report(code: int, reason: str) -> bytes:
    return f"report {code} {reason}".encode()


def decode_done(message: bytes) -> tuple[int, str] | None:
    return _decode(b"done ", message)


def decode_report(message: bytes) -> tuple[int, str] | None:
    return _decode(b"report ", message)


def _decode(prefix: bytes, message: bytes) -> tuple[int, str] | None:
    if not message.startswith(prefix):
        return None
    _, code, *reason = message.decode(errors="replace").split(" ", 2)
    return int(code), (reason[0] if reason else "")


class MasterCoordinator:
    """Runs on the master: accepts one connection per worker host and keeps beating until `finish`."""

    def __init__(
        self,
        workers: Iterable[str],
        on_lost: Callable[[str], None],
        port: int = PORT,
        heartbeat: float = HEARTBEAT_SECONDS,
        silence_limit: float = SILENCE_LIMIT_SECONDS,
    ):
        self._workers = frozenset(workers)
        self.on_lost = on_lost
        self._port = port
        self._heartbeat = heartbeat
        self._silence_limit = silence_limit
        self._registered: set[str] = set()
        self._reported: set[str] = set()
        self._cond = threading.Condition()
        self._done: bytes | None = None
        self._lost_reported = False
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self.lost_reason: str | None = None

    def start(self) -> None:
        self._listener = Listener(("0.0.0.0", self._port), authkey=AUTHKEY)
        threading.Thread(target=self._accept_loop, name="coordinator-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except Exception:
                # A stranger failing the handshake must not stop the job; only finish() closing does.
                if self._closed.is_set():
                    return
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), name="coordinator-peer", daemon=True)
            self._threads.append(thread)
            thread.start()

    def wait_for_workers(self, deadline_seconds: float) -> None:
        with self._cond:
            ready = self._cond.wait_for(lambda: self._registered >= self._workers, deadline_seconds)
            if not ready:
                missing = ", ".join(sorted(self._workers - self._registered))
                raise TrainingError(
                    f"worker(s) {missing} did not contact the master on port {self._port} within "
                    f"{deadline_seconds:.0f} s (container not started, or not running this image's `train`)"
                )

    def wait_for_reports(self, deadline_seconds: float) -> str | None:
        """Every worker registered (within the deadline) and reported its program's end: None, or why the job
        failed (a worker's failure or a lost host). Workers still running keep beating, so this waits for them."""
        self.wait_for_workers(deadline_seconds)
        with self._cond:
            self._cond.wait_for(lambda: self._reported >= self._workers or self.lost_reason is not None)
            return self.lost_reason

    def _lost(self, host: str, why: str) -> None:
        self._end_job(f"host {host} stopped answering ({why})")

    def _end_job(self, reason: str) -> None:
        with self._cond:
            if self._done is not None or self._lost_reported:
                return
            self._lost_reported = True
            self.lost_reason = reason
            self._cond.notify_all()
        self.on_lost(self.lost_reason)

    def _report(self, host: str, message: bytes) -> None:
        report = decode_report(message)
        if report is None:
            return
        with self._cond:
            self._reported.add(host)
            self._cond.notify_all()
        if report[0] != 0:
            self._end_job(f"host {host} failed: {report[1]}")

    def _serve(self, conn: Connection) -> None:
        with conn:
            if not conn.poll(10):
                return
            try:
                hello = conn.recv_bytes().decode(errors="replace")
            except (EOFError, OSError):
                return
            host = hello.removeprefix("hello ")
            if not hello.startswith("hello ") or host not in self._workers:
                return
            with self._cond:
                self._registered.add(host)
                self._cond.notify_all()
            last_seen = last_sent = time.monotonic()
            while True:
                with self._cond:
                    done = self._done
                try:
                    if done is not None:
                        conn.send_bytes(done)
                        return
                    if conn.poll(self._heartbeat / 2):
                        self._report(host, conn.recv_bytes())
                        last_seen = time.monotonic()
                    now = time.monotonic()
                    if now - last_sent >= self._heartbeat:
                        conn.send_bytes(b"beat")
                        last_sent = now
                except (EOFError, OSError) as exc:
                    self._lost(host, f"connection closed: {type(exc).__name__}")
                    return
                if now - last_seen > self._silence_limit:
                    self._lost(host, f"no heartbeat for {self._silence_limit:.0f} s")
                    return

    def finish(self, code: int, reason: str = "") -> None:
        """Tell every worker the result, then stop listening."""
        with self._cond:
            self._done = encode_done(code, reason[:900])
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._closed.set()
        self._listener.close()


def follow_master(
    master: str,
    host: str,
    connect_deadline: float,
    port: int = PORT,
    heartbeat: float = HEARTBEAT_SECONDS,
    silence_limit: float = SILENCE_LIMIT_SECONDS,
    outgoing: Callable[[], bytes | None] = lambda: None,
) -> tuple[int, str]:
    """Runs on a worker: block until the master reports `(exit code, reason)`; a lost master is a failure.
    `outgoing` is polled every beat for a message to send the master (MasterLink's report)."""
    give_up = time.monotonic() + connect_deadline
    while True:
        try:
            conn = Client((master, port), authkey=AUTHKEY)
            break
        except OSError as exc:
            if time.monotonic() >= give_up:
                return 1, f"could not reach master {master}:{port} within {connect_deadline:.0f} s: {exc}"
            time.sleep(1)
    with conn:
        try:
            conn.send_bytes(f"hello {host}".encode())
            last_seen = last_sent = time.monotonic()
            while True:
                if conn.poll(heartbeat / 2):
                    message = conn.recv_bytes()
                    last_seen = time.monotonic()
                    done = decode_done(message)
                    if done is not None:
                        code, reason = done
                        return code, (f"master {master} reported: {reason}" if code else reason)
                now = time.monotonic()
                message = outgoing()
                if message is not None:
                    conn.send_bytes(message)
                if now - last_sent >= heartbeat:
                    conn.send_bytes(b"beat")
                    last_sent = now
                if now - last_seen > silence_limit:
                    return 1, f"master {master} stopped answering (no heartbeat for {silence_limit:.0f} s)"
        except (EOFError, OSError) as exc:
            return 1, f"master {master} closed the connection without a result ({type(exc).__name__})"


class MasterLink:
    """A worker that runs a program itself: connected to the master (in a thread) while the program runs, so
    `report` reaches the master the moment the program ends, and `wait` returns the master's result."""

    def __init__(self, master: str, host: str, connect_deadline: float, **options):
        self._args = (master, host, connect_deadline)
        self._options = options
        self._lock = threading.Lock()
        self._pending: bytes | None = None
        self._result: tuple[int, str] | None = None
        self._finished = threading.Event()

    def start(self) -> MasterLink:
        threading.Thread(target=self._follow, name="master-link", daemon=True).start()
        return self

    def _follow(self) -> None:
        self._result = follow_master(*self._args, outgoing=self._take, **self._options)
        self._finished.set()

    def _take(self) -> bytes | None:
        with self._lock:
            message, self._pending = self._pending, None
        return message

    def report(self, code: int, reason: str = "") -> None:
        with self._lock:
            self._pending = encode_report(code, reason[:900])

    def wait(self, timeout: float | None = None) -> tuple[int, str]:
        if not self._finished.wait(timeout):
            return 1, f"no result from master {self._args[0]} within {timeout:.0f} s"
        assert self._result is not None
        return self._result
