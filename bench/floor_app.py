"""P4c's floor: the least a Python HTTP -> gRPC forwarder can do under our gunicorn settings and gRPC channel.

    gunicorn <our gunicorn options> bench.floor_app:application

It reads the body (as any app must), sends a PredictRequest serialized once at start-up (BENCH_FLOOR_REQUEST)
through a channel opened exactly as the app's (serve_container.tfs_client.TfsClient), and answers the response's
bytes. No routing, decoding, tensor building or JSON: what the proxy spends above this is ours.
"""

from __future__ import annotations

import os
from pathlib import Path

from serve_container.contract import load_settings
from serve_container.protos import predict_pb2, prediction_service_pb2_grpc
from serve_container.tfs_client import TfsClient

# Where TF Serving is and the deadline, read as the app reads them (serve_container.contract); the request file is
# the one input of bench's own, set by bench.serving.start_reference.
_settings = load_settings()
DEADLINE_SECONDS = _settings.grpc_deadline_seconds
_request = predict_pb2.PredictRequest.FromString(Path(os.environ["BENCH_FLOOR_REQUEST"]).read_bytes())
_client = TfsClient(_settings.grpc_target, DEADLINE_SECONDS)
_stub = None


def application(environ, start_response):
    global _stub
    if _stub is None:  # after the fork, like the app's channel: one per worker
        _stub = prediction_service_pb2_grpc.PredictionServiceStub(_client.channel())
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    body = _stub.Predict(_request, timeout=DEADLINE_SECONDS).SerializeToString()
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]
