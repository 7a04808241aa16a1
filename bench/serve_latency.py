"""p50/p90 latency of one 32x32 PNG through the serving proxy vs a direct gRPC Predict, same TF Serving.

Starts the real `serve` supervisor (TF Serving stand-in + gunicorn + app, protos-only `tensorflow` for the
app as in the image), then times N sequential requests each way in one run, and prints worker RSS.
Usage: .venv/bin/python -m bench.serve_latency [N]
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import psutil
import requests
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serve_container.tensors import to_tensor_proto
from tests.support import models
from tests.support.serving import build_slim_protos, serve_env, start_serve


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"p50={statistics.median(ms):.2f}ms p90={p90:.2f}ms"


def main(count: int = 300) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    slim = build_slim_protos(tmp / "slim")
    wrapper = tmp / "python"
    wrapper.write_text(f'#!/bin/sh\nunset PYTHONPATH\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    models.export_image_classifier(tmp / "model", 1)
    env = serve_env(slim, wrapper, tmp / "model", tmp / "run", BYOC_LOG_LEVEL="WARNING")
    served = start_serve(env, tmp / "serve.log")
    try:
        served.wait_ping(200)
        pixels = models.random_images(1)[0]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        body = buffer.getvalue()
        session = requests.Session()
        headers = {"Content-Type": "image/png"}
        channel = grpc.insecure_channel(f"127.0.0.1:{env['BYOC_TFS_GRPC_PORT']}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def via_proxy():
            response = session.post(f"{served.url}/invocations", data=body, headers=headers, timeout=30)
            assert response.status_code == 200, response.text

        def via_grpc():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "model"
            request.inputs["image"].CopyFrom(to_tensor_proto(pixels[None]))
            stub.Predict(request, timeout=30)

        for call in (via_proxy, via_grpc):
            for _ in range(20):
                call()
        results = {}
        for name, call in (("proxy", via_proxy), ("grpc", via_grpc)):
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                call()
                samples.append(time.perf_counter() - started)
            results[name] = samples
        print(f"32x32 PNG, {count} sequential requests, 1 worker x 4 threads")
        print(f"  through proxy (HTTP+decode+gRPC): {percentiles(results['proxy'])}")
        print(f"  direct gRPC Predict:              {percentiles(results['grpc'])}")
        ratio = statistics.median(results["proxy"]) / statistics.median(results["grpc"])
        print(f"  p50 ratio proxy/grpc: {ratio:.2f}")
        supervisor = psutil.Process(served.process.pid)
        for child in supervisor.children(recursive=True):
            role = " ".join(child.cmdline()[:4])
            print(f"  RSS {child.memory_info().rss / 2**20:7.1f} MiB  pid {child.pid}  {role[:90]}")
    finally:
        served.process.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
