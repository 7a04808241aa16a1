"""dev/ensure_docker.sh decisions, driven by fake `docker`/`dockerd`/`pgrep` first on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _run(tmp_path: Path, docker_body: str, dockerd_body: str = "exit 0", wait: str = "3"):
    # A copy of the script under tmp_path: its log goes to tmp_path/build, not the repo's.
    (tmp_path / "dev").mkdir(exist_ok=True)
    shutil.copy(ROOT / "dev" / "ensure_docker.sh", tmp_path / "dev" / "ensure_docker.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _tool(bin_dir, "docker", docker_body)
    _tool(bin_dir, "dockerd", dockerd_body)
    _tool(bin_dir, "pgrep", "exit 1")  # no daemon running, whatever the host has
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "BYOC_DOCKERD_WAIT_SECONDS": wait}
    return subprocess.run(["bash", str(tmp_path / "dev" / "ensure_docker.sh")], capture_output=True, text=True,
                          env=env, timeout=30, check=False)  # fmt: skip


def test_reachable_engine_is_reused(tmp_path):
    result = _run(tmp_path, "exit 0", dockerd_body=f"touch {tmp_path}/started")
    assert result.returncode == 0
    assert result.stdout.strip() == "docker: engine reachable, reusing"
    assert not (tmp_path / "started").exists()


def test_starts_dockerd_and_waits_until_it_answers(tmp_path):
    ready = tmp_path / "ready"
    result = _run(tmp_path, f'[ -f "{ready}" ]', dockerd_body=f'echo daemon up; touch "{ready}"')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "docker: starting dockerd (log: build/dockerd.log)"
    assert lines[-1].startswith("docker: engine ready after ")
    assert "daemon up" in (tmp_path / "build" / "dockerd.log").read_text()


def test_engine_that_never_answers_fails_in_bounded_time_with_its_log(tmp_path):
    result = _run(tmp_path, "exit 1", dockerd_body="echo cannot mount cgroups; exit 1", wait="1")
    assert result.returncode == 1
    assert "docker: engine did not answer within 1s" in result.stderr
    assert "cannot mount cgroups" in result.stderr
