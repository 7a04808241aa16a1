"""The serving image run as SageMaker runs it (`docker run IMAGE serve`), with handles for fault injection."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.docker import docker

PING_DEADLINE_SECONDS = 240


def readable_model_dir(parent: Path) -> Path:
    """A real image classifier under <parent>/model, readable by any uid (the image may run as non-root)."""
    from tests.support import models

    model_dir = parent / "model"
    models.export_image_classifier(model_dir, version=1)
    subprocess.run(["chmod", "-R", "a+rX", str(model_dir)], check=True)
    return model_dir


class ServingContainer:
    def __init__(self, image: str, model_dir: Path, docker_args: tuple[str, ...] = (), env: dict | None = None):
        args = ["run", "-d", "-p", "127.0.0.1::8080", "-v", f"{model_dir}:/opt/ml/model:ro", *docker_args]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        self.id = docker(*args, image, "serve")
        port = docker("port", self.id, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        self.url = f"http://127.0.0.1:{port}"
        self.port = int(port)

    def ping(self) -> int:
        try:
            return requests.get(f"{self.url}/ping", timeout=5).status_code
        except requests.ConnectionError:
            return 0

    def running(self) -> bool:
        return docker("inspect", "--format", "{{.State.Running}}", self.id, check=False) == "true"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + PING_DEADLINE_SECONDS
        while self.ping() != 200:
            if not self.running() or time.monotonic() > deadline:
                pytest.fail(f"serving container never became healthy:\n{self.logs()[-5000:]}", pytrace=False)
            time.sleep(1)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.id], capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    def processes(self) -> list[dict]:
        """Host-side view of the container's processes: pid, rss (KiB), numeric uid, command."""
        out = docker("top", self.id, "-eo", "pid,rss,uid,args")
        rows = []
        for line in out.splitlines()[1:]:
            pid, rss, uid, args = line.split(None, 3)
            rows.append({"pid": int(pid), "rss_kib": int(rss), "uid": int(uid), "args": args})
        return rows

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.id], capture_output=True, check=False)
