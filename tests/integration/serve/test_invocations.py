"""Every content type through the real `serve` supervisor (stand-in TF Serving + gunicorn + app), checked
against the SavedModel run in-process."""

from __future__ import annotations

import io
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from serve_container.decoders.tfrecord import frame_record
from tests.support import models
from tests.support.serving import serve_env, start_serve

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv always has TF (requirements/dev.txt); tests compare against it


@pytest.fixture(scope="module")
def served(slim_protos, standin_python, image_model_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    env = serve_env(
        slim_protos,
        standin_python,
        image_model_dir,
        run_dir,
        SAGEMAKER_MAX_PAYLOAD_IN_MB=1,
        SAGEMAKER_GUNICORN_WORKERS=2,
    )
    server = start_serve(env, run_dir / "serve.log")
    try:
        server.wait_ping(200)
        yield server
    finally:
        server.process.stop(grace=35)


@lru_cache(maxsize=4)
def _signature(version_dir: str):
    return tf.saved_model.load(version_dir).signatures["serving_default"]


def expected(model_dir, images: np.ndarray, version: int = 2) -> np.ndarray:
    fn = _signature(str(model_dir / str(version)))
    return fn(image=tf.constant(images, tf.uint8))["probabilities"].numpy()


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def example(encoded: bytes) -> bytes:
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def predictions(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return np.asarray(response.json()["predictions"], np.float32)


IMAGES = models.random_images(50, seed=7)


@pytest.mark.parametrize("content_type", ["application/x-image", "image/png"])
def test_png(served, image_model_dir, content_type):
    got = predictions(served.invoke(encode(IMAGES[0]), content_type))
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:1]), rtol=1e-5, atol=1e-6)


def test_jpeg_matches_the_model_on_the_decoded_pixels(served, image_model_dir):
    body = encode(IMAGES[1], "JPEG")
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))[None]
    got = predictions(served.invoke(body, "image/jpeg"))
    np.testing.assert_allclose(got, expected(image_model_dir, pixels), rtol=1e-5, atol=1e-6)


def test_png_of_another_size_is_resized(served):
    got = predictions(served.invoke(encode(models.random_images(1, 64, 40)[0]), "image/png"))
    assert got.shape == (1, 10) and np.isclose(got.sum(), 1.0, atol=1e-5)


@pytest.mark.parametrize("count", [1, 50])
def test_tfrecord_one_prediction_per_record_in_order(served, image_model_dir, count):
    body = b"".join(frame_record(example(encode(image))) for image in IMAGES[:count])
    got = predictions(served.invoke(body, "application/x-tfrecord"))
    assert got.shape == (count, 10)
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:count]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "payload",
    [
        lambda x: {"instances": x.tolist()},
        lambda x: {"inputs": {"image": x.tolist()}},
        lambda x: {"signature_name": "serving_default", "inputs": x.tolist()},
        lambda x: x.tolist(),
    ],
    ids=["instances", "inputs", "signature_name", "list"],
)
def test_json(served, image_model_dir, payload):
    got = predictions(served.invoke(json.dumps(payload(IMAGES[:3])), "application/json"))
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:3]), rtol=1e-5, atol=1e-6)


def test_decoded_batch_above_grpc_default_4mb_limit(make_served, image_model_dir):
    # 1600 flat PNGs: ~0.2 MB on the wire, 4.9 MB of uint8 pixels in ONE Predict request (chunking off).
    served = make_served(image_model_dir, BYOC_PREDICT_CHUNK_SIZE="0")
    flat = encode(np.full((32, 32, 3), 9, np.uint8))
    body = frame_record(example(flat)) * 1600
    assert len(body) < 1024 * 1024
    got = predictions(served.invoke(body, "application/x-tfrecord"))
    assert got.shape == (1600, 10) and np.allclose(got, got[0])


def test_csv_in_and_out(served, image_model_dir):
    body = "\n".join(",".join(map(str, image.reshape(-1))) for image in IMAGES[:2])
    response = served.invoke(body, "text/csv", accept="text/csv")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    got = np.loadtxt(io.StringIO(response.text), delimiter=",", ndmin=2)
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:2]), rtol=1e-5, atol=1e-6)


def test_jsonlines_in_and_out(served, image_model_dir):
    body = "".join(json.dumps(image.tolist()) + "\n" for image in IMAGES[:3])
    response = served.invoke(body, "application/jsonlines", accept="application/jsonlines")
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert len(lines) == 3
    got = np.asarray([json.loads(line) for line in lines], np.float32)
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:3]), rtol=1e-5, atol=1e-6)


def test_npy(served, image_model_dir):
    buffer = io.BytesIO()
    np.save(buffer, IMAGES[:4])
    got = predictions(served.invoke(buffer.getvalue(), "application/x-npy"))
    np.testing.assert_allclose(got, expected(image_model_dir, IMAGES[:4]), rtol=1e-5, atol=1e-6)


def test_custom_attributes_pick_the_version(served, image_model_dir):
    body = encode(IMAGES[0])
    v1 = predictions(served.invoke(body, "image/png", **{"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-version=1"}))
    v2 = predictions(served.invoke(body, "image/png"))
    np.testing.assert_allclose(v1, expected(image_model_dir, IMAGES[:1], version=1), rtol=1e-5, atol=1e-6)
    assert not np.allclose(v1, v2)


def test_top_k_labels_from_assets(served, image_model_dir):
    response = served.invoke(encode(IMAGES[0]), "image/png", accept="application/json; top_k=2")
    assert response.status_code == 200, response.text
    probabilities = expected(image_model_dir, IMAGES[:1])[0]
    labels = models.read_labels(image_model_dir / "2")
    top = response.json()["top_k"][0]
    assert [entry["label"] for entry in top] == [labels[i] for i in np.argsort(-probabilities)[:2]]


def test_execution_parameters(served):
    response = requests.get(f"{served.url}/execution-parameters", timeout=10)
    assert response.json() == {
        "MaxConcurrentTransforms": 32,  # 2 workers x 16 threads
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def _error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def test_unsupported_content_type_is_415_listing_types(served):
    message = _error(served.invoke(b"<x/>", "application/xml"), 415)
    assert "image/png" in message and "application/x-tfrecord" in message


def test_unsupported_accept_is_406(served):
    assert "text/csv" in _error(served.invoke(encode(IMAGES[0]), "image/png", accept="image/png"), 406)


def test_bad_payloads_are_400(served):
    png = encode(IMAGES[0])
    assert "truncated" in _error(served.invoke(png[:200], "image/png"), 400)
    record = bytearray(frame_record(example(png)))
    record[-1] ^= 0xFF
    assert "CRC" in _error(served.invoke(bytes(record), "application/x-tfrecord"), 400)
    assert "rectangular" in _error(served.invoke('{"instances": [[1], [1, 2]]}', "application/json"), 400)
    assert "could not convert" in _error(served.invoke("1,2,x", "text/csv"), 400)
    assert "empty" in _error(served.invoke(b"", "image/png"), 400)
    bad_route = {"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=../x"}
    assert "tfs-model-name" in _error(served.invoke(png, "image/png", **bad_route), 400)


def test_unknown_model_or_version_is_404(served):
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-version=9"}
    _error(served.invoke(encode(IMAGES[0]), "image/png", **attributes), 404)


def test_too_large_is_413_by_content_length_and_when_chunked(served):
    big = os.urandom(1024 * 1024 + 1)
    assert "limit" in _error(served.invoke(big, "application/x-image"), 413)

    def chunks():
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    response = requests.post(
        f"{served.url}/invocations",
        data=chunks(),
        headers={"Content-Type": "application/x-image"},
        timeout=60,
    )
    assert "chunked" in _error(response, 413)


def test_workers_survive_bad_requests_and_stay_lean(served):
    gunicorn = [p for p in psutil.Process(served.process.pid).children() if "gunicorn" in " ".join(p.cmdline())]
    assert len(gunicorn) == 1
    workers = {p.pid for p in gunicorn[0].children()}
    assert len(workers) == 2
    for _ in range(5):
        served.invoke(b"\x89PNG garbage", "image/png")
        served.invoke(b"\x00" * 10, "application/x-tfrecord")
    assert predictions(served.invoke(encode(IMAGES[0]), "image/png")).shape == (1, 10)
    assert {p.pid for p in gunicorn[0].children()} == workers
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        # The TF runtime never loads into a worker (only protobuf modules), as in the no-TF serving image.
        assert "libtensorflow_framework" not in maps and "_pywrap_tensorflow" not in maps
