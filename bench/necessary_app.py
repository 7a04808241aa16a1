"""P4f's, P5e's and P5f's app: bench.floor_app plus only the work a proxy cannot skip
(bench.proxy_split.necessary_forwarder: for a PNG, decode it; for a TFRecord batch, frame and parse the records and
decode their PNGs; then build the PredictRequest from the pixels and answer JSON of the response), under the same
gunicorn command line as the floor and the proxy:

    gunicorn <our gunicorn options> bench.necessary_app:application

Its CPU per request is the least P4c (over the floor's) and P5b can read for any proxy that does this work with our
functions, and its TFRecord batches per second (P5f) the most P5 can.
"""

from __future__ import annotations

import threading

from bench.proxy_split import necessary_forwarder
from serve_container.app import create_app, pick_signature
from serve_container.contract import load_settings
from serve_container.protos import prediction_service_pb2_grpc

# The settings, the gRPC client and the decode options exactly as the app builds them (serve_container.app).
_settings = load_settings()
_service = create_app(_settings).config["service"]
_lock = threading.Lock()
_forwarder = None


def application(environ, start_response):
    global _forwarder
    with _lock:
        if _forwarder is None:  # after the fork, like the app's channel: one per worker
            stub = prediction_service_pb2_grpc.PredictionServiceStub(_service.client.channel())
            signature = pick_signature(_service.client.signatures(_settings.model_name), None)
            options = _service.options.for_model(_settings.model_dir, None)
            _forwarder = necessary_forwarder(stub, _service, signature, options, _settings.model_name)
    return _forwarder(environ, start_response)
