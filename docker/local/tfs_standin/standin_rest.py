"""TF Serving's REST API (--rest_api_port) over the same ModelManager: model status, metadata and :predict with
the real server's request and response shapes (tensorflow_serving/g3doc/api_rest.md).

  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            {"model_version_status": [...]}
  GET  /v1/models/{name}[/versions/{v}]/metadata               {"model_spec": ..., "metadata": {"signature_def"}}
  POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    row ("instances" -> "predictions") or
                                                                columnar ("inputs" -> "outputs") format
  POST /v1/models/{name}[...]:classify | :regress              {"examples": [...], "context"?, "signature_name"?}
                                                                -> {"results": [[[label, score]...]...] | [v...]}
Errors are {"error": message} with TFS's HTTP status for the gRPC code.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from standin_servable import ServingError
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)

log = logging.getLogger("tfs_standin")
_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>/metadata|:predict|:classify|:regress)?$"
)
# http_rest_api_handler's ToHTTPStatusCode.
_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_STATE = get_model_status_pb2.ModelVersionStatus.State


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _value(item):
    if isinstance(item, dict) and set(item) == {"b64"}:
        return base64.b64decode(item["b64"])
    if isinstance(item, list):
        return [_value(v) for v in item]
    return item.encode("utf-8") if isinstance(item, str) else item


def _tensor(values, info) -> np.ndarray:
    dtype = tf.as_dtype(info.dtype)
    try:
        array = np.asarray(_value(values), dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
    except (TypeError, ValueError) as err:
        raise _invalid(f"JSON value for a {dtype.name} input: {err}") from err
    return array


def _inputs(body: dict, signature) -> tuple[dict[str, np.ndarray], bool]:
    names = sorted(signature.inputs)
    if "instances" in body and "inputs" in body:
        raise _invalid("JSON Value: both 'instances' and 'inputs' given; use one")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise _invalid("'instances' must be a non-empty list")
        if all(isinstance(r, dict) and not set(r) <= {"b64"} for r in rows):
            return {n: _tensor([r[n] for r in rows], signature.inputs[n]) for n in names if n in rows[0]}, False
        if len(names) != 1:
            raise _invalid(f"instances must be objects naming the inputs {names}")
        return {names[0]: _tensor(rows, signature.inputs[names[0]])}, False
    if "inputs" in body:
        columns = body["inputs"]
        if isinstance(columns, dict) and not set(columns) <= {"b64"}:
            return {n: _tensor(v, signature.inputs[n]) for n, v in columns.items() if n in signature.inputs}, True
        if len(names) != 1:
            raise _invalid(f"inputs must be an object naming the inputs {names}")
        return {names[0]: _tensor(columns, signature.inputs[names[0]])}, True
    raise _invalid("Missing 'inputs' or 'instances' key")


def _json(array: np.ndarray):
    if array.dtype.kind in ("O", "S"):
        flat = []
        for v in array.reshape(-1):
            try:
                flat.append(v.decode("utf-8"))
            except UnicodeDecodeError:
                flat.append({"b64": base64.b64encode(v).decode("ascii")})
        return np.asarray(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def _predict_body(outputs: dict[str, np.ndarray], columnar: bool) -> dict:
    if columnar:
        if len(outputs) == 1:
            return {"outputs": _json(next(iter(outputs.values())))}
        return {"outputs": {k: _json(v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": _json(next(iter(outputs.values())))}
    names = sorted(outputs)
    rows = zip(*(_json(outputs[n]) for n in names), strict=True)
    return {"predictions": [dict(zip(names, row, strict=True)) for row in rows]}


def _feature(name: str, content, feature) -> None:
    """json_tensor.cc AddValueToFeature: ints and bools int64, decimals float, strings and b64 bytes; one kind."""
    for value in content if isinstance(content, list) else [content]:
        if isinstance(value, int):  # bool is an int too: 1 or 0
            kind, item = "int64_list", int(value)
            if not -(2**63) <= item < 2**63:
                raise _invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        elif isinstance(value, float):
            kind, item = "float_list", value
        elif isinstance(value, str):
            kind, item = "bytes_list", value.encode("utf-8")
        elif isinstance(value, dict) and set(value) == {"b64"}:
            kind, item = "bytes_list", base64.b64decode(value["b64"])
        else:
            raise _invalid(f"Feature: {name} has element with unexpected JSON type: {type(value).__name__}")
        current = feature.WhichOneof("kind")
        if current not in (None, kind):
            raise _invalid(f"Unexpected element type in feature: {name} expecting type: {current.split('_')[0]}")
        getattr(feature, kind).value.append(item)


def _example(value, example) -> None:
    if not isinstance(value, dict):
        raise _invalid(f"Example must be JSON object but got JSON {type(value).__name__}")
    for name, content in value.items():
        _feature(name, content, example.features.feature[name])


def _examples_request(body: dict, request) -> None:
    """FillClassifyRegressRequestFromJson: optional context, then 'examples' (its error texts say 'classify' for
    both methods, as TF Serving's do)."""
    if "context" in body:
        _example(body["context"], request.input.example_list_with_context.context)
    if "examples" not in body:
        raise _invalid("When method is classify, key 'examples' is expected and was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise _invalid("Expecting 'examples' value to be an list/array")
    if not examples:
        raise _invalid("'examples' value is an empty array")
    target = request.input.example_list_with_context if "context" in body else request.input.example_list
    for value in examples:
        _example(value, target.examples.add())


class _Handler(BaseHTTPRequestHandler):
    manager = None  # set by serve_rest
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet, like TFS at its default verbosity
        log.debug(fmt, *args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self):
        match = _PATH.match(self.path.split("?", 1)[0])
        if not match:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {self.command} {self.path}")
        version = int(match["version"]) if match["version"] else None
        return match["name"], version, match["label"] or "", match["tail"] or ""

    def _handle(self, method: str) -> None:
        try:
            name, version, label, tail = self._route()
            self._send(200, self._answer(method, name, version, label, tail))
        except ServingError as err:
            self._send(_HTTP.get(err.code, 500), {"error": err.message})

    def _json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError as err:
            raise _invalid(f"JSON Parse error: {err}") from err
        if not isinstance(body, dict):
            raise _invalid("JSON Value: request body must be an object")
        return body

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _answer(self, method: str, name: str, version: int | None, label: str, tail: str) -> dict:
        if method == "GET" and tail == "":
            states = self.manager.status(name, version)
            return {
                "model_version_status": [
                    {
                        "version": str(s.version),
                        "state": _STATE.Name(s.state),
                        "status": {
                            "error_code": grpc.StatusCode(_code(s.error_code)).name,
                            "error_message": s.error_message,
                        },
                    }
                    for s in states
                ]
            }
        servable = self.manager.servable(name, version, label)
        if method == "GET" and tail == "/metadata":
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in servable.signature_defs.items():
                signature_map.signature_def[key].CopyFrom(signature)
            return {
                "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {
                    "signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
                },
            }
        if method == "POST" and tail in (":classify", ":regress"):
            body = self._json_body()
            classify = tail == ":classify"
            request = classification_pb2.ClassificationRequest() if classify else regression_pb2.RegressionRequest()
            request.model_spec.name = name
            if isinstance(body.get("signature_name"), str):
                request.model_spec.signature_name = body["signature_name"]
            _examples_request(body, request)
            if classify:
                response = classification_pb2.ClassificationResponse()
                servable.classify(request, response)
                results = [[[c.label, c.score] for c in item.classes] for item in response.result.classifications]
            else:
                response = regression_pb2.RegressionResponse()
                servable.regress(request, response)
                results = [item.value for item in response.result.regressions]
            return {"results": results}
        if method == "POST" and tail == ":predict":
            body = self._json_body()
            signature_name = body.get("signature_name") or "serving_default"
            if signature_name not in servable.signature_defs:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{signature_name}" not found.'
                )
            inputs, columnar = _inputs(body, servable.signature_defs[signature_name])
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = name, signature_name
            for key, array in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
            response = predict_pb2.PredictResponse()
            servable.predict(request, response)
            outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
            return _predict_body(outputs, columnar)
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {method} {self.path}")


def _code(error_code: int) -> tuple:
    for code in grpc.StatusCode:
        if code.value[0] == error_code:
            return code.value
    return grpc.StatusCode.UNKNOWN.value


def serve_rest(manager, port: int) -> ThreadingHTTPServer:
    """Bind (OSError if the port is taken, as TFS fails to start) and serve on a daemon thread."""
    handler = type("Handler", (_Handler,), {"manager": manager})
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="rest", daemon=True).start()
    log.info("Exporting HTTP/REST API at:localhost:%d ...", port)
    return server
