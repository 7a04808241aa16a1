"""The serving image as SageMaker runs it: `docker run IMAGE serve`, model mounted at /opt/ml/model, HTTP
from the host for every content type, answers equal to the SavedModel run in-process, clean SIGTERM."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support import models
from tests.support.docker import docker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv always has TF (requirements/dev.txt); tests compare against it

PING_DEADLINE_SECONDS = 240  # SageMaker's limit for the first healthy /ping
IMAGES = models.random_images(8, seed=11)


class Endpoint:
    def __init__(self, container: str, url: str, version_dir):
        self.container = container
        self.url = url
        self.signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def expected(self, images: np.ndarray) -> np.ndarray:
        return self.signature(image=tf.constant(images, tf.uint8))["probabilities"].numpy()

    def invoke(self, body, content_type: str, accept: str = "application/json") -> requests.Response:
        headers = {"Content-Type": content_type, "Accept": accept}
        return requests.post(f"{self.url}/invocations", data=body, headers=headers, timeout=60)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.container], capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr)[-5000:]


@pytest.fixture(scope="module")
def endpoint(serve_image, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("container-model") / "model"
    version_dir = models.export_image_classifier(model_dir, version=1)
    os.chmod(model_dir, 0o755)
    container = docker(
        "run", "-d", "-p", "127.0.0.1::8080", "-v", f"{model_dir}:/opt/ml/model:ro",
        "-e", "SAGEMAKER_GUNICORN_WORKERS=2", serve_image, "serve",
    )  # fmt: skip
    try:
        port = docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        served = Endpoint(container, f"http://127.0.0.1:{port}", version_dir)
        deadline = time.monotonic() + PING_DEADLINE_SECONDS
        while True:
            try:
                if requests.get(f"{served.url}/ping", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            running = docker("inspect", "--format", "{{.State.Running}}", container)
            if running != "true" or time.monotonic() > deadline:
                pytest.fail(f"serving container never became healthy:\n{served.logs()}", pytrace=False)
            time.sleep(1)
        yield served
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def _png(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _record(data: bytes) -> bytes:
    from serve_container.decoders.tfrecord import frame_record

    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
    return frame_record(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


PAYLOADS = {
    "application/x-image": (lambda: _png(IMAGES[0]), 1),
    "image/png": (lambda: _png(IMAGES[0]), 1),
    "application/x-tfrecord": (lambda: b"".join(_record(_png(image)) for image in IMAGES), 8),
    "application/json": (lambda: json.dumps({"instances": IMAGES[:3].tolist()}), 3),
    "text/csv": (lambda: "\n".join(",".join(map(str, i.reshape(-1))) for i in IMAGES[:2]), 2),
    "application/jsonlines": (lambda: "".join(json.dumps(i.tolist()) + "\n" for i in IMAGES[:2]), 2),
    "application/x-npy": (lambda: _npy(IMAGES[:4]), 4),
}


@pytest.mark.parametrize("content_type", sorted(PAYLOADS))
def test_every_content_type_matches_the_model(endpoint, content_type):
    build, count = PAYLOADS[content_type]
    response = endpoint.invoke(build(), content_type)
    assert response.status_code == 200, f"{response.text}\n{endpoint.logs()}"
    got = np.asarray(response.json()["predictions"], np.float32)
    np.testing.assert_allclose(got, endpoint.expected(IMAGES[:count]), rtol=1e-5, atol=1e-6)


def test_jpeg(endpoint):
    body = _png(IMAGES[0], "JPEG")
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))[None]
    response = endpoint.invoke(body, "image/jpeg")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], endpoint.expected(pixels), rtol=1e-5, atol=1e-6)


def test_jsonlines_and_csv_outputs(endpoint):
    lines = endpoint.invoke(_png(IMAGES[0]), "image/png", accept="application/jsonlines")
    assert lines.status_code == 200 and len(lines.text.splitlines()) == 1
    table = endpoint.invoke(_png(IMAGES[0]), "image/png", accept="text/csv")
    assert table.status_code == 200 and len(table.text.strip().split(",")) == 10


def test_errors_are_json(endpoint):
    unsupported = endpoint.invoke(b"x", "application/xml")
    assert unsupported.status_code == 415 and "image/png" in unsupported.json()["error"]
    truncated = endpoint.invoke(_png(IMAGES[0])[:100], "image/png")
    assert truncated.status_code == 400 and "error" in truncated.json()
    params = requests.get(f"{endpoint.url}/execution-parameters", timeout=10).json()
    assert params["MaxPayloadInMB"] == 6


def test_sigterm_stops_cleanly_within_30_seconds(endpoint):
    # Runs last in this module: `docker stop` is SageMaker's SIGTERM, then SIGKILL after the grace period.
    started = time.monotonic()
    docker("stop", "-t", "30", endpoint.container, timeout=60)
    elapsed = time.monotonic() - started
    code = docker("inspect", "--format", "{{.State.ExitCode}}", endpoint.container)
    assert code == "0", endpoint.logs()
    assert elapsed < 30


def test_two_containers_share_a_network_namespace_with_safe_port_ranges(serve_image, tmp_path):
    # As a multi-container endpoint / inference pipeline runs them: one network namespace, SageMaker gives each
    # container its own SAGEMAKER_SAFE_PORT_RANGE; TF Serving's internal ports must come from it.
    model_dir = tmp_path / "model"
    version_dir = models.export_image_classifier(model_dir, version=1)
    os.chmod(tmp_path, 0o755)
    for path in [model_dir, *model_dir.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    mount = ["-v", f"{model_dir}:/opt/ml/model:ro"]
    first = docker("run", "-d", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8081", *mount,
                    "-e", "SAGEMAKER_SAFE_PORT_RANGE=20000-20099", serve_image, "serve")  # fmt: skip
    second = None
    try:
        second = docker("run", "-d", f"--network=container:{first}", *mount, "-e", "SAGEMAKER_BIND_TO_PORT=8081",
                         "-e", "SAGEMAKER_SAFE_PORT_RANGE=20100-20199", serve_image, "serve")  # fmt: skip
        urls = [
            f"http://127.0.0.1:{docker('port', first, f'{port}/tcp').splitlines()[0].rsplit(':', 1)[1]}"
            for port in (8080, 8081)
        ]
        deadline = time.monotonic() + PING_DEADLINE_SECONDS
        for url, container in zip(urls, (first, second), strict=True):
            served = Endpoint(container, url, version_dir)
            while True:
                try:
                    if requests.get(f"{url}/ping", timeout=5).status_code == 200:
                        break
                except requests.RequestException:  # booting, on a busy machine
                    pass
                running = docker("inspect", "--format", "{{.State.Running}}", container)
                if running != "true" or time.monotonic() > deadline:
                    pytest.fail(f"container never became healthy:\n{served.logs()}", pytrace=False)
                time.sleep(1)
            response = served.invoke(_png(IMAGES[0]), "image/png")
            assert response.status_code == 200, response.text
            np.testing.assert_allclose(
                response.json()["predictions"], served.expected(IMAGES[:1]), rtol=1e-5, atol=1e-6
            )
        for container, port in ((first, 20000), (second, 20100)):
            done = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=False)
            assert f"--port={port} --rest_api_port={port + 1}" in done.stdout + done.stderr
    finally:
        for container in (second, first):
            if container:
                subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
