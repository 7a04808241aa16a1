"""DLC hooks that speak TF Serving REST, with real `serve` processes: a `handler` posting to context.rest_uri,
signature_name from an input_handler, TF Serving's failures and columnar `outputs` reaching output_handler, and
SAGEMAKER_SAFE_PORT_RANGE placing TF Serving's ports (two servers on one network namespace)."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.support.processes import free_port
from tests.support.serving import serve_env, start_serve

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REST_HANDLER = """
import json
import requests

def handler(data, context):
    # The DLC's own pattern: forward the body to TF Serving's REST API, return its answer.
    payload = json.loads(data.read())
    response = requests.post(context.rest_uri, json=payload, timeout=30)
    status = requests.get(context.rest_uri.split(":predict")[0], timeout=30).json()
    body = {"status_code": response.status_code, "tfs": response.json(), "uri": context.rest_uri,
            "state": status["model_version_status"][0]["state"], "has_channel": context.channel is not None,
            "grpc_port": context.grpc_port}
    return json.dumps(body), "application/json"
"""

BRIDGE_HOOKS = """
import json

def input_handler(data, context):
    return data.read().decode()  # TFS REST JSON as the client sent it (signature_name, instances or inputs)

def output_handler(response, context):
    return json.dumps({"status_code": response.status_code, "body": response.json()}), "application/json"
"""


def _two_signature_model(base):
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def double(x):
        return {"y": x * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def triple(x):
        return {"y": x * 3.0}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def positive(x):
        with tf.control_dependencies([tf.debugging.assert_positive(x, message="x must be positive")]):
            return {"y": tf.identity(x)}

    signatures = {"serving_default": double, "triple": triple, "positive": positive}
    tf.saved_model.save(module, str(base / "1"), signatures=signatures)
    return base


@pytest.fixture(scope="module")
def two_signatures(tmp_path_factory):
    return _two_signature_model(tmp_path_factory.mktemp("sigs") / "model")


def _with_code(tmp_path, model_dir, script: str):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    (target / "code").mkdir()
    (target / "code" / "inference.py").write_text(script)
    return target


def test_dlc_handler_posts_to_rest_uri(make_served, two_signatures, tmp_path):
    served = make_served(_with_code(tmp_path, two_signatures, REST_HANDLER))
    body = json.dumps({"instances": [[1.0, 2.0]]})
    answer = served.invoke(body, "application/json")
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["status_code"] == 200 and got["tfs"] == {"predictions": [[2.0, 4.0]]}
    assert got["uri"].endswith("/v1/models/model:predict") and got["state"] == "AVAILABLE"
    assert got["has_channel"] and got["grpc_port"] == int(served.env["BYOC_TFS_GRPC_PORT"])
    versioned = served.invoke(
        body, "application/json", **{"X-Amzn-SageMaker-Custom-Attributes": "tfs-model-version=1"}
    ).json()
    assert versioned["uri"].endswith("/v1/models/model/versions/1:predict") and versioned["status_code"] == 200


def test_bridge_honours_signature_name_columnar_and_failures(make_served, two_signatures, tmp_path):
    served = make_served(_with_code(tmp_path, two_signatures, BRIDGE_HOOKS))
    rows = served.invoke(json.dumps({"signature_name": "triple", "instances": [[1.0, 2.0]]}), "application/json")
    assert rows.json() == {"status_code": 200, "body": {"predictions": [[3.0, 6.0]]}}
    columns = served.invoke(json.dumps({"inputs": [[1.0, 1.0]]}), "application/json")
    assert columns.json() == {"status_code": 200, "body": {"outputs": [[2.0, 2.0]]}}
    # The model itself refuses (INVALID_ARGUMENT from TF Serving): output_handler sees the status and error body.
    wrong = served.invoke(json.dumps({"signature_name": "positive", "instances": [[-1.0, 2.0]]}), "application/json")
    assert wrong.status_code == 200, wrong.text
    assert wrong.json()["status_code"] == 400 and "x must be positive" in wrong.json()["body"]["error"], wrong.text


def test_safe_port_range_lets_two_servers_share_a_network_namespace(
    slim_protos, standin_python, two_signatures, tmp_path
):
    started = []
    try:
        for index, safe in enumerate(("21000-21099", "21100-21199")):
            env = serve_env(slim_protos, standin_python, two_signatures, tmp_path / f"run{index}")
            del env["BYOC_TFS_GRPC_PORT"], env["BYOC_TFS_REST_PORT"]
            env.update(SAGEMAKER_SAFE_PORT_RANGE=safe, SAGEMAKER_BIND_TO_PORT=str(free_port()))
            served = start_serve(env)
            started.append(served)
        for served in started:
            served.wait_ping(200)
        for served, port in zip(started, (21000, 21100), strict=True):
            answer = served.invoke(json.dumps({"instances": [[1.0, 1.0]]}), "application/json")
            assert answer.json() == {"predictions": [[2.0, 2.0]]}
            status = requests.get(f"http://127.0.0.1:{port + 1}/v1/models/model", timeout=10)
            assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"
            assert f"--port={port}" in served.process.log()
    finally:
        for served in started:
            served.process.stop(grace=35)
