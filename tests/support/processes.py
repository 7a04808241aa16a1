"""Real-process helpers for integration tests: free ports, bounded waits, the TF Serving stand-in.

A failed wait raises ProcessFailed carrying the tail of the process's log, so a broken server explains
itself in the pytest report instead of timing out silently.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN_DIR = REPO_ROOT / "docker" / "local" / "tfs_standin"
STANDIN_SERVER = STANDIN_DIR / "server.py"
STANDIN_BIN_DIR = STANDIN_DIR / "bin"

LOG_TAIL_CHARS = 6000
STOP_GRACE_SECONDS = 15.0
PORT_TIMEOUT_SECONDS = 60.0
MODEL_TIMEOUT_SECONDS = 120.0


class ProcessFailed(AssertionError):
    """A managed process died or never became ready; the message ends with its log tail."""


# Ports for the servers tests start: below the kernel's ephemeral range (32768+ here), where every outgoing
# connection takes its local port, clear of the fixed ports our images bind (2222-2224, 8080, 8500/8501, 8890,
# 29800), and a slice of their own per xdist worker. Not bind(0): the OS picks from the ephemeral range and frees
# the port at once, so the other worker could pick it too before our server binds it. Both happened under two
# workers: a frozen-TF-Serving test answered by the other worker's TF Serving on the same port, an MWMS pair hung.
TEST_PORTS = range(12000, 20000)
_cursor: list[int] = []  # this process's next offset in its slice (random start: child processes pick too)


def worker_ports() -> range:
    """This xdist worker's slice of TEST_PORTS (all of it without xdist)."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    usable = range(TEST_PORTS.start, min(TEST_PORTS.stop, ephemeral_low))
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = len(usable) // max(1, count)
    return range(usable.start + index * size, usable.start + (index + 1) * size)


def free_port_block(count: int) -> int:
    """The first of `count` consecutive TCP ports free right now, from this worker's slice, taken in turn."""
    ports = worker_ports()
    if not _cursor:
        _cursor.append(random.randrange(len(ports)))
    for _ in range(len(ports)):
        base = ports.start + _cursor[0] % (len(ports) - count + 1)
        _cursor[0] += count
        if all(_bindable(base + offset) for offset in range(count)):
            return base
    raise AssertionError(f"no {count} consecutive free ports in {ports.start}-{ports.stop - 1}")


def free_port() -> int:
    """A TCP port free right now, for a server a test is about to start (see TEST_PORTS)."""
    return free_port_block(1)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def quiet_tf_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child that imports TensorFlow: quiet logs, legacy Keras, no GPU probing."""
    env = dict(os.environ if base is None else base)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def standin_path_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment where `tensorflow_model_server` on PATH is the stand-in, run by this interpreter."""
    env = quiet_tf_env(base)
    env["PATH"] = f"{STANDIN_BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["TFS_STANDIN_PYTHON"] = sys.executable
    return env


class ManagedProcess:
    """A child process whose stdout+stderr go to a log file; see `run_process`."""

    def __init__(self, args: Sequence[str], proc: subprocess.Popen, log_path: Path):
        self.args = list(args)
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def fail(self, reason: str) -> ProcessFailed:
        tail = self.log()[-LOG_TAIL_CHARS:]
        return ProcessFailed(
            f"{reason}\ncommand: {' '.join(map(str, self.args))}\nexit code: {self.proc.poll()}\n"
            f"--- log tail ({self.log_path}) ---\n{tail}"
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
        """Poll `predicate` until true; raise ProcessFailed if the process exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            if not self.alive():
                raise self.fail(f"process exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise self.fail(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def wait_for_port(self, port: int, timeout: float = PORT_TIMEOUT_SECONDS) -> None:
        self.wait_for(lambda: port_is_open(port), timeout, f"TCP port {port}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.fail(f"process still running after {timeout:.0f}s") from None

    def stop(self, sig: int = signal.SIGTERM, grace: float = STOP_GRACE_SECONDS) -> int:
        """Send `sig`, wait `grace` seconds, then SIGKILL. Returns the exit code. Idempotent."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_process(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    log_path: str | os.PathLike | None = None,
) -> ManagedProcess:
    """Start `args` with output to `log_path` (a fresh temp file by default). Caller must stop() it."""
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="proc-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(a) for a in args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    return ManagedProcess(args, proc, log_path)


@contextlib.contextmanager
def run_process(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    log_path: str | os.PathLike | None = None,
) -> Iterator[ManagedProcess]:
    """Context-managed `start_process`: the process is stopped (SIGTERM, then SIGKILL) on exit."""
    managed = start_process(args, env=env, cwd=cwd, log_path=log_path)
    try:
        yield managed
    finally:
        managed.stop()


class TfsStandin(ManagedProcess):
    """The TF Serving stand-in server on 127.0.0.1:`port` (gRPC)."""

    def __init__(self, managed: ManagedProcess, port: int):
        super().__init__(managed.args, managed.proc, managed.log_path)
        self.port = port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_model_available(self, name: str = "model", timeout: float = MODEL_TIMEOUT_SECONDS) -> int:
        return wait_model_available(self.port, name, timeout, process=self)


def standin_command(
    port: int,
    model_base_path: str | os.PathLike | None = None,
    model_name: str = "model",
    extra_args: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    cmd = [python or sys.executable, str(STANDIN_SERVER), f"--port={port}"]
    if model_base_path is not None:
        cmd += [f"--model_name={model_name}", f"--model_base_path={model_base_path}"]
    return cmd + list(extra_args)


def start_tfs_standin(
    model_base_path: str | os.PathLike | None,
    model_name: str = "model",
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    wait_available: bool = False,
    timeout: float = MODEL_TIMEOUT_SECONDS,
) -> TfsStandin:
    """Start the stand-in and wait until its gRPC port accepts connections (and the model, if asked).

    As with the real binary, the port opens once the configured models are loaded, so an open port
    already means AVAILABLE (unless TFS_STANDIN_TEST_SERVE_WHILE_LOADING=1 is in `env`).

    Pass model_base_path=None with `--model_config_file=...` in extra_args for several models.
    The caller must stop() the handle (or use it as a context manager).
    """
    port = port or free_port()
    managed = start_process(standin_command(port, model_base_path, model_name, extra_args), env=quiet_tf_env(env))
    server = TfsStandin(managed, port)
    try:
        # Like the real binary, the stand-in opens its port only after the models have loaded.
        server.wait_for_port(port, timeout=timeout)
        if wait_available:
            server.wait_model_available(model_name, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def model_status(port: int, name: str, version: int | None = None, timeout: float = 5.0):
    """GetModelStatus response (raises grpc.RpcError as the server answers)."""
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=timeout)


def wait_model_available(
    port: int,
    name: str = "model",
    timeout: float = MODEL_TIMEOUT_SECONDS,
    process: ManagedProcess | None = None,
) -> int:
    """Wait until some version of `name` is AVAILABLE; return that version.

    Fails fast when the server reports END with an error (a load failure) or the process dies.
    """
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2

    state = get_model_status_pb2.ModelVersionStatus.State
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            for status in model_status(port, name).model_version_status:
                if status.state == state.AVAILABLE:
                    return status.version
                if status.state == state.END and status.status.error_code != 0:
                    reason = f"model {name!r} version {status.version} failed to load: {status.status.error_message}"
                    raise process.fail(reason) if process else ProcessFailed(reason)
                last = f"version {status.version} is {state.Name(status.state)}"
        except grpc.RpcError as err:
            last = f"{err.code().name}: {err.details()}"
        if process is not None and not process.alive():
            raise process.fail(f"server exited while waiting for model {name!r} ({last})")
        if time.monotonic() > deadline:
            reason = f"model {name!r} not AVAILABLE after {timeout:.0f}s ({last})"
            raise process.fail(reason) if process else ProcessFailed(reason)
        time.sleep(0.2)
