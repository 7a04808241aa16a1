"""gRPC client to TF Serving: Predict, Classify, Regress, GetModelMetadata (cached), GetModelStatus and
HandleReloadConfigRequest, errors mapped to HTTP."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator

import grpc
import numpy as np

from serve_container.errors import (
    BadRequest,
    DeadlineExceeded,
    ModelNotFound,
    ModelUnavailable,
    ServingError,
    UpstreamError,
)
from serve_container.protos import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_server_config_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from serve_container.signature import Signature, signatures_from_metadata
from serve_container.tensors import from_tensor_proto, to_tensor_proto

_AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
_END = get_model_status_pb2.ModelVersionStatus.END
# Decoded tensors (PNG -> raw pixels) outgrow the request body many times over, and TF Serving itself accepts
# messages up to int32 max; a lower client limit would only turn big valid batches into errors.
GRPC_MAX_MESSAGE_BYTES = 2**31 - 1
# Each gunicorn worker has its own channel and backs off on its own: after TF Serving is back, every worker has
# reconnected within this (plus gRPC's 20 % jitter), not at the moment the first one answers /ping.
MAX_RECONNECT_BACKOFF_MS = 1000

_ERRORS = {
    grpc.StatusCode.UNAVAILABLE: ModelUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.FAILED_PRECONDITION: BadRequest,
    grpc.StatusCode.OUT_OF_RANGE: BadRequest,
    grpc.StatusCode.NOT_FOUND: ModelNotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ModelUnavailable,
}


def map_rpc_error(error: grpc.RpcError) -> ServingError:
    code = error.code() if hasattr(error, "code") else None
    detail = error.details() if hasattr(error, "details") else str(error)
    cls = _ERRORS.get(code, UpstreamError)
    name = code.name if code is not None else "UNKNOWN"
    return cls(f"TF Serving {name}: {detail}")


class TfsClient:
    """One channel per process, opened on first use so gunicorn workers never share a pre-fork channel."""

    def __init__(self, target: str, deadline_seconds: float, max_message_bytes: int = GRPC_MAX_MESSAGE_BYTES):
        self.target = target
        self.max_message_bytes = max_message_bytes
        self.deadline = deadline_seconds
        self._lock = threading.Lock()
        self._pid = None
        self._channel = None
        self._signatures: dict[tuple[str, int | None, int], dict[str, Signature]] = {}

    def _stubs(self):
        with self._lock:
            if self._channel is None or self._pid != os.getpid():
                options = [
                    ("grpc.max_send_message_length", self.max_message_bytes),
                    ("grpc.max_receive_message_length", self.max_message_bytes),
                    # TF Serving is on loopback: after the supervisor restarts it, reconnect within a second
                    # instead of gRPC's default backoff (up to 120 s) keeping /ping at 503. Not
                    # grpc.min_reconnect_backoff_ms: it is also the minimum *connect timeout*, and set low it turns
                    # a slow handshake with a busy TF Serving into an instant UNAVAILABLE.
                    ("grpc.initial_reconnect_backoff_ms", 200),
                    ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
                ]
                self._channel = grpc.insecure_channel(self.target, options=options)
                self._pid = os.getpid()
                self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
                self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
            return self._predict, self._models

    def channel(self) -> grpc.Channel:
        """This worker's live channel, for hooks that call TF Serving themselves (the DLC's context.channel)."""
        self._stubs()
        return self._channel

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

    @staticmethod
    def _spec(request, model: str, version: int | None, signature_name: str | None = None):
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        if signature_name:
            request.model_spec.signature_name = signature_name

    def signatures(self, model: str, version: int | None = None, generation: int = 0) -> dict[str, Signature]:
        """Cached per (model, version, generation): a multi-model reload under the same name is a new generation."""
        key = (model, version, generation)
        cached = self._signatures.get(key)
        if cached is not None:
            return cached
        predict_stub, _ = self._stubs()
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request, model, version)
        try:
            response = predict_stub.GetModelMetadata(request, timeout=self.deadline)
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None
        signatures = signatures_from_metadata(response)
        self._signatures[key] = signatures
        return signatures

    def predict(
        self, model: str, version: int | None, signature_name: str, inputs: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], int | None]:
        """Outputs by name, and the model version that answered.

        A blocking call: in gRPC Python it costs about half the CPU of `.future()` (no hand-off to the channel's
        polling thread), and one-chunk requests are the common case.
        """
        predict_stub, _ = self._stubs()
        request = self._request(model, version, signature_name, inputs)
        try:
            return _join([predict_stub.Predict(request, timeout=self.deadline)])
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None

    def predict_chunks(
        self,
        model: str,
        version: int | None,
        signature_name: str,
        chunks: Iterator[dict[str, np.ndarray]],
        in_flight: int = 2,
    ) -> tuple[dict[str, np.ndarray], int | None]:
        """One Predict per chunk, outputs concatenated in input order.

        Up to `in_flight` calls run while the next chunk is produced (decoded), so decoding overlaps inference.
        One deadline covers the whole request: the sum of chunk calls must still answer before gunicorn's timeout.
        """
        predict_stub, _ = self._stubs()
        deadline = time.monotonic() + self.deadline
        pending: deque = deque()
        results: list = []
        try:
            for chunk in chunks:
                request = self._request(model, version, signature_name, chunk)
                remaining = max(0.001, deadline - time.monotonic())
                pending.append(predict_stub.Predict.future(request, timeout=remaining))
                while len(pending) >= in_flight:
                    results.append(pending.popleft().result())
            while pending:
                results.append(pending.popleft().result())
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None
        finally:
            for future in pending:  # a failed chunk or a bad record: nothing more is worth computing
                future.cancel()
        return _join(results)

    def _request(self, model, version, signature_name, inputs: dict[str, np.ndarray]):
        request = predict_pb2.PredictRequest()
        self._spec(request, model, version, signature_name)
        for name, array in inputs.items():
            to_tensor_proto(array, request.inputs[name])
        return request

    def classify(self, model: str, version: int | None, signature_name: str, examples) -> list[list[tuple[str, float]]]:
        """Per example, its (label, score) pairs in the model's order (an ExampleInput in, one Classify call)."""
        request = classification_pb2.ClassificationRequest()
        self._example_request(request, model, version, signature_name, examples)
        predict_stub, _ = self._stubs()
        try:
            response = predict_stub.Classify(request, timeout=self.deadline)
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None
        return [[(c.label, c.score) for c in item.classes] for item in response.result.classifications]

    def regress(self, model: str, version: int | None, signature_name: str, examples) -> list[float]:
        """Per example, its regression value (an ExampleInput in, one Regress call)."""
        request = regression_pb2.RegressionRequest()
        self._example_request(request, model, version, signature_name, examples)
        predict_stub, _ = self._stubs()
        try:
            response = predict_stub.Regress(request, timeout=self.deadline)
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None
        return [item.value for item in response.result.regressions]

    def _example_request(self, request, model, version, signature_name, examples) -> None:
        self._spec(request, model, version, signature_name)
        if examples.context is None:
            request.input.example_list.examples.extend(examples.examples)
        else:
            request.input.example_list_with_context.examples.extend(examples.examples)
            request.input.example_list_with_context.context.CopyFrom(examples.context)

    def reload_config(self, models, timeout: float) -> None:
        """ModelService/HandleReloadConfigRequest with the whole list (TF Serving replaces its list with it)."""
        config = model_server_config_pb2.ModelServerConfig()
        config.model_config_list.SetInParent()  # an empty list (the last model unloaded) is still a list to TFS
        for entry in models:
            model = config.model_config_list.config.add(
                name=entry.name, base_path=str(entry.base_path), model_platform="tensorflow"
            )
            model.model_version_policy.specific.versions.extend(entry.versions)
        _, model_stub = self._stubs()
        request = model_management_pb2.ReloadConfigRequest(config=config)
        try:
            response = model_stub.HandleReloadConfigRequest(request, timeout=timeout)
        except grpc.RpcError as error:
            raise map_rpc_error(error) from None
        if response.status.error_code:
            raise UpstreamError(f"TF Serving could not reload its models: {response.status.error_message}")

    def server_up(self, timeout: float = 2.0) -> bool:
        """TF Serving answers RPCs (any model's status, even NOT_FOUND, means it is serving)."""
        _, model_stub = self._stubs()
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "byoc-liveness-probe"
        try:
            model_stub.GetModelStatus(request, timeout=timeout)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return True

    def model_available(self, model: str, timeout: float = 2.0) -> bool:
        return self.model_state(model, timeout)[0]

    def model_state(self, model: str, timeout: float = 2.0) -> tuple[bool, str | None]:
        """(some version AVAILABLE, load error when every version ended in one)."""
        _, model_stub = self._stubs()
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        try:
            response = model_stub.GetModelStatus(request, timeout=timeout)
        except grpc.RpcError:
            return False, None
        statuses = list(response.model_version_status)
        if any(v.state == _AVAILABLE for v in statuses):
            return True, None
        failed = [v for v in statuses if v.state == _END and v.status.error_code != 0]
        if statuses and len(failed) == len(statuses):
            return False, "; ".join(f"version {v.version}: {v.status.error_message}" for v in failed)
        return False, None


def _join(responses) -> tuple[dict[str, np.ndarray], int | None]:
    """Concatenate chunk outputs along the batch axis; an unbatched (scalar) output is the same in every chunk."""
    first = responses[0]
    served = first.model_spec.version.value if first.model_spec.HasField("version") else None
    outputs = {}
    for name in first.outputs:
        parts = [from_tensor_proto(response.outputs[name]) for response in responses]
        outputs[name] = parts[0] if len(parts) == 1 or parts[0].ndim == 0 else np.concatenate(parts)
    return outputs, served
