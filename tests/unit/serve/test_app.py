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
        "MaxConcurrentTransforms": 16,  # workers x threads: what one instance serves at once
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


def test_inference_routes_answer_only_their_exact_paths(settings):
    # InvokeRoutes answers /invocations itself, before Flask: other spellings are Flask's 404, still JSON.
    client = create_app(settings).test_client()
    for path in ("/invocations/", "/invocations/x", "/models/m/invoke"):  # not multi-model: no /models API
        response = client.post(path, data=b"[[1]]", content_type="application/json")
        assert response.status_code == 404 and response.get_json()["error"], path


def test_multi_model_invoke_route_edges(settings):
    client = create_app(dataclasses.replace(settings, multi_model=True)).test_client()
    assert client.get("/models/m/invoke").status_code == 405
    assert client.get("/models/m/invoke").headers["Content-Type"] == "application/json"
    assert client.post("/models/a/b/invoke", data=b"[[1]]", content_type="application/json").status_code == 404
    unknown = client.post("/models/nobody/invoke", data=b"[[1]]", content_type="application/json")
    assert unknown.status_code == 404 and "nobody" in unknown.get_json()["error"]


class _BrokenClient:
    """A TF Serving client that fails in a way nothing maps: the app must still answer, in JSON."""

    def __getattr__(self, name):
        raise RuntimeError(f"client exploded in {name}")


def test_an_unexpected_error_on_the_inference_path_is_a_json_500(settings):
    client = create_app(settings, client=_BrokenClient()).test_client()
    response = client.post("/invocations", data=b"[[1]]", content_type="application/json")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error: RuntimeError: client exploded in signatures"}
    assert response.headers["Content-Length"] == str(len(response.data))
