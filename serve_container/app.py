"""Flask app (gunicorn: `serve_container.app:create_app()`): /ping, /invocations, /execution-parameters, and the
multi-model /models API.

The request path is a straight line: body -> decoder -> numpy -> TensorProto -> gRPC Predict -> encoder.
Optional hooks wrap the two ends. The two inference routes (/invocations, /models/<name>/invoke) are answered by
InvokeRoutes, a WSGI middleware in front of Flask's request context; every other route is a Flask view.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from flask import Flask, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.utils import get_content_type
from werkzeug.wsgi import get_content_length, get_input_stream

from serve_container import decoders, encoders, jsontext
from serve_container.contract import MB, Settings, load_settings
from serve_container.custom_attributes import HEADER, TARGET_MODEL_HEADER, Route, parse_route
from serve_container.decoders import examples as example_bodies
from serve_container.decoders.arrays import batch_size
from serve_container.decoders.tabular import decode_json, json_signature_name
from serve_container.errors import BadRequest, CatalogError, ModelUnavailable, PayloadTooLarge, ServingError
from serve_container.handlers import Context, Hooks, HookSet, TfsResponse, call_hook, input_stream, load_hooks
from serve_container.model_catalog import ModelEntry, Registry, StaticCatalog
from serve_container.multi_model import MultiModelManager
from serve_container.signature import DEFAULT_SIGNATURE, METHOD_NAMES, Signature
from serve_container.tfs_client import TfsClient

log = logging.getLogger("serve_container.app")
_READ_CHUNK = 1024 * 1024
BATCH_KEY = "byoc.batch"  # the request's batch size, for the access log (environ outlives Flask's context)


class Reply(NamedTuple):
    """A whole answer. InvokeRoutes writes it to WSGI itself; Flask views return it as the (body, status, headers)
    tuple Flask takes."""

    body: bytes
    status: int
    headers: dict[str, str]

    @classmethod
    def of(cls, body: bytes, media_type: str, status: int = 200) -> Reply:
        # get_content_type: the charset parameter exactly where werkzeug's Response would add it (text/*).
        return cls(body, status, {"Content-Type": get_content_type(media_type, "utf-8")})

    def __call__(self, environ, start_response):
        headers = [*self.headers.items(), ("Content-Length", str(len(self.body)))]
        start_response(_STATUS_LINES.get(self.status) or f"{self.status} UNKNOWN", headers)
        return [self.body]


_STATUS_LINES = {code: f"{code} {phrase.upper()}" for code, phrase in HTTP_STATUS_CODES.items()}


def _json_response(payload, status: int = 200) -> Reply:
    return Reply.of(jsontext.dumps(payload), "application/json", status)


def _environ_key(header: str) -> str:
    """Where WSGI puts an HTTP request header: `HTTP_` + its name upper-cased, dashes as underscores (PEP 3333)."""
    return "HTTP_" + header.upper().replace("-", "_")


_CUSTOM_ATTRIBUTES_KEY = _environ_key(HEADER)


class InvokeRequest:
    """What the inference routes read of a request, straight from its WSGI environ (werkzeug's helpers where the
    rule is not a plain key: Content-Length against chunked bodies, the input stream).

    Not werkzeug's Request: building one and looking up its headers costs ~4.5 us per request in a hot loop, and
    2-3x that inside a request (bench P4d), for values that are environ keys.
    """

    __slots__ = ("environ",)

    def __init__(self, environ: dict):
        self.environ = environ

    @property
    def method(self) -> str:
        return self.environ.get("REQUEST_METHOD", "GET")

    @property
    def content_type(self) -> str | None:
        return self.environ.get("CONTENT_TYPE")

    @property
    def accept(self) -> str | None:
        return self.environ.get("HTTP_ACCEPT")

    @property
    def custom_attributes(self) -> str | None:
        return self.environ.get(_CUSTOM_ATTRIBUTES_KEY)

    @property
    def content_length(self) -> int | None:
        return get_content_length(self.environ)

    @property
    def stream(self):
        return get_input_stream(self.environ)


def read_body(request: InvokeRequest, limit: int) -> bytes:
    """At most `limit` bytes: refused from Content-Length before reading, else by reading limit + 1."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(
            f"payload of {length} bytes exceeds the {limit}-byte limit (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    if length is not None:  # the common case: one read of exactly the announced bytes, no stream wrapper
        return request.environ["wsgi.input"].read(length)
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


def pick_method_signature(signatures: dict[str, Signature], name: str | None, method: str) -> Signature:
    """Classify / Regress run one signature of their own kind, by name or serving_default, as TF Serving does."""
    wanted = METHOD_NAMES[method]
    name = name or DEFAULT_SIGNATURE
    signature = signatures.get(name)
    if signature is not None and signature.method_name == wanted:
        return signature
    of_kind = sorted(n for n, s in signatures.items() if s.method_name == wanted)
    what = f"has no signature {name!r}" if signature is None else f"signature {name!r} is {signature.method_name}"
    if of_kind:
        hint = f"name one of its {method} signatures {of_kind} with tfs-signature-name"
    else:
        hint = f"it has no {method} signature (method_name {wanted}); send tfs-method=predict"
    raise BadRequest(f"tfs-method={method}: the model {what}; {hint}")


def tfs_json_fields(result) -> tuple[str | None, bool]:
    """From TFS REST JSON an input_handler returned: its `signature_name`, and whether it is columnar (`inputs`,
    answered under `outputs` as TF Serving does)."""
    payload = result
    if isinstance(result, (str, bytes)):
        try:
            payload = jsontext.loads(result)
        except (ValueError, RecursionError):
            return None, False
    if not isinstance(payload, dict):
        return None, False
    name = payload.get("signature_name")
    return (name if isinstance(name, str) and name else None), "inputs" in payload


def hook_inputs(result, signature: Signature) -> dict[str, np.ndarray]:
    """What an input_handler may return: TFS REST JSON (str/bytes/dict/list), an array, or arrays by name."""
    if isinstance(result, np.ndarray):
        spec = signature.single_input()
        return {spec.name: result}
    if isinstance(result, dict) and result and all(isinstance(v, np.ndarray) for v in result.values()):
        return result
    if isinstance(result, (dict, list)):
        result = jsontext.dumps(result)
    if isinstance(result, str):
        result = result.encode("utf-8")
    if not isinstance(result, bytes):
        raise BadRequest(f"input_handler returned {type(result).__name__}; expected TFS REST JSON or arrays")
    return decode_json(result, signature)


class Service:
    """Per-worker state: settings, the gRPC client, the models, hooks, cached labels and readiness."""

    def __init__(self, settings: Settings, client: TfsClient, models, hooks: HookSet):
        self.settings = settings
        self.client = client
        self.models = models  # StaticCatalog or Registry: both answer get(name) -> ModelEntry, else 404
        self.hooks = hooks
        self.default_model = None if settings.multi_model else models.default
        self.options = decoders.DecodeOptions(settings.tfrecord_image_key, settings.max_image_pixels)
        self._labels: dict[tuple[Path, int, int], tuple[str, ...] | None] = {}
        self._ping_lock = threading.Lock()
        self._ping = (0.0, False)

    def ready(self) -> bool:
        with self._ping_lock:
            checked_at, ok = self._ping
            if time.monotonic() - checked_at < self.settings.ping_cache_seconds:
                return ok
        # Multi-model: zero models loaded is healthy, TF Serving itself must answer.
        multi = self.settings.multi_model
        ok = self.client.server_up() if multi else self.client.model_available(self.default_model)
        with self._ping_lock:
            self._ping = (time.monotonic(), ok)
        return ok

    def mark_unready(self) -> None:
        # A request just saw TF Serving down: /ping must say so now, not when the cached answer expires.
        with self._ping_lock:
            self._ping = (time.monotonic(), False)

    def error_response(self, error: Exception) -> Reply:
        """Every failure as JSON `{"error": ...}` with its status: ours (ServingError), HTTP's, and anything else as
        a 500 that names it. Flask's error handler and InvokeRoutes both answer with this."""
        if isinstance(error, ServingError):
            if isinstance(error, ModelUnavailable):
                self.mark_unready()
            if isinstance(error, ModelUnavailable) or error.status >= 500:
                log.warning("%s: %s", type(error).__name__, error.message)
            return _json_response({"error": error.message}, error.status)
        if isinstance(error, HTTPException):
            return _json_response({"error": error.description}, error.code or 500)
        log.exception("unexpected error", exc_info=error)
        return _json_response({"error": f"internal error: {type(error).__name__}: {error}"}, 500)

    def labels(self, entry: ModelEntry, version: int | None):
        if version is None:
            return None
        key = (entry.base_path, entry.generation, version)
        if key not in self._labels:
            self._labels[key] = encoders.read_labels(entry.base_path / str(version) / "assets" / "labels.txt")
        return self._labels[key]

    def context(self, request: InvokeRequest, route: Route, length: int) -> Context:
        version = "" if route.version is None else f"/versions/{route.version}"
        return Context(
            model_name=route.model_name,
            model_version=None if route.version is None else str(route.version),
            method=route.method,
            rest_uri=f"{self.settings.rest_base}/v1/models/{route.model_name}{version}:{route.method}",
            grpc_port=self.settings.tfs_grpc_port,
            channel=self.client.channel(),
            custom_attributes=request.custom_attributes,
            request_content_type=request.content_type or "application/json",
            accept_header=request.accept or self.settings.default_accept,
            content_length=length,
        )

    def route(self, request: InvokeRequest, path_model: str | None) -> Route:
        default = path_model or self.default_model
        route = parse_route(request.custom_attributes, default or "")
        if path_model:  # /models/<name>/invoke: the path names the model, whatever the attributes say
            return dataclasses.replace(route, model_name=path_model)
        if not route.model_name:
            raise BadRequest("a multi-model endpoint needs /models/<name>/invoke or tfs-model-name")
        return route

    def invoke(self, request: InvokeRequest, path_model: str | None = None) -> Reply:
        route = self.route(request, path_model)
        entry = self.models.get(route.model_name)
        hooks = self.hooks.for_model(entry.code_dir, entry.generation)
        body = read_body(request, self.settings.max_payload_bytes)
        if not body:
            raise BadRequest("empty request body")
        context = self.context(request, route, len(body)) if hooks.any else None  # only user code reads it
        if hooks.handler:
            return self._hook_response(call_hook(hooks.handler, input_stream(body), context))
        if route.method != "predict":
            return self._invoke_examples(request, route, entry, hooks, body, context)

        media = None if hooks.input_handler else decoders.canonical_media_type(request.content_type)
        accept, top_k = "application/json", 0
        if hooks.output_handler is None:
            accept, top_k = encoders.negotiate(request.accept, self.settings.default_accept, self.settings.top_k)
        signatures = self.client.signatures(route.model_name, route.version, entry.generation)
        chunk_size = self.settings.chunk_size
        columnar = False
        if media is None:
            result = call_hook(hooks.input_handler, input_stream(body), context)
            hook_signature, columnar = tfs_json_fields(result)
            signature = pick_signature(signatures, route.signature_name or hook_signature)
            inputs = hook_inputs(result, signature)
            batch, chunks = batch_size(inputs), decoders.split_batch(inputs, chunk_size)
        else:
            name = route.signature_name
            if media == "application/json" and not name:
                name = json_signature_name(body)
            signature = pick_signature(signatures, name)
            batch, chunks = decoders.decode_chunks(
                media, body, signature, self.options.for_model(entry.base_path, route.version), chunk_size
            )
        request.environ[BATCH_KEY] = batch
        try:
            if decoders.fits_one_chunk(batch, chunk_size):  # the common case: one cheaper blocking call
                outputs, served = self.client.predict(route.model_name, route.version, signature.name, next(chunks))
            else:
                outputs, served = self.client.predict_chunks(
                    route.model_name, route.version, signature.name, chunks
                )
        except ServingError as error:
            if not hooks.output_handler:
                raise
            return self._hook_response(call_hook(hooks.output_handler, _failed(error), context))

        if hooks.output_handler:
            content = encoders.encode_columnar(outputs) if columnar else encoders.encode("application/json", outputs)
            tfs = TfsResponse(content, 200, outputs)
            return self._hook_response(call_hook(hooks.output_handler, tfs, context))
        labels = self.labels(entry, served) if top_k else None
        return Reply.of(encoders.encode(accept, outputs, labels, top_k), accept)

    def _invoke_examples(
        self, request: InvokeRequest, route: Route, entry: ModelEntry, hooks: Hooks, body: bytes, context
    ) -> Reply:
        """tfs-method classify / regress: tf.train.Examples through TF Serving's Classify / Regress."""
        accept = "application/json"
        if hooks.output_handler is None:
            accept, _ = encoders.negotiate(request.accept, self.settings.default_accept, 0)
        if hooks.input_handler:
            examples = example_bodies.from_hook(call_hook(hooks.input_handler, input_stream(body), context))
        else:
            media = decoders.canonical_media_type(request.content_type)
            examples = example_bodies.decode_examples(media, body)
        request.environ[BATCH_KEY] = len(examples.examples)
        signatures = self.client.signatures(route.model_name, route.version, entry.generation)
        signature = pick_method_signature(signatures, route.signature_name or examples.signature_name, route.method)
        call = self.client.classify if route.method == "classify" else self.client.regress
        try:
            results = []
            for part in examples.chunks(self.settings.chunk_size):
                results.extend(call(route.model_name, route.version, signature.name, part))
        except ServingError as error:
            if not hooks.output_handler:
                raise
            return self._hook_response(call_hook(hooks.output_handler, _failed(error), context))
        if hooks.output_handler:
            tfs = TfsResponse(encoders.encode_results("application/json", route.method, results), 200)
            return self._hook_response(call_hook(hooks.output_handler, tfs, context))
        return Reply.of(encoders.encode_results(accept, route.method, results), accept)

    @staticmethod
    def _hook_response(result) -> Reply:
        if isinstance(result, tuple) and len(result) == 2:
            content, content_type = result
        else:
            content, content_type = result, "application/json"
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise BadRequest(f"hook returned {type(content).__name__}; expected (body, content_type)")
        return Reply.of(content, content_type)


def _failed(error: ServingError) -> TfsResponse:
    # As the DLC's requests.post would: an output_handler sees TF Serving's status and REST error body.
    return TfsResponse(jsontext.dumps({"error": error.message}), error.status)


def _catalog(settings: Settings):
    if settings.multi_model:
        return Registry(settings.run_dir)
    try:
        return StaticCatalog.from_settings(settings)
    except CatalogError:
        # The supervisor refuses to start on this; an app run on its own (tests, a hand-started gunicorn) still
        # answers, routing to the one model TF Serving would have under the default name.
        return StaticCatalog((ModelEntry(settings.model_name, settings.model_dir.resolve(), ()),), settings.model_name)


def create_app(settings: Settings | None = None, client: TfsClient | None = None) -> Flask:
    settings = settings or load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    client = client or TfsClient(settings.grpc_target, settings.grpc_deadline_seconds)
    shared = load_hooks(settings.code_dir) if settings.enable_hooks else Hooks()
    models = _catalog(settings)
    service = Service(settings, client, models, HookSet(shared, settings.code_dir, settings.enable_hooks))
    app = Flask("serve_container")
    app.config["service"] = service

    @app.get("/ping")
    def ping():
        if service.ready():
            return Reply.of(b"", "text/plain")
        what = "TF Serving" if settings.multi_model else f"model {service.default_model!r}"
        return _json_response({"error": f"{what} is not available"}, 503)

    if settings.multi_model:
        _multi_model_routes(app, service, MultiModelManager(settings, client, models))

    @app.get("/execution-parameters")
    def execution_parameters():
        return _json_response(
            {
                "MaxConcurrentTransforms": settings.max_concurrent_transforms,
                "BatchStrategy": settings.batch_strategy,
                "MaxPayloadInMB": settings.max_payload_mb,
            }
        )

    # Flask's own middleware slot: the access log outermost, then the inference routes, then Flask's views.
    app.wsgi_app = AccessLog(InvokeRoutes(service, app.wsgi_app))
    app.register_error_handler(Exception, service.error_response)
    return app


# SageMaker's original TargetModel (multi-model endpoints): for the logs only, as the contract says.
_TARGET_MODEL_KEY = _environ_key(TARGET_MODEL_HEADER)
_MODELS_PREFIX, _INVOKE_SUFFIX = "/models/", "/invoke"


class InvokeRoutes:
    """WSGI middleware: `/invocations` (and, multi-model, `/models/<name>/invoke`) straight to Service.invoke with
    an InvokeRequest, its Reply written to WSGI; every other path to Flask.

    Why not Flask views: Flask's per-request machinery (request and app contexts, URL adapter, session, signals,
    response finalizing) costs ~0.2 ms of CPU per request: half of what a bare HTTP -> gRPC forwarder costs in
    all in-process (bench P4d), a quarter of it under gunicorn (P4c). Errors are answered by the same
    Service.error_response that Flask's handler uses.
    """

    def __init__(self, service: Service, flask_wsgi_app):
        self.service = service
        self.flask_wsgi_app = flask_wsgi_app
        self.multi_model = service.settings.multi_model

    def path_model(self, path: str) -> str | None | bool:
        """None for /invocations, the model's name for /models/<name>/invoke, False for any other path."""
        if path == "/invocations":
            return None
        if self.multi_model and path.startswith(_MODELS_PREFIX) and path.endswith(_INVOKE_SUFFIX):
            name = path[len(_MODELS_PREFIX) : -len(_INVOKE_SUFFIX)]
            if name and "/" not in name:
                return name
        return False

    def __call__(self, environ, start_response):
        model = self.path_model(environ.get("PATH_INFO", ""))
        if model is False:
            return self.flask_wsgi_app(environ, start_response)
        request = InvokeRequest(environ)
        try:
            if request.method != "POST":
                raise MethodNotAllowed(valid_methods=["POST"])
            reply = self.service.invoke(request, model)
        except Exception as error:  # as Flask's handler would: every failure is a JSON answer, never a dead worker
            reply = self.service.error_response(error)
        return reply(environ, start_response)


class AccessLog:
    """WSGI wrapper: one line per request (method, path, status, batch size, ms, target model). A wrapper, not
    Flask's before/after_request hooks: with the level off, a request pays one isEnabledFor check."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        # /ping is polled every few seconds by SageMaker: keeping it out of INFO keeps the logs readable.
        level = logging.DEBUG if path == "/ping" else logging.INFO
        if not log.isEnabledFor(level):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        status = []

        def recording_start_response(line, headers, exc_info=None):
            status.append(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        body = self.wsgi_app(environ, recording_start_response)  # Flask has built the whole response by now
        target = environ.get(_TARGET_MODEL_KEY)
        log.log(
            level,
            "%s %s %s batch=%s %.1fms%s",
            environ.get("REQUEST_METHOD"),
            path,
            status[0] if status else "-",
            environ.get(BATCH_KEY, "-"),
            (time.perf_counter() - started) * 1000,
            f" target_model={target}" if target else "",
        )
        return body


def _model_json(entry: ModelEntry) -> dict:
    return {"modelName": entry.name, "modelUrl": entry.url}


def _multi_model_routes(app: Flask, service: Service, manager: MultiModelManager) -> None:
    """SageMaker's multi-model contract: LoadModel, ListModels (paginated), DescribeModel, UnloadModel, Invoke."""
    registry = manager.registry

    @app.post("/models")
    def load_model():
        try:
            body = jsontext.loads(read_body(request, MB))
        except ValueError:
            raise BadRequest('POST /models needs a JSON body {"model_name": ..., "url": ...}') from None
        if not isinstance(body, dict) or not isinstance(body.get("model_name"), str) or not isinstance(
            body.get("url"), str
        ):
            raise BadRequest('POST /models needs a JSON body {"model_name": ..., "url": ...}')
        entry = manager.load(body["model_name"], body["url"])
        return _json_response({"success": f"model {entry.name!r} loaded", **_model_json(entry)})

    @app.get("/models")
    def list_models():
        entries, token = registry.page(request.args.get("next_page_token"), service.settings.mme_page_size)
        payload = {"models": [_model_json(e) for e in entries]}
        if token:
            payload["nextPageToken"] = token
        return _json_response(payload)

    @app.get("/models/<name>")
    def describe_model(name: str):
        return _json_response(_model_json(registry.get(name)))

    @app.delete("/models/<name>")
    def unload_model(name: str):
        manager.unload(name)
        return _json_response({"success": f"model {name!r} unloaded"})
