"""The Flask app's edges that never reach TF Serving, through Flask's test client and a real (unconnected)
gRPC client: limits, media types, routing errors, readiness when nothing serves, and a full `handler` hook."""

from __future__ import annotations

import dataclasses

import pytest

from serve_container.app import create_app
from serve_container.contract import load_settings
from tests.support.processes import free_port

HANDLER = '''
def handler(data, context):
    body = data.read()
    return f"{context.model_name}:{context.request_content_type}:{len(body)}", "text/plain"
'''


@pytest.fixture
def settings(tmp_path):
    base = load_settings(
        {
            "BYOC_MODEL_DIR": str(tmp_path / "model"),
            "BYOC_TFS_GRPC_PORT": str(free_port()),  # nothing listens there
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
            "BYOC_PING_CACHE_SECONDS": "0",
        }
    )
    return base


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


def test_ping_is_503_json_when_tf_serving_is_down(client):
    response = client.get("/ping")
    assert response.status_code == 503
    assert "not available" in response.get_json()["error"]


def test_payload_over_the_limit_is_413_before_reading(client):
    response = client.post("/invocations", data=b"x" * (1024 * 1024 + 1), content_type="image/png")
    assert response.status_code == 413 and "limit" in response.get_json()["error"]


def test_unsupported_type_is_415_without_contacting_tf_serving(client):
    response = client.post("/invocations", data=b"<a/>", content_type="application/xml")
    assert response.status_code == 415
    assert "application/x-tfrecord" in response.get_json()["error"]


def test_bad_custom_attribute_is_400(client):
    response = client.post(
        "/invocations",
        data=b"{}",
        content_type="application/json",
        headers={"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-name=../../x"},
    )
    assert response.status_code == 400


def test_tf_serving_down_is_503_on_invocations(client):
    response = client.post("/invocations", data=b"[[1]]", content_type="application/json")
    assert response.status_code == 503 and "UNAVAILABLE" in response.get_json()["error"]


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").get_json()["error"]
    assert client.get("/invocations").status_code == 405


def test_execution_parameters(client):
    assert client.get("/execution-parameters").get_json() == {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_full_handler_hook_gets_dlc_context(settings):
    settings.code_dir.mkdir(parents=True)
    (settings.code_dir / "inference.py").write_text(HANDLER)
    client = create_app(settings).test_client()
    response = client.post("/invocations", data=b"abc", content_type="text/weird")
    assert response.status_code == 200
    assert response.data == b"model:text/weird:3"
    assert response.content_type.startswith("text/plain")


def test_hooks_can_be_disabled(settings):
    settings.code_dir.mkdir(parents=True)
    (settings.code_dir / "inference.py").write_text(HANDLER)
    client = create_app(dataclasses.replace(settings, enable_hooks=False)).test_client()
    assert client.post("/invocations", data=b"abc", content_type="text/weird").status_code == 415


def test_inference_py_without_hooks_fails_the_worker_at_start(settings):
    settings.code_dir.mkdir(parents=True)
    (settings.code_dir / "inference.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="defines none of"):
        create_app(settings)
