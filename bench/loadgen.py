"""The load generator: a separate process (never the server under test) sending bounded request counts.

    python -m bench.loadgen SPEC_JSON RESULT_JSON

SPEC: {"mode": "latency"|"throughput", "count": N, "rounds": R, "concurrency": C, "warmup": true|false,
       "targets": {name: {"kind": "http", "host", "port", "path", "body_file", "content_type", ["headers"]}
                        | {"kind": "grpc", "target", "request_file"}}}
latency: N sequential requests per target per round, targets interleaved; returns every latency (s).
throughput: N requests per target per round over C threads (one connection each); returns requests/s per round.
It runs on the protos-only `tensorflow` package like the app (PYTHONPATH set by the caller), so it never loads
the TensorFlow runtime; the gRPC request is serialized once by the caller and replayed unchanged.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

TIMEOUT_SECONDS = 60.0


class RequestFailed(RuntimeError):
    pass


def http_sender(spec: dict) -> Callable[[], Callable[[], None]]:
    body = Path(spec["body_file"]).read_bytes()
    headers = {"Content-Type": spec["content_type"], "Accept": "application/json", **spec.get("headers", {})}

    def connect() -> Callable[[], None]:
        connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=TIMEOUT_SECONDS)

        def send() -> None:
            connection.request("POST", spec["path"], body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RequestFailed(f"HTTP {response.status}: {payload[:300]!r}")

        return send

    return connect


def grpc_sender(spec: dict) -> Callable[[], Callable[[], None]]:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(Path(spec["request_file"]).read_bytes())
    options = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)]
    channel = grpc.insecure_channel(spec["target"], options=options)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def connect() -> Callable[[], None]:
        def send() -> None:
            stub.Predict(request, timeout=TIMEOUT_SECONDS)

        return send

    return connect


SENDERS = {"http": http_sender, "grpc": grpc_sender}


def latencies(connect, count: int) -> list[float]:
    send = connect()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        send()
        samples.append(time.perf_counter() - started)
    return samples


def throughput(connect, count: int, concurrency: int) -> float:
    senders = [connect() for _ in range(concurrency)]
    shares = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]
    errors: list[BaseException] = []
    start = threading.Barrier(concurrency + 1)

    def work(send, share):
        start.wait()
        try:
            for _ in range(share):
                send()
        except BaseException as error:  # reported after the join, not swallowed
            errors.append(error)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(senders, shares, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return count / elapsed


def run(spec: dict) -> dict[str, list[float]]:
    connectors = {name: SENDERS[target["kind"]](target) for name, target in spec["targets"].items()}
    count, concurrency = spec["count"], spec.get("concurrency", 1)
    if spec["mode"] == "latency":
        measure = lambda connect: latencies(connect, count)  # noqa: E731
    else:
        measure = lambda connect: [throughput(connect, count, concurrency)]  # noqa: E731
    # Warm-up: connections, gunicorn threads, TF Serving's first-call graph work. Off for CPU accounting, which
    # divides the servers' CPU time by exactly `count`.
    for connect in connectors.values() if spec.get("warmup", True) else ():
        latencies(connect, max(3, min(20, count // 5)))
    results: dict[str, list[float]] = {name: [] for name in connectors}
    names = list(connectors)
    for index in range(spec["rounds"]):
        for name in names if index % 2 == 0 else reversed(names):
            results[name].extend(measure(connectors[name]))
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m bench.loadgen SPEC_JSON RESULT_JSON", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    Path(argv[2]).write_text(json.dumps(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
