"""`make smoke`: docker-compose train -> serve -> client, and proof that the client fails on a wrong label."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
COMPOSE = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def _compose(project: str, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = [*COMPOSE, "-p", project, "-f", str(REPO / "docker-compose.yml"), *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_smoke_passes_and_its_client_fails_on_a_wrong_expected_label(train_image, serve_image, tmp_path):
    env = {**os.environ, "BYOC_TRAIN_IMAGE": train_image, "BYOC_SERVE_IMAGE": serve_image,
           "SMOKE_DIR": str(tmp_path / "smoke")}  # fmt: skip
    done = subprocess.run(["bash", "dev/smoke.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "smoke: OK" in done.stdout
    assert (tmp_path / "smoke" / "opt_ml" / "model" / "1" / "saved_model.pb").is_file()

    # The same served model, but one expected label is wrong: the client must exit non-zero and name the file.
    tampered = tmp_path / "tampered"
    shutil.copytree(tmp_path / "smoke" / "samples", tampered)
    expected = json.loads((tampered / "expected.json").read_text())
    victim = sorted(expected["files"])[0]
    expected["files"][victim] = (expected["files"][victim] + 1) % len(expected["class_names"])
    (tampered / "expected.json").write_text(json.dumps(expected))

    project = "byoc-smoke-negative"
    try:
        up = _compose(project, env, "up", "-d", "serve")
        assert up.returncode == 0, up.stderr
        # A path of its own: a second volume on the service's /samples would race the service's mount.
        run = _compose(project, env, "run", "--rm", "-v", f"{tampered}:/tampered:ro", "smoke",
                       "--url", "http://serve:8080", "--samples", "/tampered", "--min-accuracy", "1.0")  # fmt: skip
    finally:
        _compose(project, env, "down", "--remove-orphans", "--timeout", "30")
    assert run.returncode != 0, run.stdout + run.stderr
    assert f"{victim} (expected" in run.stderr, run.stdout + run.stderr
