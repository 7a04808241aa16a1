"""The `serve` supervisor (TF Serving stand-in + gunicorn + app) as a real host process, for every tier and bench.

The app runs as in the serving image: its `tensorflow` is a protos-only package (copied `*_pb2.py` files put
first on PYTHONPATH), so a worker that imported the TF runtime would fail here. The stand-in itself needs real
TensorFlow, so its interpreter is wrapped to drop that PYTHONPATH. The fixtures (`slim_protos`,
`standin_python`, `make_served`) are in tests/conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import requests

from tests.support.processes import REPO_ROOT, STANDIN_BIN_DIR, ManagedProcess, free_port, start_process

SERVE_START_TIMEOUT = 180.0


def build_slim_protos(target: Path) -> Path:
    """A `tensorflow` package holding only the generated protobuf modules, like the serving image's."""
    source = Path(importlib.util.find_spec("tensorflow").origin).parent
    for pb2 in source.rglob("*_pb2.py"):
        relative = pb2.relative_to(source)
        if relative.parts[0] not in ("core", "tsl"):
            continue
        destination = target / "tensorflow" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pb2, destination)
    for directory in [target / "tensorflow", *(p for p in (target / "tensorflow").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    return target


def standin_python_wrapper(path: Path) -> Path:
    """An interpreter for the stand-in: this venv's python without the slim-protos PYTHONPATH."""
    path.write_text(f'#!/bin/sh\nunset PYTHONPATH\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return path


def serve_env(slim_protos: Path, standin_python: Path, model_dir: Path, run_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    env.update(
        PATH=f"{STANDIN_BIN_DIR}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{slim_protos}{os.pathsep}{REPO_ROOT}",
        PYTHONUNBUFFERED="1",
        TFS_STANDIN_PYTHON=str(standin_python),
        TF_CPP_MIN_LOG_LEVEL="2",
        SAGEMAKER_BIND_TO_PORT=str(free_port()),
        BYOC_TFS_GRPC_PORT=str(free_port()),
        BYOC_TFS_REST_PORT=str(free_port()),
        BYOC_MODEL_DIR=str(model_dir),
        BYOC_SERVE_RUN_DIR=str(run_dir),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Served:
    """A running `serve` supervisor and its HTTP address."""

    def __init__(self, process: ManagedProcess, env: dict):
        self.process = process
        self.env = env
        self.url = f"http://127.0.0.1:{env['SAGEMAKER_BIND_TO_PORT']}"

    def ping(self) -> int:
        try:
            return requests.get(f"{self.url}/ping", timeout=5).status_code
        except requests.ConnectionError:
            return 0

    def wait_ping(self, status: int = 200, timeout: float = SERVE_START_TIMEOUT) -> None:
        self.process.wait_for(lambda: self.ping() == status, timeout, f"/ping {status}", interval=0.25)

    def invoke(self, body, content_type: str, accept: str | None = None, **headers) -> requests.Response:
        headers = {"Content-Type": content_type, **headers}
        if accept:
            headers["Accept"] = accept
        return requests.post(f"{self.url}/invocations", data=body, headers=headers, timeout=60)


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "serve"
    # The console script is what the image runs; fall back to the module when the project is not installed.
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "serve_container.supervisor", "serve"]


def start_serve(env: dict, log_path: Path | None = None) -> Served:
    return Served(start_process(serve_command(), env=env, cwd=REPO_ROOT, log_path=log_path), env)


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
