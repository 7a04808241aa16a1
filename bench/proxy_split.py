"""P4d and P5b's split: where the proxy's CPU per request goes, measured in this process (no gunicorn, no sockets).

P4d: four WSGI apps answer the same request against the same TF Serving, interleaved over rounds: bench.floor_app
(the bare forwarder P4c compares with), the same forwarder as a one-route Flask app (what Flask's view machinery
would add), the forwarder doing only the work a PNG proxy cannot skip (decode, PredictRequest, JSON), and our app.
CPU time of this process (time.process_time, gRPC's threads included), so the other core's load does not count.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.stats import median

ROUNDS = 5


def _environ(body: bytes, content_type: str = "image/png") -> dict:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/invocations", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "bench", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)), "HTTP_ACCEPT": "application/json",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }  # fmt: skip


def _caller(app, body: bytes, content_type: str = "image/png") -> Callable[[], None]:
    base = _environ(body, content_type)

    def call() -> None:
        environ = dict(base, **{"wsgi.input": io.BytesIO(body)})
        statuses = []
        b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"{app!r} answered {statuses[0]}")

    return call


def cpu_ms(run: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - started) * 1000 / calls


def flask_floor(forward: Callable[[], bytes]):
    """bench.floor_app's work as one Flask route: what Flask itself adds per request."""
    from flask import Flask, Response, request

    app = Flask("floor")

    @app.post("/invocations")
    def invocations():
        request.environ["wsgi.input"].read(request.content_length)
        return Response(forward(), mimetype="application/octet-stream")

    return app


def necessary_forwarder(stub, service, signature, options, model: str):
    """bench.floor_app plus only the work a proxy of PNGs (image/png) or of TFRecord batches of PNG Examples
    (application/x-tfrecord) cannot skip, done with our functions: frame and parse the records, decode the PNGs,
    build the PredictRequest from their pixels, answer the response's tensors as JSON. No request object, routing,
    negotiation, catalog or hooks: what ours costs above this is the app's own bookkeeping."""
    from serve_container import decoders, encoders
    from serve_container.tensors import from_tensor_proto

    def application(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        # The bench sends canonical media types only: no negotiation (canonical_media_type) is necessary work.
        inputs = decoders.decode(environ["CONTENT_TYPE"], body, signature, options)
        request = service.client._request(model, None, signature.name, inputs)
        response = stub.Predict(request, timeout=60)
        outputs = {name: from_tensor_proto(response.outputs[name]) for name in response.outputs}
        answer = encoders.encode("application/json", outputs)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]

    return application


def measure_split(env: dict, png_file: Path, calls: int) -> dict[str, float]:
    """{app: CPU ms per request}, interleaved over rounds; `env` is the running `serve`'s (its TF Serving, its
    model). Steps are measured inside whole requests, not in hot loops of their own: between a gRPC call's work
    each costs 2-3x what it does alone."""
    import os

    os.environ.update(env)  # floor_app and the app read their settings from the environment, as under gunicorn
    from bench import floor_app
    from serve_container.app import create_app, pick_signature
    from serve_container.contract import load_settings

    body = png_file.read_bytes()
    settings = load_settings(env)
    ours = create_app(settings)
    service = ours.config["service"]
    stub = floor_app.prediction_service_pb2_grpc.PredictionServiceStub(service.client.channel())
    signature = pick_signature(service.client.signatures(settings.model_name), None)
    options = service.options.for_model(settings.model_dir, None)
    callers = {
        "wsgi_floor": _caller(floor_app.application, body),
        "flask_floor": _caller(flask_floor(lambda: stub.Predict(floor_app._request, timeout=60).SerializeToString()),
                               body),
        "necessary": _caller(necessary_forwarder(stub, service, signature, options, settings.model_name), body),
        "ours": _caller(ours, body),
    }  # fmt: skip
    for call in callers.values():  # warm-up: channels, signatures cache, first-call paths
        for _ in range(max(3, calls // 10)):
            call()
    samples: dict[str, list[float]] = {name: [] for name in callers}
    for index in range(ROUNDS):
        for name in callers if index % 2 == 0 else reversed(callers):
            samples[name].append(cpu_ms(callers[name], calls))
    return {name: median(values) for name, values in samples.items()}


def measure_batch_split(env: dict, body: bytes, calls: int) -> dict[str, float]:
    """P5b's split of the proxy's CPU per TFRecord batch request, step by step in this process against the running
    `serve`'s TF Serving: the whole app, then framing + CRC, Example parsing, image decoding (libspng alone as
    well), the Predict calls in the app's chunks (client CPU: building, serializing, gRPC), the JSON body."""
    import os

    import pyspng

    os.environ.update(env)
    from serve_container import encoders
    from serve_container.app import create_app, pick_signature
    from serve_container.contract import load_settings
    from serve_container.decoders import images, tfrecord

    settings = load_settings(env)
    ours = create_app(settings)
    service = ours.config["service"]
    app = _caller(ours, body, "application/x-tfrecord")
    signature = pick_signature(service.client.signatures(settings.model_name), None)
    spec = signature.image_input()
    options = service.options.for_model(settings.model_dir, None)
    records = tfrecord.split_records(body)

    def examples():
        return [tfrecord.example_image(r, options.image_key, i, options.schema) for i, r in enumerate(records)]

    found = examples()
    batch = images.images_to_batch(found, spec, options.max_image_pixels)
    size = settings.chunk_size or len(batch)

    def predict_chunks():
        chunks = ({spec.name: batch[start : start + size]} for start in range(0, len(batch), size))
        return service.client.predict_chunks(settings.model_name, None, signature.name, chunks)

    def predict_one():  # as the app sends a batch that fits one chunk: one blocking call
        return service.client.predict(settings.model_name, None, signature.name, {spec.name: batch})

    chunked = len(batch) > size
    predict = predict_chunks if chunked else predict_one
    outputs, _ = predict()
    steps = {
        "app": app,
        "frames": lambda: tfrecord.split_records(body),
        "examples": examples,
        "decode": lambda: images.images_to_batch(found, spec, options.max_image_pixels),
        "libspng": lambda: [pyspng.load(data) for data in found],
        "predict": predict,
        **({"predict_one": predict_one} if chunked else {}),  # what the chunks cost over one call
        "json": lambda: encoders.encode("application/json", outputs),
    }
    for step in steps.values():  # warm-up
        step()
    result = {name: median([cpu_ms(step, calls) for _ in range(ROUNDS)]) for name, step in steps.items()}
    result["chunks"] = -(-len(batch) // size)
    return result
