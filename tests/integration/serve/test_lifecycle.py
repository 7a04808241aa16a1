"""Readiness, TF Serving restarts, SIGTERM drain, hooks and start-up failures, with real processes."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from serve_container.commands import gunicorn_command
from serve_container.contract import load_settings
from tests.support import models
from tests.support.processes import REPO_ROOT, port_is_open, run_process, start_tfs_standin
from tests.support.serving import serve_command, serve_env, wait_until

SLOW_HOOKS = """
import io
import json
import time

import numpy as np
from PIL import Image


def input_handler(data, context):
    # DLC style (seed 004): raw image bytes in, TF Serving REST JSON out.
    if context.custom_attributes and "slow" in context.custom_attributes:
        time.sleep(4)
    pixels = np.asarray(Image.open(io.BytesIO(data.read())).convert("RGB"))
    return json.dumps({"instances": [pixels.tolist()]})


def output_handler(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode())
    body = json.loads(response.content)
    body["argmax"] = int(np.argmax(body["predictions"][0]))
    body["accept"] = context.accept_header
    return json.dumps(body), "application/json"
"""


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hooked_model_dir(image_model_dir, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hooked") / "model"
    shutil.copytree(image_model_dir / "1", base / "1")
    (base / "code").mkdir()
    (base / "code" / "inference.py").write_text(SLOW_HOOKS)
    return base


def tfs_children(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children() if any("server.py" in part for part in p.cmdline())]


def test_ping_is_503_until_the_model_is_available(slim_protos, standin_python, image_model_dir, tmp_path):
    env = serve_env(slim_protos, standin_python, image_model_dir, tmp_path, BYOC_PING_CACHE_SECONDS=0)
    settings = load_settings(env)
    url = f"http://127.0.0.1:{settings.port}"
    with run_process(gunicorn_command(settings, sys.executable), env=env, cwd=REPO_ROOT) as gunicorn:
        gunicorn.wait_for_port(settings.port)
        response = requests.get(f"{url}/ping", timeout=10)
        assert response.status_code == 503 and "not available" in response.json()["error"]
        invoke = requests.post(
            f"{url}/invocations",
            data=png(models.random_images(1)[0]),
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
        assert invoke.status_code == 503 and "UNAVAILABLE" in invoke.json()["error"]
        with start_tfs_standin(image_model_dir, port=settings.tfs_grpc_port):
            assert wait_until(lambda: requests.get(f"{url}/ping", timeout=10).status_code == 200, 120)
        # The stand-in is gone again: readiness must follow it down.
        assert wait_until(lambda: requests.get(f"{url}/ping", timeout=10).status_code == 503, 30)


def test_supervisor_restarts_a_dead_tf_serving(make_served, image_model_dir):
    served = make_served(image_model_dir, BYOC_PING_CACHE_SECONDS=0)
    (tfs,) = tfs_children(served.process.pid)
    tfs.kill()
    served.wait_ping(503, timeout=30)
    served.wait_ping(200, timeout=120)
    (restarted,) = tfs_children(served.process.pid)
    assert restarted.pid != tfs.pid
    assert "restart 1" in served.process.log()
    response = served.invoke(png(models.random_images(1)[0]), "image/png")
    assert response.status_code == 200, response.text


def test_sigterm_drains_an_in_flight_request(make_served, hooked_model_dir):
    served = make_served(hooked_model_dir)
    image = models.random_images(1, seed=3)[0]
    result = {}

    def slow_request():
        result["response"] = served.invoke(png(image), "image/png", **{"X-Amzn-SageMaker-Custom-Attributes": "slow"})

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(1.5)
    started = time.monotonic()
    served.process.proc.send_signal(signal.SIGTERM)
    code = served.process.wait_exit(30)
    elapsed = time.monotonic() - started
    worker.join(30)
    assert code == 0, served.process.log()[-3000:]
    assert elapsed < 30
    response = result["response"]
    assert response.status_code == 200, response.text
    expected = models.load_and_call(hooked_model_dir / "1", image[None])["probabilities"]
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-5, atol=1e-6)
    assert not port_is_open(int(served.env["SAGEMAKER_BIND_TO_PORT"]))


def test_dlc_style_hooks(make_served, hooked_model_dir):
    served = make_served(hooked_model_dir)
    image = models.random_images(1, seed=4)[0]
    response = served.invoke(png(image), "application/x-image", accept="application/json")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = models.load_and_call(hooked_model_dir / "1", image[None])["probabilities"]
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-5, atol=1e-6)
    assert body["argmax"] == int(np.argmax(expected)) and body["accept"] == "application/json"
    # A hook that raises is a JSON 500 naming the hook, and the worker lives on.
    broken = served.invoke(b"not an image", "application/x-image")
    assert broken.status_code == 500 and "input_handler" in broken.json()["error"]
    assert served.invoke(png(image), "application/x-image").status_code == 200


def test_batching_parameters_reach_tf_serving(make_served, image_model_dir):
    served = make_served(image_model_dir, SAGEMAKER_TFS_ENABLE_BATCHING="true", SAGEMAKER_TFS_MAX_BATCH_SIZE=4)
    assert "--enable_batching=true" in served.process.log()
    ok = served.invoke(json.dumps({"instances": models.random_images(4).tolist()}), "application/json")
    assert ok.status_code == 200, ok.text
    batching = (Path(served.env["BYOC_SERVE_RUN_DIR"]) / "batching_parameters.pbtxt").read_text()
    assert "max_batch_size { value: 4 }" in batching
    # Over TF Serving's limit: the app sends chunks of at most 4 (TF Serving alone would answer 400).
    bigger = served.invoke(json.dumps({"instances": models.random_images(9).tolist()}), "application/json")
    assert bigger.status_code == 200, bigger.text
    assert len(bigger.json()["predictions"]) == 9


def _run_serve(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(serve_command(), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)


def test_bad_setting_fails_fast_naming_the_variable(slim_protos, standin_python, image_model_dir, tmp_path):
    env = serve_env(slim_protos, standin_python, image_model_dir, tmp_path, SAGEMAKER_GUNICORN_WORKERS="many")
    result = _run_serve(env)
    assert result.returncode == 2
    assert "SAGEMAKER_GUNICORN_WORKERS='many' is not an integer" in result.stderr


def test_missing_model_fails_naming_the_path(slim_protos, standin_python, tmp_path):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    result = _run_serve(serve_env(slim_protos, standin_python, empty, tmp_path / "run"))
    assert result.returncode == 1
    assert f"{empty}/<version>/saved_model.pb" in result.stderr


def test_unloadable_model_fails_startup_clearly(slim_protos, standin_python, tmp_path):
    broken = tmp_path / "broken"
    models.write_unloadable_version(broken, 1)
    started = time.monotonic()
    result = _run_serve(serve_env(slim_protos, standin_python, broken, tmp_path / "run"))
    assert result.returncode == 1
    assert f"could not load {broken}" in result.stderr or "TF Serving exited" in result.stderr, result.stderr[-3000:]
    assert time.monotonic() - started < 120
    assert os.path.exists(tmp_path / "run" / "model_config.pbtxt")


def test_requirements_are_installed_at_start_only_when_enabled(slim_protos, standin_python, tmp_path):
    model = tmp_path / "model"
    (model / "1").mkdir(parents=True)
    (model / "1" / "saved_model.pb").write_bytes(b"")
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text("def handler(data, context):\n    return b'', 'text/plain'\n")
    # A local path that does not exist: pip fails offline and before touching the environment.
    (model / "code" / "requirements.txt").write_text(f"{tmp_path / 'no-such-package'}\n")
    env = serve_env(slim_protos, standin_python, model, tmp_path / "run", BYOC_INSTALL_REQUIREMENTS_AT_START="true")
    env["PIP_NO_INDEX"] = "1"
    result = _run_serve(env)
    assert result.returncode == 1
    assert "pip install -r" in result.stderr and "failed with exit code" in result.stderr
