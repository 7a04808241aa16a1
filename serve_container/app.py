"""Flask app (gunicorn: `serve_container.app:create_app()`): /ping, /invocations, /execution-parameters.

The request path is a straight line: body -> decoder -> numpy -> TensorProto -> gRPC Predict -> encoder.
Optional hooks wrap the two ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from serve_container import decoders, encoders
from serve_container.contract import Settings, load_settings
from serve_container.custom_attributes import HEADER, Route, parse_route
from serve_container.decoders.arrays import batch_size
from serve_container.decoders.tabular import decode_json, json_signature_name
from serve_container.errors import BadRequest, ModelUnavailable, PayloadTooLarge, ServingError
from serve_container.handlers import Context, Hooks, TfsResponse, call_hook, input_stream, load_hooks
from serve_container.signature import DEFAULT_SIGNATURE, Signature
from serve_container.tfs_client import TfsClient

log = logging.getLogger("serve_container.app")
_READ_CHUNK = 1024 * 1024


def _json_response(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def read_body(limit: int) -> bytes:
    """At most `limit` bytes: refused from Content-Length before reading, else by reading limit + 1."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(
            f"payload of {length} bytes exceeds the {limit}-byte limit (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    chunks, size = [], 0
    while size <= limit:
        chunk = request.stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"chunked payload exceeds the {limit}-byte limit (SAGEMAKER_MAX_PAYLOAD_IN_MB)")
    return b"".join(chunks)


def pick_signature(signatures: dict[str, Signature], name: str | None) -> Signature:
    if name:
        if name not in signatures:
            raise BadRequest(f"unknown signature {name!r}; the model has {sorted(signatures)}")
        return signatures[name]
    if DEFAULT_SIGNATURE in signatures:
        return signatures[DEFAULT_SIGNATURE]
    if len(signatures) == 1:
        return next(iter(signatures.values()))
    raise BadRequest(
        f"the model has several signatures {sorted(signatures)}; name one with tfs-signature-name"
    )


def hook_inputs(result, signature: Signature) -> dict[str, np.ndarray]:
    """What an input_handler may return: TFS REST JSON (str/bytes/dict/list), an array, or arrays by name."""
    if isinstance(result, np.ndarray):
        spec = signature.single_input()
        return {spec.name: result}
    if isinstance(result, dict) and result and all(isinstance(v, np.ndarray) for v in result.values()):
        return result
    if isinstance(result, (dict, list)):
        result = json.dumps(result)
    if isinstance(result, str):
        result = result.encode("utf-8")
    if not isinstance(result, bytes):
        raise BadRequest(f"input_handler returned {type(result).__name__}; expected TFS REST JSON or arrays")
    return decode_json(result, signature)


class Service:
    """Per-worker state: settings, the gRPC client, hooks, cached labels and readiness."""

    def __init__(self, settings: Settings, client: TfsClient, hooks: Hooks):
        self.settings = settings
        self.client = client
        self.hooks = hooks
        self.options = decoders.DecodeOptions(settings.tfrecord_image_key, settings.max_image_pixels)
        self._labels: dict[int | None, tuple[str, ...] | None] = {}
        self._ping_lock = threading.Lock()
        self._ping = (0.0, False)

    def ready(self) -> bool:
        with self._ping_lock:
            checked_at, ok = self._ping
            if time.monotonic() - checked_at < self.settings.ping_cache_seconds:
                return ok
        ok = self.client.model_available(self.settings.model_name)
        with self._ping_lock:
            self._ping = (time.monotonic(), ok)
        return ok

    def mark_unready(self) -> None:
        # A request just saw TF Serving down: /ping must say so now, not when the cached answer expires.
        with self._ping_lock:
            self._ping = (time.monotonic(), False)

    def labels(self, route: Route, version: int | None):
        if route.model_name != self.settings.model_name or version is None:
            return None
        if version not in self._labels:
            self._labels[version] = encoders.read_labels(
                Path(self.settings.model_dir, str(version), "assets", "labels.txt")
            )
        return self._labels[version]

    def context(self, route: Route, length: int) -> Context:
        return Context(
            route.model_name,
            None if route.version is None else str(route.version),
            route.method,
            None,  # TF Serving's REST API is off: the app talks gRPC
            self.settings.tfs_grpc_port,
            None,
            request.headers.get(HEADER),
            request.headers.get("Content-Type") or "application/json",
            request.headers.get("Accept") or self.settings.default_accept,
            length,
        )

    def invoke(self) -> Response:
        route = parse_route(request.headers.get(HEADER), self.settings.model_name)
        body = read_body(self.settings.max_payload_bytes)
        if not body:
            raise BadRequest("empty request body")
        context = self.context(route, len(body)) if self.hooks.any else None  # only user code reads it
        if self.hooks.handler:
            return self._hook_response(call_hook(self.hooks.handler, input_stream(body), context))

        media = None if self.hooks.input_handler else decoders.canonical_media_type(request.content_type)
        accept, top_k = "application/json", 0
        if self.hooks.output_handler is None:
            accept, top_k = encoders.negotiate(
                request.headers.get("Accept"), self.settings.default_accept, self.settings.top_k
            )
        signatures = self.client.signatures(route.model_name, route.version)
        chunk_size = self.settings.chunk_size
        if media is None:
            result = call_hook(self.hooks.input_handler, input_stream(body), context)
            signature = pick_signature(signatures, route.signature_name)
            inputs = hook_inputs(result, signature)
            g.batch, chunks = batch_size(inputs), decoders.split_batch(inputs, chunk_size)
        else:
            name = route.signature_name
            if media == "application/json" and not name:
                name = json_signature_name(body)
            signature = pick_signature(signatures, name)
            g.batch, chunks = decoders.decode_chunks(media, body, signature, self.options, chunk_size)
        if decoders.fits_one_chunk(g.batch, chunk_size):  # the common case: one cheaper blocking call
            outputs, served = self.client.predict(route.model_name, route.version, signature.name, next(chunks))
        else:
            outputs, served = self.client.predict_chunks(route.model_name, route.version, signature.name, chunks)

        if self.hooks.output_handler:
            tfs = TfsResponse(encoders.encode("application/json", outputs), 200, outputs)
            return self._hook_response(call_hook(self.hooks.output_handler, tfs, context))
        labels = self.labels(route, served) if top_k else None
        return Response(encoders.encode(accept, outputs, labels, top_k), mimetype=accept)

    @staticmethod
    def _hook_response(result) -> Response:
        if isinstance(result, tuple) and len(result) == 2:
            content, content_type = result
        else:
            content, content_type = result, "application/json"
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise BadRequest(f"hook returned {type(content).__name__}; expected (body, content_type)")
        return Response(content, mimetype=content_type)


def create_app(settings: Settings | None = None, client: TfsClient | None = None) -> Flask:
    settings = settings or load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    client = client or TfsClient(settings.grpc_target, settings.grpc_deadline_seconds)
    hooks = load_hooks(settings.code_dir) if settings.enable_hooks else Hooks()
    service = Service(settings, client, hooks)
    app = Flask("serve_container")
    app.config["service"] = service

    @app.get("/ping")
    def ping():
        if service.ready():
            return Response(status=200)
        return _json_response({"error": f"model {settings.model_name!r} is not available"}, 503)

    @app.post("/invocations")
    def invocations():
        return service.invoke()

    @app.get("/execution-parameters")
    def execution_parameters():
        return _json_response(
            {
                "MaxConcurrentTransforms": settings.max_concurrent_transforms,
                "BatchStrategy": settings.batch_strategy,
                "MaxPayloadInMB": settings.max_payload_mb,
            }
        )

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        # /ping is polled every few seconds by SageMaker: keeping it out of INFO keeps the logs readable.
        level = logging.DEBUG if request.path == "/ping" else logging.INFO
        if log.isEnabledFor(level):
            elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            log.log(
                level,
                "%s %s %s batch=%s %.1fms",
                request.method,
                request.path,
                response.status_code,
                g.get("batch", "-"),
                elapsed,
            )
        return response

    @app.errorhandler(ServingError)
    def serving_error(error: ServingError):
        if isinstance(error, ModelUnavailable):
            service.mark_unready()
        if isinstance(error, ModelUnavailable) or error.status >= 500:
            log.warning("%s: %s", type(error).__name__, error.message)
        return _json_response({"error": error.message}, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _json_response({"error": error.description}, error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error")
        return _json_response({"error": f"internal error: {type(error).__name__}: {error}"}, 500)

    return app
