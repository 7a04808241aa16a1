"""Fixtures for the TF Serving stand-in tests: a raw gRPC client with TFS's message limits."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

MAX_MESSAGE_BYTES = 2**31 - 1
RPC_TIMEOUT = 30.0


class TfsClient:
    """Thin typed wrapper over the three RPCs the serving container uses."""

    def __init__(self, target: str):
        self.channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def predict_request(
        self,
        inputs: dict[str, np.ndarray],
        name: str = "model",
        version: int | None = None,
        signature: str = "",
        output_filter: tuple[str, ...] = (),
        label: str = "",
    ) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        if label:
            request.model_spec.version_label = label
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        return request

    def predict(self, inputs: dict[str, np.ndarray], **spec) -> predict_pb2.PredictResponse:
        return self.prediction.Predict(self.predict_request(inputs, **spec), timeout=RPC_TIMEOUT)

    def metadata(
        self, name: str = "model", version: int | None = None, fields: tuple[str, ...] = ("signature_def",)
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        request.metadata_field.extend(fields)
        return self.prediction.GetModelMetadata(request, timeout=RPC_TIMEOUT)

    def status(self, name: str = "model", version: int | None = None):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        return self.models.GetModelStatus(request, timeout=RPC_TIMEOUT)

    def states(self, name: str = "model") -> dict[int, str]:
        """{version: state name} from GetModelStatus."""
        enum = get_model_status_pb2.ModelVersionStatus.State
        return {s.version: enum.Name(s.state) for s in self.status(name).model_version_status}

    def close(self) -> None:
        self.channel.close()


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    """Run an RPC that must fail and return its error."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


def outputs(response) -> dict[str, np.ndarray]:
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


@pytest.fixture
def client_for():
    clients: list[TfsClient] = []

    def make(server) -> TfsClient:
        client = TfsClient(server.target)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
