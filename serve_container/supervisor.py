"""`serve`: run TF Serving and gunicorn, keep TF Serving alive, drain both on SIGTERM (PID 1 friendly).

SageMaker runs `docker run IMAGE serve` and sends SIGTERM, then SIGKILL 30 s later; extra arguments are
ignored, as the DLC does.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from serve_container.commands import batching_parameters_text, gunicorn_command, tfs_command
from serve_container.contract import Settings, child_environment, gunicorn_environment, load_settings
from serve_container.errors import CatalogError, SettingsError, StartupError
from serve_container.model_catalog import (
    CONFIG_FILE,
    Registry,
    StaticCatalog,
    model_config_text,
    write_atomic,
)

log = logging.getLogger("serve_container.supervisor")
TFS_STOP_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0
POLL_SECONDS = 0.2
# A TF Serving that stayed up this long before dying is not crash-looping: its restart count starts over.
STABLE_SECONDS = 60.0


def backoff_seconds(restarts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** max(0, restarts - 1))


def _stop(proc: subprocess.Popen | None, grace: float, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0fs; killing it", name, grace)
        proc.kill()
        proc.wait()


def reap_orphans(own: set[int]) -> None:
    """As PID 1 we inherit orphaned grandchildren; reap them without stealing our own children's status."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in own:
            return
        os.waitpid(info.si_pid, 0)


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.stopping = threading.Event()
        self.tfs: subprocess.Popen | None = None
        self.tfs_started = 0.0
        self.gunicorn: subprocess.Popen | None = None
        self.command: list[str] = []
        self.tfs_environment = child_environment(settings)
        self.waited_models: list[str] = []  # multi-model: none, TF Serving starts empty

    def request_stop(self, signum, _frame) -> None:
        log.info("received %s: draining", signal.Signals(signum).name)
        self.stopping.set()

    def _model_config(self) -> Path:
        settings = self.settings
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        if settings.multi_model:
            registry = Registry(settings.run_dir)
            registry.reset()  # SageMaker loads models after /ping; a restarted container starts with none
            log.info("multi-model endpoint: models are loaded through POST /models")
            return registry.config_path
        try:
            catalog = StaticCatalog.from_settings(settings)
        except CatalogError as error:
            raise StartupError(str(error)) from None
        for entry in catalog.entries:
            log.info("model %r versions %s from %s", entry.name, list(entry.versions), entry.base_path)
        log.info("default model: %r", catalog.default)
        self.waited_models = [catalog.default, *(e.name for e in catalog.entries if e.name != catalog.default)]
        return write_atomic(settings.run_dir / CONFIG_FILE, model_config_text(catalog.entries))

    def prepare(self) -> None:
        settings = self.settings
        config = self._model_config()
        self._requirements()
        batching = None
        if settings.enable_batching:
            batching = write_atomic(
                settings.run_dir / "batching_parameters.pbtxt", batching_parameters_text(settings)
            )
        binary = shutil.which(settings.tfs_binary)
        if binary is None:
            raise StartupError(f"{settings.tfs_binary!r} not found on PATH (set BYOC_TFS_BINARY)")
        self.command = tfs_command(settings, config, batching)
        self.command[0] = binary

    def _requirements(self) -> None:
        requirements = self.settings.code_dir / "requirements.txt"
        if not requirements.is_file():
            return
        if not self.settings.install_requirements_at_start:
            log.info(
                "%s is expected to be installed at image build time "
                "(BYOC_INSTALL_REQUIREMENTS_AT_START=false)",
                requirements,
            )
            return
        log.info("installing %s", requirements)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir", "-r", str(requirements)]
        )
        if result.returncode != 0:
            raise StartupError(f"pip install -r {requirements} failed with exit code {result.returncode}")

    def start_tfs(self) -> None:
        log.info("starting TF Serving: %s", " ".join(self.command))
        self.tfs = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, env=self.tfs_environment)
        self.tfs_started = time.monotonic()

    def wait_available(self) -> None:
        from serve_container.tfs_client import TfsClient  # gRPC only once we actually start serving

        client = TfsClient(self.settings.grpc_target, 2.0)
        deadline = time.monotonic() + self.settings.tfs_startup_timeout_seconds
        waiting = list(self.waited_models)
        try:
            while not self.stopping.is_set():
                while waiting:
                    available, load_error = client.model_state(waiting[0], timeout=1.0)
                    if load_error:
                        raise StartupError(
                            f"TF Serving could not load {self.settings.model_dir} (model {waiting[0]!r}): {load_error}"
                        )
                    if not available:
                        break
                    log.info("model %r is AVAILABLE", waiting.pop(0))
                if not waiting and client.server_up(timeout=1.0):
                    return
                if self.tfs.poll() is not None:
                    raise StartupError(
                        f"TF Serving exited with code {self.tfs.returncode} while loading "
                        f"{self.settings.model_dir} (see its log above)"
                    )
                if time.monotonic() > deadline:
                    what = f"model {waiting[0]!r} from {self.settings.model_dir}" if waiting else "TF Serving"
                    raise StartupError(
                        f"{what} not AVAILABLE after "
                        f"{self.settings.tfs_startup_timeout_seconds:.0f}s (BYOC_TFS_STARTUP_TIMEOUT_SECONDS)"
                    )
                time.sleep(POLL_SECONDS)
        finally:
            client.close()

    def start_gunicorn(self) -> None:
        tmp = "/dev/shm" if os.path.isdir("/dev/shm") else None
        command = gunicorn_command(self.settings, sys.executable, tmp)
        log.info("starting gunicorn: %s", " ".join(command))
        self.gunicorn = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=gunicorn_environment(self.settings))

    def monitor(self) -> int:
        restarts = 0
        while not self.stopping.wait(POLL_SECONDS):
            if os.getpid() == 1:
                reap_orphans({p.pid for p in (self.tfs, self.gunicorn) if p is not None})
            if self.gunicorn.poll() is not None:
                log.error("gunicorn exited with code %s", self.gunicorn.returncode)
                return 1
            if self.tfs.poll() is not None:
                if time.monotonic() - self.tfs_started > STABLE_SECONDS:
                    restarts = 0
                restarts += 1
                if restarts > self.settings.tfs_max_restarts:
                    log.error(
                        "TF Serving died %d times (BYOC_TFS_MAX_RESTARTS=%d); giving up",
                        restarts,
                        self.settings.tfs_max_restarts,
                    )
                    return 1
                delay = backoff_seconds(restarts)
                log.warning(
                    "TF Serving exited with code %s; restart %d in %.1fs",
                    self.tfs.returncode,
                    restarts,
                    delay,
                )
                if self.stopping.wait(delay):
                    break
                self.start_tfs()
        return 0

    def shutdown(self) -> None:
        # Order matters: gunicorn stops accepting and drains in-flight requests, which still need TF Serving.
        _stop(self.gunicorn, self.settings.graceful_timeout_seconds + 3, "gunicorn")
        _stop(self.tfs, TFS_STOP_SECONDS, "TF Serving")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            self.prepare()
            self.start_tfs()
            self.wait_available()
            if self.stopping.is_set():
                return 0
            self.start_gunicorn()
            return self.monitor()
        except StartupError as error:
            log.error("%s", error)
            return 1
        finally:
            self.shutdown()
            log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    del argv  # `serve` and anything after it are ignored, as in the DLC
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"serve: invalid configuration: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return Supervisor(settings).run()


if __name__ == "__main__":
    sys.exit(main())
