"""Classify and Regress (gRPC and REST :classify / :regress) against an Estimator-style SavedModel, compared with
the model run in-process, and the error statuses and texts TF Serving's classifier.cc / regressor.cc / util.cc and
json_tensor.cc give."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

from tests.integration.tfs_standin.conftest import rpc_error
from tests.support import example_models, models, processes

ROWS = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
SERIALIZED = [example_models.make_example(row) for row in ROWS]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    example_models.export_example_model(root / "ex", 1, seed=3)
    models.export_vector_model(root / "vec", 1, seed=1)
    config = root / "models.config"
    config.write_text(
        "model_config_list {"
        f" config {{ name: 'ex' base_path: '{root / 'ex'}' model_platform: 'tensorflow' }}"
        f" config {{ name: 'vec' base_path: '{root / 'vec'}' model_platform: 'tensorflow' }} }}"
    )
    rest_port = processes.free_port()
    standin = processes.start_tfs_standin(
        None, extra_args=[f"--model_config_file={config}", f"--rest_api_port={rest_port}"]
    )
    url = f"http://127.0.0.1:{rest_port}"
    try:
        standin.wait_model_available("ex")
        standin.wait_for(lambda: _answers(url), 60, "the REST API on its port")
        yield standin, url, root / "ex" / "1"
    finally:
        standin.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/v1/models/ex", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture
def client(server, client_for):
    return client_for(server[0])


def _request(cls, serialized=SERIALIZED, model="ex", signature="", context: bytes | None = None):
    request = cls()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    examples = [example_pb2.Example.FromString(s) for s in serialized]
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        request.input.example_list_with_context.examples.extend(examples)
        request.input.example_list_with_context.context.ParseFromString(context)
    return request


def _classes(response) -> tuple[list[list[str]], np.ndarray]:
    items = response.result.classifications
    return [[c.label for c in item.classes] for item in items], np.array([[c.score for c in i.classes] for i in items])


def test_classify_runs_the_default_classification_signature(client, server):
    response = client.prediction.Classify(_request(classification_pb2.ClassificationRequest), timeout=30)
    want = example_models.call_examples(server[2], SERIALIZED, "serving_default")
    labels, scores = _classes(response)
    assert labels == [list(example_models.LABELS)] * 3
    np.testing.assert_allclose(scores, want["scores"], rtol=1e-6)
    assert (response.model_spec.name, response.model_spec.version.value) == ("ex", 1)
    assert response.model_spec.signature_name == "serving_default"


def test_regress_by_signature_name(client, server):
    response = client.prediction.Regress(
        _request(regression_pb2.RegressionRequest, signature="regression"), timeout=30
    )
    want = example_models.call_examples(server[2], SERIALIZED, "regression")["outputs"]
    np.testing.assert_allclose([r.value for r in response.result.regressions], want, rtol=1e-6)
    assert response.model_spec.signature_name == "regression"


def test_context_features_merge_into_every_example_and_the_examples_win(client, server):
    context = example_models.make_example(ROWS[0])
    empty = example_pb2.Example().SerializeToString()
    request = _request(classification_pb2.ClassificationRequest, [empty, SERIALIZED[1]], context=context)
    _, scores = _classes(client.prediction.Classify(request, timeout=30))
    want = example_models.call_examples(server[2], [SERIALIZED[0], SERIALIZED[1]], "classification")["scores"]
    np.testing.assert_allclose(scores, want, rtol=1e-6)


@pytest.mark.parametrize(
    ("method", "request_args", "code", "text"),
    [
        ("Classify", {"signature": "regression"}, "INVALID_ARGUMENT",
         "Expected classification signature method_name to be tensorflow/serving/classify. "
         "Was: tensorflow/serving/regress"),
        ("Regress", {}, "INVALID_ARGUMENT",
         "Expected regression signature method_name to be tensorflow/serving/regress. "
         "Was: tensorflow/serving/classify"),
        ("Classify", {"signature": "nope"}, "INVALID_ARGUMENT", "No signature was found with the name: nope"),
        ("Classify", {"serialized": []}, "INVALID_ARGUMENT", "Input is empty."),
        ("Classify", {"model": "vec"}, "INVALID_ARGUMENT", "Was: tensorflow/serving/predict"),
        ("Regress", {"model": "nope"}, "NOT_FOUND", "Servable not found for request: Latest(nope)"),
    ],
)  # fmt: skip
def test_errors_have_tf_servings_codes_and_texts(client, method, request_args, code, text):
    cls = classification_pb2.ClassificationRequest if method == "Classify" else regression_pb2.RegressionRequest
    error = rpc_error(getattr(client.prediction, method), _request(cls, **request_args), timeout=30)
    assert error.code() == getattr(grpc.StatusCode, code) and text in error.details()


def test_multi_inference_stays_unimplemented(client):
    request = inference_pb2.MultiInferenceRequest()
    error = rpc_error(client.prediction.MultiInference, request, timeout=10)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_rest_classify_and_regress_have_tf_servings_shapes(server):
    _, url, version_dir = server
    body = {"examples": [{"x": row.tolist()} for row in ROWS]}
    classify = requests.post(f"{url}/v1/models/ex:classify", json=body, timeout=30)
    assert classify.status_code == 200, classify.text
    want = example_models.call_examples(version_dir, SERIALIZED, "classification")["scores"]
    results = classify.json()["results"]
    assert [[label for label, _ in item] for item in results] == [list(example_models.LABELS)] * 3
    np.testing.assert_allclose([[score for _, score in item] for item in results], want, rtol=1e-6)

    context = {"context": {"x": ROWS[2].tolist()}, "examples": [{}], "signature_name": "regression"}
    regress = requests.post(f"{url}/v1/models/ex/versions/1:regress", json=context, timeout=30)
    assert set(regress.json()) == {"results"}
    want = example_models.call_examples(version_dir, SERIALIZED[2:], "regression")["outputs"]
    np.testing.assert_allclose(regress.json()["results"], want, rtol=1e-6)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"instances": [[1.0]]}, "key 'examples' is expected and was not found"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [{"x": [1.5, "a"]}]}, "Unexpected element type in feature: x expecting type: float"),
        ({"examples": [{"x": [1, 2, 3, 4]}]}, "x"),  # integers are an int64 feature: the model's parse refuses it
        ({"examples": [[1.0]]}, "Example must be JSON object"),
    ],
)
def test_rest_example_errors_are_400_json(server, body, text):
    _, url, _ = server
    response = requests.post(f"{url}/v1/models/ex:classify", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert text in response.json()["error"]
