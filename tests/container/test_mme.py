"""The serving image as a SageMaker multi-model endpoint drives it, over HTTP: SAGEMAKER_MULTI_MODEL=true, model
archives unpacked under /opt/ml/models/<name>/model, LoadModel / ListModels / DescribeModel / UnloadModel /
InvokeModel, two gunicorn workers; tfs-method classify/regress on an Estimator-style model through the real TF
Serving's Classify/Regress. Answers are compared with each SavedModel run in-process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from serve_container.decoders.tfrecord import frame_record
from tests.support import example_models, models
from tests.support.docker import docker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv has TF; the expected answers come from it

PING_DEADLINE_SECONDS = 240
IMAGES = models.random_images(4, seed=21)
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
OWN_HOOK = """
import json

def handler(data, context):
    import tokens  # at request time, from this model's code/lib (the DLC keeps it importable while serving)

    body = {"hooked": context.model_name, "bytes": len(data.read()), "tokens": tokens.NAME}
    return json.dumps(body), "application/json"
"""


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _tfrecords(images: np.ndarray) -> bytes:
    frames = []
    for pixels in images:
        feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(pixels)]))}
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        frames.append(frame_record(example.SerializeToString()))
    return b"".join(frames)


class MultiModelEndpoint:
    def __init__(self, container: str, url: str):
        self.container, self.url = container, url

    def load(self, name: str) -> requests.Response:
        return requests.post(
            f"{self.url}/models", json={"model_name": name, "url": f"/opt/ml/models/{name}/model"}, timeout=180
        )

    def invoke(self, name: str, body: bytes, content_type: str, **headers: str) -> requests.Response:
        headers |= {"Content-Type": content_type, "X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"}
        return requests.post(f"{self.url}/models/{name}/invoke", data=body, headers=headers, timeout=60)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.container], capture_output=True, text=True, check=False)
        return done.stdout + done.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mme") / "models"
    for name, seed in (("cnn-a", 1), ("cnn-b", 2), ("hooked", 3)):
        models.export_image_classifier(root / name / "model", version=1, seed=seed)
    example_models.export_example_model(root / "estimator" / "model", version=1, seed=4)
    (root / "hooked" / "model" / "code" / "lib").mkdir(parents=True)
    (root / "hooked" / "model" / "code" / "inference.py").write_text(OWN_HOOK)
    (root / "hooked" / "model" / "code" / "lib" / "tokens.py").write_text("NAME = 'tokens of hooked'\n")
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


def _start(serve_image: str, store, *env: str, run_args: tuple[str, ...] = ()) -> MultiModelEndpoint:
    args = ["run", "-d", *run_args, "-p", "127.0.0.1::8080", "-v", f"{store}:/opt/ml/models:ro"]
    for item in ("SAGEMAKER_MULTI_MODEL=true", "SAGEMAKER_GUNICORN_WORKERS=2", *env):
        args += ["-e", item]
    container = docker(*args, serve_image, "serve")
    port = docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
    endpoint = MultiModelEndpoint(container, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + PING_DEADLINE_SECONDS
    while True:
        try:
            if requests.get(f"{endpoint.url}/ping", timeout=5).status_code == 200:
                return endpoint
        except requests.ConnectionError:
            pass
        if docker("inspect", "--format", "{{.State.Running}}", container) != "true" or time.monotonic() > deadline:
            pytest.fail(f"multi-model container never became healthy:\n{endpoint.logs()[-5000:]}", pytrace=False)
        time.sleep(1)


@pytest.fixture(scope="module")
def endpoint(serve_image, store):
    started = _start(serve_image, store)
    yield started
    subprocess.run(["docker", "rm", "-f", started.container], capture_output=True, check=False)


def _expected(store, name: str, images: np.ndarray) -> np.ndarray:
    signature = tf.saved_model.load(str(store / name / "model" / "1")).signatures["serving_default"]
    return signature(image=tf.constant(images, tf.uint8))["probabilities"].numpy()


def _predictions(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["predictions"], np.float32)


def test_the_multi_model_contract_over_http(endpoint, store):
    url = endpoint.url
    assert requests.get(f"{url}/models", timeout=10).json() == {"models": []}
    for name in ("cnn-a", "cnn-b", "hooked"):
        loaded = endpoint.load(name)
        assert loaded.status_code == 200, f"{loaded.text}\n{endpoint.logs()[-3000:]}"
    again = endpoint.load("cnn-a")
    assert again.status_code == 409 and "already loaded" in again.json()["error"]
    listed = requests.get(f"{url}/models", timeout=10).json()
    assert [m["modelName"] for m in listed["models"]] == ["cnn-a", "cnn-b", "hooked"]
    assert requests.get(f"{url}/models/cnn-b", timeout=10).json() == {
        "modelName": "cnn-b",
        "modelUrl": "/opt/ml/models/cnn-b/model",
    }

    want_a, want_b = _expected(store, "cnn-a", IMAGES), _expected(store, "cnn-b", IMAGES)
    assert not np.allclose(want_a, want_b)  # two different models: a mix-up would show
    for name, want in (("cnn-a", want_a), ("cnn-b", want_b)):
        png = _predictions(endpoint.invoke(name, _png(IMAGES[0]), "image/png"))
        np.testing.assert_allclose(png, want[:1], rtol=1e-5, atol=1e-6)
        records = _predictions(endpoint.invoke(name, _tfrecords(IMAGES), "application/x-tfrecord"))
        np.testing.assert_allclose(records, want, rtol=1e-5, atol=1e-6)
    for _ in range(4):  # whichever worker answers
        hooked = endpoint.invoke("hooked", b"abcd", "application/octet-stream")
        assert hooked.status_code == 200, hooked.text
        assert hooked.json() == {"hooked": "hooked", "bytes": 4, "tokens": "tokens of hooked"}

    # Unload cnn-b while cnn-a is being invoked: none of those requests fails.
    failures: list[str] = []
    done = threading.Event()

    def hammer():
        while not done.is_set():
            response = endpoint.invoke("cnn-a", _png(IMAGES[1]), "image/png")
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text}")

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        unloaded = requests.delete(f"{url}/models/cnn-b", timeout=60)
        time.sleep(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert unloaded.status_code == 200, unloaded.text
    assert failures == []
    for _ in range(4):  # whichever worker answers
        gone = endpoint.invoke("cnn-b", _png(IMAGES[0]), "image/png")
        assert gone.status_code == 404 and "not loaded" in gone.json()["error"]
    assert requests.get(f"{url}/models/cnn-b", timeout=10).status_code == 404
    assert requests.delete(f"{url}/models/cnn-b", timeout=10).status_code == 404
    assert "target_model=cnn-a.tar.gz" in endpoint.logs()


def test_classify_and_regress_through_tf_serving(endpoint, store):
    # tfs-method in the custom attributes: TF Serving's own Classify / Regress, not the stand-in's.
    rows = np.random.default_rng(5).normal(size=(3, example_models.WIDTH)).astype(np.float32)
    serialized = [example_models.make_example(row) for row in rows]
    version_dir = store / "estimator" / "model" / "1"
    loaded = endpoint.load("estimator")
    assert loaded.status_code == 200, f"{loaded.text}\n{endpoint.logs()[-3000:]}"
    try:
        examples = json.dumps({"examples": [{"x": row.tolist()} for row in rows]}).encode()
        records = b"".join(frame_record(s) for s in serialized)
        want = example_models.call_examples(version_dir, serialized, "classification")["scores"]
        for body, media in ((examples, "application/json"), (records, "application/x-tfrecord")):
            got = endpoint.invoke("estimator", body, media, **{ATTRIBUTES: "tfs-method=classify"})
            assert got.status_code == 200, got.text
            results = got.json()["results"]
            assert [[label for label, _ in item] for item in results] == [list(example_models.LABELS)] * 3
            np.testing.assert_allclose([[s for _, s in item] for item in results], want, rtol=1e-5, atol=1e-6)
        attributes = {ATTRIBUTES: "tfs-method=regress,tfs-signature-name=regression"}
        got = endpoint.invoke("estimator", examples, "application/json", **attributes)
        assert got.status_code == 200, got.text
        want = example_models.call_examples(version_dir, serialized, "regression")["outputs"]
        np.testing.assert_allclose(got.json()["results"], want, rtol=1e-5, atol=1e-6)
        wrong = endpoint.invoke("estimator", examples, "application/json", **{ATTRIBUTES: "tfs-method=regress"})
        assert wrong.status_code == 400 and "regress signatures ['regression']" in wrong.json()["error"]
    finally:
        assert requests.delete(f"{endpoint.url}/models/estimator", timeout=60).status_code == 200


MEMORY_LIMIT_MB = 1536


def test_load_is_507_when_the_container_memory_limit_is_short(serve_image, store, tmp_path):
    # A real `docker run --memory` limit (the cgroup SageMaker's instance size sets), default reserve: a model
    # whose size on disk exceeds what the limit leaves is refused with 507, a small one still loads.
    copy = tmp_path / "models"
    shutil.copytree(store / "cnn-a", copy / "cnn-a")
    shutil.copytree(store / "cnn-b", copy / "huge")
    with open(copy / "huge" / "model" / "1" / "assets" / "weights.bin", "wb") as handle:
        handle.truncate(2 * MEMORY_LIMIT_MB * 1024 * 1024)  # sparse: 3 GB on paper, no disk, no time
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    started = _start(serve_image, copy, run_args=(f"--memory={MEMORY_LIMIT_MB}m",))
    try:
        refused = started.load("huge")
        assert refused.status_code == 507, refused.text
        error = refused.json()["error"]
        assert "not enough memory to load model 'huge'" in error
        available = int(error.rsplit(" and ", 1)[1].split(" MB")[0])
        assert 0 < available < MEMORY_LIMIT_MB  # the cgroup limit decided, not the host's 24 GB
        assert requests.get(f"{started.url}/models", timeout=10).json() == {"models": []}
        assert started.load("cnn-a").status_code == 200
        np.testing.assert_allclose(
            _predictions(started.invoke("cnn-a", _png(IMAGES[0]), "image/png")),
            _expected(store, "cnn-a", IMAGES[:1]),
            rtol=1e-5,
            atol=1e-6,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", started.container], capture_output=True, check=False)
