"""Predict and GetModelMetadata against a real exported SavedModel, compared with the model run in-process.

One server for the module: versions 1 and 2 of an image classifier on disk, so version 2 must be served.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.python.saved_model import loader_impl
from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2

from tests.integration.tfs_standin.conftest import outputs, rpc_error
from tests.support import models, processes


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("image_model")
    v1 = models.export_image_classifier(base, version=1, num_classes=10, seed=1)
    v2 = models.export_image_classifier(base, version=2, num_classes=10, seed=2)
    (base / "code").mkdir()  # SageMaker puts inference code here; not a version
    return base, v1, v2


@pytest.fixture(scope="module")
def server(model_dirs):
    base, _, _ = model_dirs
    with processes.start_tfs_standin(base, "model", extra_args=["--max_num_load_retries=0"]) as standin:
        standin.wait_model_available("model")
        yield standin


@pytest.fixture
def client(server, client_for):
    return client_for(server)


def test_serves_the_highest_numeric_version_only(client):
    assert client.states() == {2: "AVAILABLE"}


def test_metadata_is_the_saved_models_signature_def_map(client, model_dirs):
    _, _, v2 = model_dirs
    response = client.metadata()
    assert response.model_spec.name == "model"
    assert response.model_spec.version.value == 2
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    served = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(served)
    meta_graph = loader_impl.parse_saved_model(str(v2)).meta_graphs[0]
    assert dict(served.signature_def) == dict(meta_graph.signature_def)


def test_metadata_names_dtypes_shapes_match_tensorflows_view(client, model_dirs):
    _, _, v2 = model_dirs
    served = get_model_metadata_pb2.SignatureDefMap()
    client.metadata().metadata["signature_def"].Unpack(served)
    signature = served.signature_def["serving_default"]
    expected = models.signature_io(v2)

    def described(tensors):
        return {
            name: (
                tf.as_dtype(info.dtype).name,
                tuple(None if d.size == -1 else d.size for d in info.tensor_shape.dim),
            )
            for name, info in tensors.items()
        }

    assert described(signature.inputs) == expected["inputs"] == {"image": ("uint8", (None, 32, 32, 3))}
    assert described(signature.outputs) == expected["outputs"] == {"probabilities": ("float32", (None, 10))}
    assert signature.method_name == "tensorflow/serving/predict"


def test_predict_equals_the_latest_model_called_in_process(client, model_dirs):
    _, v1, v2 = model_dirs
    images = models.random_images(5, seed=7)
    response = client.predict({"image": images})
    assert response.model_spec.name == "model"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    served = outputs(response)
    assert set(served) == {"probabilities"}
    np.testing.assert_allclose(served["probabilities"], models.load_and_call(v2, images)["probabilities"], rtol=1e-5)
    # Guards against a server answering from the wrong version.
    assert not np.allclose(served["probabilities"], models.load_and_call(v1, images)["probabilities"], atol=1e-3)


def test_predict_uses_typed_fields_like_tfs(client):
    proto = client.predict({"image": models.random_images(2)}).outputs["probabilities"]
    assert proto.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in proto.tensor_shape.dim] == [2, 10]
    assert proto.tensor_content == b""
    assert len(proto.float_val) == 20


def test_explicit_latest_version_and_named_signature(client, model_dirs):
    _, _, v2 = model_dirs
    images = models.random_images(1, seed=3)
    response = client.predict({"image": images}, version=2, signature="serving_default")
    assert response.model_spec.version.value == 2
    np.testing.assert_allclose(
        outputs(response)["probabilities"], models.load_and_call(v2, images)["probabilities"], rtol=1e-5
    )


def test_payload_over_grpcs_4mb_default_is_accepted(client):
    images = models.random_images(1500, seed=11)  # 4.6 MB of pixels
    assert images.nbytes > 4 * 1024 * 1024
    assert outputs(client.predict({"image": images}))["probabilities"].shape == (1500, 10)


def test_output_filter(client):
    response = client.predict({"image": models.random_images(1)}, output_filter=("probabilities",))
    assert list(response.outputs) == ["probabilities"]
    err = rpc_error(client.predict, {"image": models.random_images(1)}, output_filter=("logits",))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: logits" in err.details()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.predict({"image": models.random_images(1)}, name="missing"),
            "Servable not found for request: Latest(missing)",
        ),
        (
            lambda c: c.predict({"image": models.random_images(1)}, version=1),
            "Servable not found for request: Specific(model, 1)",
        ),
        (
            lambda c: c.predict({"image": models.random_images(1)}, version=9),
            "Servable not found for request: Specific(model, 9)",
        ),
        (lambda c: c.metadata(name="missing"), "Servable not found for request: Latest(missing)"),
        (lambda c: c.metadata(version=9), "Servable not found for request: Specific(model, 9)"),
        (lambda c: c.status(name="missing"), "Could not find any versions of model missing"),
        (lambda c: c.status(version=9), "Could not find version 9 of model model"),
    ],
    ids=[
        "predict-model",
        "predict-unloaded-version",
        "predict-version",
        "metadata-model",
        "metadata-version",
        "status-model",
        "status-version",
    ],
)
def test_unknown_model_or_version_is_not_found(client, call, message):
    err = rpc_error(call, client)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == message


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"pixels": models.random_images(1)}, "input tensor alias not found in signature: pixels"),
        ({}, "input size does not match signature: 0!=1"),
        ({"image": models.random_images(1), "extra": np.zeros(1)}, "Sent extra: {extra}"),
        (
            {"image": models.random_images(1).astype(np.float32)},
            "Expects arg[0] to be uint8 but float is provided",
        ),
        (
            {"image": models.random_images(1, height=31)},
            "has shape [1,31,32,3] but the signature expects [-1,32,32,3]",
        ),
        ({"image": models.random_images(1)[0]}, "has shape [32,32,3]"),
    ],
    ids=["unknown-input", "no-inputs", "extra-input", "wrong-dtype", "wrong-shape", "wrong-rank"],
)
def test_bad_inputs_are_invalid_argument(client, inputs, fragment):
    err = rpc_error(client.predict, inputs)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in err.details()


def test_unknown_signature_is_failed_precondition(client):
    err = rpc_error(client.predict, {"image": models.random_images(1)}, signature="classify")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == 'Serving signature key "classify" not found.'


def test_malformed_tensor_proto_is_invalid_argument(client):
    request = client.predict_request({"image": models.random_images(1)})
    request.inputs["image"].tensor_content = b"\x00" * 7  # not 1*32*32*3 bytes
    err = rpc_error(client.prediction.Predict, request, timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((), "GetModelMetadataRequest must specify at least one metadata_field"),
        (("signature_def", "labels"), "Metadata field labels is not supported"),
    ],
)
def test_metadata_fields_other_than_signature_def_are_rejected(client, fields, message):
    err = rpc_error(client.metadata, fields=fields)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == message


def test_classify_refuses_a_predict_signature(client):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "model"
    err = rpc_error(client.prediction.Classify, request, timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().endswith("Was: tensorflow/serving/predict")


def test_server_survives_all_of_the_above(client, model_dirs):
    _, _, v2 = model_dirs
    images = models.random_images(2, seed=5)
    np.testing.assert_allclose(
        outputs(client.predict({"image": images}))["probabilities"],
        models.load_and_call(v2, images)["probabilities"],
        rtol=1e-5,
    )
