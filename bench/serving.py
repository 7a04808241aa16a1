"""P3-P6: the serving proxy (real `serve`: TF Serving stand-in + gunicorn + Flask app) vs its references.

One supervisor serves the project's CNN (exported by the train path); the load comes from bench.loadgen, a
separate process. P3/P4 compare `/invocations` with a direct gRPC Predict of the same decoded tensor against
the same TF Serving; P6 compares PNG bodies with TFS-REST JSON `instances` through the proxy, and P6b-P6e the
JSON ones with PNG for two workloads (the CNN's 32x32x3 uint8 image; 784 floats to a dense model, whose PNG is the
same 28x28 grey image through its `image` signature), in img/s and in the proxy's CPU per request; P5 compares a
256-record TFRecord request with calling the SavedModel in this process on the same decoded batch.

P4e and P5f/P5c/P5d are ceilings, measured in the same rounds: what a bare forwarder reaches against direct gRPC,
and what bench.necessary_app under the same gunicorn, decoding the PNGs and calling TF Serving from this process
(or calling it alone) reach against the in-process model. P4f and P5e are floors of CPU: bench.necessary_app (only
the work a proxy cannot skip, with our functions) under the same gunicorn command line, for one PNG and for the
TFRecord batch. On a 2-core machine they show how much of a goal's gap no proxy can close.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import fixtures, proxy_split
from bench.child import run_child
from bench.config import BenchConfig
from bench.cpu import per_call, self_cpu_seconds
from bench.proxy_split import measure_split
from bench.results import Row
from bench.stats import interleave, median, paired_ratio, percentile, rate
from serve_container.commands import gunicorn_command
from serve_container.contract import gunicorn_environment, load_settings
from serve_container.custom_attributes import HEADER
from tests.support.processes import REPO_ROOT, ManagedProcess, free_port, start_process
from tests.support.serving import build_slim_protos, serve_env, start_serve

SERVE_SETTINGS = {"BYOC_LOG_LEVEL": "WARNING"}  # per-request INFO logs would be measured too


def digits_records(config: BenchConfig, count: int) -> list[bytes]:
    from train_container.records import iter_tfrecords

    records: list[bytes] = []
    for shard in fixtures.all_shards(config):
        with open(shard, "rb") as stream:
            records.extend(iter_tfrecords(stream))
        if len(records) >= count:
            break
    if len(records) < count:
        raise RuntimeError(f"only {len(records)} records in the bench shards, {count} wanted")
    return records[:count]


def write_payloads(config: BenchConfig, folder: Path) -> dict:
    """Bodies and the serialized gRPC request, built with TensorFlow's own tools (not ours)."""
    import tensorflow as tf
    from PIL import Image
    from tensorflow_serving.apis import predict_pb2

    folder.mkdir(parents=True, exist_ok=True)
    records = digits_records(config, config.sizes.batch_records)
    pngs = [tf.train.Example.FromString(r).features.feature["image/encoded"].bytes_list.value[0] for r in records]
    batch = np.stack([np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in pngs])
    (folder / "one.png").write_bytes(pngs[0])
    (folder / "one.json").write_text(json.dumps({"instances": batch[:1].tolist()}))
    # The dense model's instance: the first digit as 28x28 grey, a PNG or 784 floats in [0, 1] (as a client
    # holding a float32 array sends it: json.dumps(array.tolist()))
    grey = Image.open(io.BytesIO(pngs[0])).convert("L").resize((fixtures.DENSE_SIDE,) * 2)
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    (folder / "grey.png").write_bytes(buffer.getvalue())
    floats = (np.asarray(grey, dtype=np.float32) / 255).reshape(1, -1)
    (folder / "floats.json").write_text(json.dumps({"instances": floats.tolist()}))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = fixtures.MODEL_NAME
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(batch[:1]))
    (folder / "one.grpc").write_bytes(request.SerializeToString())
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(batch))
    (folder / "batch.grpc").write_bytes(request.SerializeToString())
    with tf.io.TFRecordWriter(str(folder / "batch.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    return {"batch": batch}


def run_loadgen(served, folder: Path, mode: str, targets: list[str], count: int, rounds: int, concurrency=1,
                warmup=True):  # fmt: skip
    port = int(served.env["SAGEMAKER_BIND_TO_PORT"])
    http_target = {"kind": "http", "host": "127.0.0.1", "port": port, "path": "/invocations"}
    image_signature = {HEADER: f"tfs-signature-name={fixtures.IMAGE_SIGNATURE}"}
    catalogue = {
        "proxy_png": {**http_target, "body_file": str(folder / "one.png"), "content_type": "image/png"},
        "proxy_json": {**http_target, "body_file": str(folder / "one.json"), "content_type": "application/json"},
        "dense_png": {**http_target, "body_file": str(folder / "grey.png"), "content_type": "image/png",
                      "headers": image_signature},
        "dense_json": {**http_target, "body_file": str(folder / "floats.json"), "content_type": "application/json"},
        **{target: {**http_target, "port": int(served.env.get(f"BENCH_{target.upper()}_PORT", 0)),
                    "body_file": str(folder / "one.png"), "content_type": "image/png"} for target in PNG_REFERENCES},
        "grpc": {"kind": "grpc", "target": f"127.0.0.1:{served.env['BYOC_TFS_GRPC_PORT']}",
                 "request_file": str(folder / "one.grpc")},
    }  # fmt: skip
    spec = {"mode": mode, "count": count, "rounds": rounds, "concurrency": concurrency, "warmup": warmup,
            "targets": {name: catalogue[name] for name in targets}}  # fmt: skip
    spec_file, result_file = folder / f"{mode}-spec.json", folder / f"{mode}-result.json"
    spec_file.write_text(json.dumps(spec))
    # The app's environment: protos-only `tensorflow`, so the client never loads the TF runtime.
    subprocess.run([sys.executable, "-m", "bench.loadgen", str(spec_file), str(result_file)], env=served.env,
                   check=True, timeout=config_timeout(count, rounds))  # fmt: skip
    return json.loads(result_file.read_text())


# target -> (WSGI app, the pre-built PredictRequest bench.floor_app replays: one image, or the whole batch)
REFERENCE_APPS = {
    "floor_png": ("bench.floor_app:application", "one.grpc"),
    "necessary": ("bench.necessary_app:application", "one.grpc"),  # decodes what it is sent; replays nothing
    "floor_batch": ("bench.floor_app:application", "batch.grpc"),
}
PNG_REFERENCES = ("floor_png", "necessary")  # P4's, sent one PNG per request
BATCH_REFERENCES = ("floor_batch", "necessary")  # P5e's, sent the TFRecord batch


def start_reference(served, folder: Path, log_path: Path, target: str) -> ManagedProcess:
    """A reference app (REFERENCE_APPS[target]: bench.floor_app, or bench.necessary_app) under the gunicorn command
    line `serve` builds from the same settings, on its own port, forwarding to the same TF Serving; served.env
    learns its port (BENCH_<TARGET>_PORT) for run_loadgen and batch_rate."""
    app, floor_request = REFERENCE_APPS[target]
    port = free_port()
    env = {**served.env, "SAGEMAKER_BIND_TO_PORT": str(port), "BENCH_FLOOR_REQUEST": str(folder / floor_request)}
    settings = load_settings(env)
    tmp = "/dev/shm" if os.path.isdir("/dev/shm") else None
    command = [*gunicorn_command(settings, sys.executable, tmp)[:-1], app]
    reference = start_process(command, env=gunicorn_environment(settings, env), cwd=REPO_ROOT, log_path=log_path)
    served.env[f"BENCH_{target.upper()}_PORT"] = str(port)
    reference.wait_for_port(port)
    return reference


BATCH_CPU_ROUNDS = 3


def gunicorn_shape(env: dict) -> str:
    """'W worker(s) x T threads', as `serve` reads them from this environment (its defaults unless set)."""
    settings = load_settings(env)
    return f"{settings.workers} worker{'s' if settings.workers > 1 else ''} x {settings.threads} threads"


def config_timeout(count: int, rounds: int) -> float:
    return 120.0 + count * rounds * 0.5


def _answered(payload: bytes, floor: bool) -> int:
    """How many predictions a batch answer holds: our JSON, or the bare forwarder's PredictResponse bytes."""
    if floor:
        from tensorflow_serving.apis import predict_pb2

        return predict_pb2.PredictResponse.FromString(payload).outputs["probabilities"].tensor_shape.dim[0].size
    return len(json.loads(payload)["predictions"])


def batch_rate(served, body: bytes, expected: int, requests: int, target: str = "proxy") -> float:
    """img/s of TFRecord batch requests, one at a time, to `serve` (target "proxy") or to a BATCH_REFERENCES app."""
    port = int(served.env["SAGEMAKER_BIND_TO_PORT" if target == "proxy" else f"BENCH_{target.upper()}_PORT"])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/x-tfrecord", "Accept": "application/json"}

    def send_all():
        for _ in range(requests):
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"TFRecord batch to {target}: HTTP {response.status}: {payload[:300]!r}")
            answered = _answered(payload, target == "floor_batch")
            if answered != expected:
                raise RuntimeError(f"TFRecord batch to {target}: {answered} predictions for {expected} records")

    try:
        return rate(expected * requests, send_all)
    finally:
        connection.close()


def in_process_rate(model_dir: Path, batch: np.ndarray, requests: int):
    import tensorflow as tf

    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]

    def run() -> float:
        def call_all():
            for _ in range(requests):
                serve(image=tf.constant(batch))["probabilities"].numpy()

        return rate(len(batch) * requests, call_all)

    return run


def direct_batch_rate(served, body: bytes, batch: np.ndarray, requests: int):
    """P5c/P5d's contenders: one Predict per request through the app's own gRPC client (serve_container.tfs_client)
    straight to `serve`'s TF Serving, of the batch decoded beforehand (decode=False) or decoded from its PNGs in the
    call by libspng into one array (decode=True)."""
    import pyspng

    from serve_container.decoders import tfrecord
    from serve_container.tfs_client import TfsClient

    pngs = [tfrecord.example_image(record, None, index) for index, record in enumerate(tfrecord.split_records(body))]
    client = TfsClient(f"127.0.0.1:{served.env['BYOC_TFS_GRPC_PORT']}", deadline_seconds=120)

    def run(decode: bool) -> float:
        def call_all():
            for _ in range(requests):
                if decode:
                    pixels = np.empty_like(batch)
                    for index, png in enumerate(pngs):
                        pixels[index] = pyspng.load(png)
                else:
                    pixels = batch
                outputs, _ = client.predict(fixtures.MODEL_NAME, None, "serving_default", {"image": pixels})
                if len(outputs["probabilities"]) != len(pixels):
                    raise RuntimeError("TF Serving answered another batch size")

        return rate(len(batch) * requests, call_all)

    return run


def measure(config: BenchConfig) -> list[Row]:
    sizes = config.sizes
    work = config.work_dir / "serving"
    shutil.rmtree(work, ignore_errors=True)
    payloads = write_payloads(config, work / "payloads")
    slim = build_slim_protos(work / "slim")
    wrapper = work / "python"
    wrapper.write_text(f'#!/bin/sh\nunset PYTHONPATH\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    model = fixtures.model_base(config)
    env = serve_env(slim, wrapper, model, work / "run", **SERVE_SETTINGS)
    served = start_serve(env, work / "serve.log")
    rows: list[Row] = []
    setup = (f"cifar10 CNN (untrained export), `serve` with gunicorn {gunicorn_shape(env)}, TF Serving stand-in; "
             "load from bench.loadgen (separate process, http.client keep-alive / grpc stub)")  # fmt: skip
    try:
        served.wait_ping(200)
        folder = work / "payloads"
        if "p3" in config.only:
            result = run_loadgen(served, folder, "latency", ["proxy_png", "grpc"], sizes.latency_requests,
                                 sizes.latency_rounds)  # fmt: skip
            proxy, direct = ([s * 1000 for s in result[k]] for k in ("proxy_png", "grpc"))
            note = f"{len(proxy)} sequential requests each way, interleaved in {sizes.latency_rounds} rounds; {setup}"
            rows += [
                Row(id="P3", what="latency p50, one 32x32 PNG: /invocations vs direct gRPC Predict", unit="ms",
                    ours=median(proxy), reference=median(direct), goal="overhead ≤ 1.5 ms",
                    goal_max_overhead=1.5, note=note),
                Row(id="P3b", what="latency p99, same requests", unit="ms", ours=percentile(proxy, 99),
                    reference=percentile(direct, 99)),
            ]  # fmt: skip
        if "p4" in config.only:
            references = {}
            try:
                for target in PNG_REFERENCES:
                    references[target] = start_reference(served, folder, work / f"{target}.log", target)
                rows += throughput_rows(config, served, folder, references)
            finally:
                for reference in references.values():
                    reference.stop(grace=10)
            rows.append(split_row(config, served, folder))
        if "p5" in config.only:
            references = {}
            try:
                for target in BATCH_REFERENCES:
                    references[target] = start_reference(served, folder, work / f"{target}.log", target)
                rows += batch_rows(config, served, folder, model, payloads["batch"], references)
            finally:
                for reference in references.values():
                    reference.stop(grace=10)
        if "p6" in config.only:
            result = run_loadgen(served, folder, "throughput", ["proxy_png", "proxy_json"],
                                 sizes.throughput_requests, sizes.throughput_rounds, sizes.concurrency)  # fmt: skip
            json_bytes = os.path.getsize(folder / "one.json")
            rows.append(
                Row(id="P6", what=f"img/s at {sizes.concurrency} clients: PNG body vs TFS-REST JSON `instances`",
                    unit="img/s", ours=median(result["proxy_png"]), reference=median(result["proxy_json"]),
                    paired_ratio=paired_ratio(result, "proxy_png", "proxy_json"),
                    note=f"one image per request; PNG {os.path.getsize(folder / 'one.png')} B vs JSON "
                    f"{json_bytes} B per image")
            )  # fmt: skip
            rows += json_rows(config, served, folder, "32x32x3 uint8 image", "proxy_json", "proxy_png", result)
    finally:
        served.process.stop(grace=35)
    if "p6" in config.only:
        dense = start_serve(serve_env(slim, wrapper, fixtures.dense_model_base(config), work / "run-dense",
                                      **SERVE_SETTINGS), work / "serve-dense.log")  # fmt: skip
        try:
            dense.wait_ping(200)
            rows += json_rows(config, dense, work / "payloads", "784 floats (dense model)", "dense_json", "dense_png")
        finally:
            dense.process.stop(grace=35)
    return rows


def throughput_rows(config: BenchConfig, served, folder: Path, references: dict[str, ManagedProcess]) -> list[Row]:
    """P4, P4e (the bare forwarder's P4: what any Python proxy under our gunicorn reaches on this machine), P4b,
    P4c and P4f, with the REFERENCE_APPS running beside `serve`."""
    sizes = config.sizes
    count = sizes.throughput_requests
    result = run_loadgen(served, folder, "throughput", ["proxy_png", "floor_png", "grpc"], count,
                         sizes.throughput_rounds, sizes.concurrency)  # fmt: skip
    rounds = f"{count} requests per round, {sizes.throughput_rounds} rounds"
    rows = [
        Row(id="P4", what=f"throughput req/s at {sizes.concurrency} clients: proxy vs direct gRPC",
            unit="req/s", ours=median(result["proxy_png"]), reference=median(result["grpc"]),
            goal="≥ 0.8", goal_min_ratio=0.8, paired_ratio=paired_ratio(result, "proxy_png", "grpc"),
            note=f"{rounds}; the three targets (P4e's too) interleaved"),
        Row(id="P4e", what=f"throughput req/s at {sizes.concurrency} clients: the bare forwarder (bench/floor_app.py) "
            "vs direct gRPC: P4's ceiling here", unit="req/s", ours=median(result["floor_png"]),
            reference=median(result["grpc"]), paired_ratio=paired_ratio(result, "floor_png", "grpc"),
            note=f"{rounds}, in the same rounds as P4. The forwarder only reads the body and replays a pre-built "
            "request; on 2 cores it shares the CPU with TF Serving and the clients, so no Python proxy under these "
            "gunicorn settings does better than this ratio here"),
    ]  # fmt: skip
    cpu = {target: per_call(served.process.pid, count, lambda t=target: run_loadgen(
               served, folder, "throughput", [t], count, 1, sizes.concurrency, warmup=False))
           for target in ("proxy_png", "grpc")}  # fmt: skip
    rows.append(
        Row(id="P4b", what="server CPU per request: proxy + TF Serving vs TF Serving alone (direct gRPC)",
            unit="ms", ours=cpu["proxy_png"].total_ms, reference=cpu["grpc"].tfs_ms,
            note=f"CPU time of the serve process tree over {count} requests at {sizes.concurrency} clients "
            f"(psutil): via the proxy {cpu['proxy_png'].proxy_ms:.2f} ms in gunicorn + "
            f"{cpu['proxy_png'].tfs_ms:.2f} ms in TF Serving; direct {cpu['grpc'].tfs_ms:.2f} ms in TF "
            "Serving. Where clients are remote (SageMaker), this ratio, not P4's, bounds capacity")
    )  # fmt: skip
    rows += floor_rows(config, served, folder, references)
    return rows


def floor_rows(config: BenchConfig, served, folder: Path, references: dict[str, ManagedProcess]) -> list[Row]:
    """P4c: the proxy's own CPU per one-PNG request vs bench.floor_app's under the same gunicorn and gRPC
    settings, the same load, the same TF Serving; P4f: bench.necessary_app's vs the floor's, P4c's ceiling. The
    three measured in turn over rounds."""
    sizes = config.sizes
    count = sizes.throughput_requests
    pids = {"proxy_png": served.process.pid, **{target: process.pid for target, process in references.items()}}
    samples: dict[str, list[float]] = {target: [] for target in pids}
    run_loadgen(served, folder, "throughput", list(references), max(3, count // 5), 1, sizes.concurrency)
    for index in range(sizes.throughput_rounds):
        for target in pids if index % 2 == 0 else reversed(pids):
            cpu = per_call(pids[target], count, lambda t=target: run_loadgen(
                served, folder, "throughput", [t], count, 1, sizes.concurrency, warmup=False))  # fmt: skip
            samples[target].append(cpu.proxy_ms)
    # BENCH_QUICK's few requests can read 0 (10 ms clock ticks): no ratio then, rather than a division by 0
    measured = all(samples["floor_png"])
    return [Row(
        id="P4c", what="proxy CPU per one-PNG request: ours vs a bare forwarder under the same gunicorn and gRPC",
        unit="ms", ours=median(samples["proxy_png"]), reference=median(samples["floor_png"]), goal="≤ 1.25",
        goal_max_ratio=1.25, paired_ratio=paired_ratio(samples, "proxy_png", "floor_png") if measured else None,
        note=f"gunicorn CPU per request (psutil, as P4b), {count} requests at {sizes.concurrency} clients per "
        f"round, {sizes.throughput_rounds} rounds in turn with P4f's. Reference: bench/floor_app.py (reads the body, "
        "replays one pre-built PredictRequest through a channel opened as the app's, answers the response's "
        "bytes) under the gunicorn command line `serve` builds. P4d splits the difference",
    ), Row(
        id="P4f", what="proxy CPU per one-PNG request: the least a PNG proxy does (bench/necessary_app.py) vs the "
        "bare forwarder, same gunicorn and gRPC: P4c's ceiling here", unit="ms",
        ours=median(samples["necessary"]), reference=median(samples["floor_png"]),
        paired_ratio=paired_ratio(samples, "necessary", "floor_png") if measured else None,
        note="the forwarder plus decoding the PNG, building the PredictRequest from its pixels and answering JSON "
        "of the response, with our functions; measured in the same rounds as P4c",
    )]  # fmt: skip


def batch_rows(config: BenchConfig, served, folder: Path, model: Path, batch: np.ndarray,
               references: dict[str, ManagedProcess]) -> list[Row]:  # fmt: skip
    """P5 and its ceilings, in the same rounds: the necessary app under the same gunicorn (P5f), decode + gRPC from
    this process (P5c), TF Serving alone (P5d); then the CPU rows P5b and P5e."""
    sizes = config.sizes
    body = (folder / "batch.tfrecord").read_bytes()
    reference_run = in_process_rate(model / "1", batch, sizes.batch_requests)
    direct_run = direct_batch_rate(served, body, batch, sizes.batch_requests)
    batch_rate(served, body, len(batch), 1, "necessary")  # its channel connects on the first request
    samples = interleave(
        {
            "ours": lambda: batch_rate(served, body, len(batch), sizes.batch_requests),
            "reference": reference_run,
            "necessary": lambda: batch_rate(served, body, len(batch), sizes.batch_requests, "necessary"),
            "decode_grpc": lambda: direct_run(decode=True),
            "grpc": lambda: direct_run(decode=False),
        },
        rounds=sizes.batch_rounds,
    )
    rounds = f"{sizes.batch_requests} requests per round, {sizes.batch_rounds} rounds"

    def against_model(row_id: str, contender: str, what: str, note: str) -> Row:
        """One of P5's ceilings: a contender of the same rounds against the in-process model."""
        return Row(id=row_id, what=what, unit="img/s", ours=median(samples[contender]),
                   reference=median(samples["reference"]), paired_ratio=paired_ratio(samples, contender, "reference"),
                   note=f"{rounds}. {note}")  # fmt: skip

    rows = [
        Row(id="P5", what=f"batch path img/s: {len(batch)}-record TFRecord request vs in-process SavedModel",
            unit="img/s", ours=median(samples["ours"]), reference=median(samples["reference"]),
            goal="≥ 0.8", goal_min_ratio=0.8, paired_ratio=paired_ratio(samples),
            note=f"{rounds}; reference = tf.saved_model.load(...).signatures['serving_default'] on the "
            "decoded uint8 batch; P5f, P5c and P5d ran in the same rounds"),
        against_model(
            "P5f", "necessary",
            what=f"batch img/s, the least a TFRecord proxy does: the same {len(batch)}-record requests to "
            "bench/necessary_app.py under the same gunicorn, vs in-process SavedModel: P5's ceiling here",
            note="HTTP of the body, framing + CRC, Example parsing, libspng, one Predict and the JSON answer, with our "
            "functions and nothing else (P5e's app): a proxy of these requests reads at most this"),
        against_model(
            "P5c", "decode_grpc",
            what=f"batch img/s, PNG decoding and gRPC alone: {len(batch)} PNGs decoded by libspng + one gRPC Predict "
            "from this process, vs in-process SavedModel",
            note="No HTTP, no TFRecord framing or Example parsing, no JSON (the PNGs are taken from the records "
            "beforehand): any proxy that decodes the PNGs itself reads at most this"),
        against_model(
            "P5d", "grpc",
            what=f"batch img/s, TF Serving alone: the decoded {len(batch)}-image batch by one gRPC Predict from this "
            "process, vs in-process SavedModel",
            note="What the TF Serving stand-in and gRPC cost over calling the model in process"),
    ]  # fmt: skip
    requests = sizes.batch_requests * sizes.batch_rounds  # enough for psutil's 10 ms ticks to average out
    proxy_cpu = per_call(served.process.pid, requests,
                         lambda: batch_rate(served, body, len(batch), requests))  # fmt: skip
    started = self_cpu_seconds()
    for _ in range(sizes.batch_rounds):
        reference_run()
    reference_ms = (self_cpu_seconds() - started) * 1000 / requests
    split = proxy_split.measure_batch_split(served.env, body, requests)
    one_call = f" (one call for the whole batch: {split['predict_one']:.2f})" if "predict_one" in split else ""
    rows.append(
        Row(id="P5b", what=f"CPU per {len(batch)}-record request: proxy + TF Serving vs in-process SavedModel",
            unit="ms", ours=proxy_cpu.total_ms, reference=reference_ms,
            note=f"proxy {proxy_cpu.proxy_ms:.1f} ms + TF Serving {proxy_cpu.tfs_ms:.1f} ms per request, "
            f"{requests} requests. The proxy's share in this process (WSGI calls, {proxy_split.ROUNDS} "
            f"rounds): the app {split['app']:.1f} ms, of which framing + CRC {split['frames']:.2f}, Example "
            f"parsing {split['examples']:.2f}, image decoding {split['decode']:.2f} (libspng alone "
            f"{split['libspng']:.2f}), {split['chunks']} Predict call(s) {split['predict']:.2f}{one_call}, "
            f"JSON {split['json']:.2f} ms; this process keeps glibc's malloc defaults, the workers do not")
    )  # fmt: skip
    rows.append(batch_floor_row(config, served, body, len(batch), references))
    return rows


def batch_floor_row(config: BenchConfig, served, body: bytes, expected: int,
                    references: dict[str, ManagedProcess]) -> Row:  # fmt: skip
    """P5e: the proxy's CPU per TFRecord batch request against bench.necessary_app's (the least any proxy of PNG
    records does with our functions), with the bare forwarder's (HTTP of the body, gRPC of the decoded batch) in
    the note: P5b's ≤ 10 ms goal next to what no proxy under our gunicorn and gRPC goes below. The three measured
    in turn over rounds, each over enough requests for psutil's 10 ms ticks."""
    sizes = config.sizes
    requests = sizes.batch_requests * sizes.batch_rounds
    pids = {"proxy": served.process.pid, **{target: process.pid for target, process in references.items()}}
    samples: dict[str, list[float]] = {target: [] for target in pids}
    for target in pids:  # warm-up: the references' channels connect on their first request
        batch_rate(served, body, expected, 1, target)
    for index in range(BATCH_CPU_ROUNDS):
        for target in pids if index % 2 == 0 else reversed(pids):
            cpu = per_call(pids[target], requests, lambda t=target: batch_rate(served, body, expected, requests, t))
            samples[target].append(cpu.proxy_ms)
    measured = all(samples["necessary"])  # BENCH_QUICK's single request can read 0 ticks: no ratio then
    kb = len(body) / 1024
    return Row(
        id="P5e", what=f"proxy CPU per {expected}-record request: ours vs the least a TFRecord proxy does "
        "(bench/necessary_app.py), same gunicorn and gRPC: P5b's floor here", unit="ms",
        ours=median(samples["proxy"]), reference=median(samples["necessary"]), goal="ours ≤ 10 ms", goal_max=10.0,
        paired_ratio=paired_ratio(samples, "proxy", "necessary") if measured else None,
        note=f"gunicorn CPU per request (psutil, as P4b), {requests} requests one at a time per round, "
        f"{BATCH_CPU_ROUNDS} rounds in turn. The necessary app frames and CRC-checks the records, parses the "
        "Examples, decodes the PNGs (libspng), builds the PredictRequest and answers JSON, with our functions. The "
        f"bare forwarder (bench/floor_app.py: reads the {kb:.0f} KiB body, replays the decoded batch's "
        f"PredictRequest, answers its bytes) {median(samples['floor_batch']):.2f} ms",
    )  # fmt: skip


def split_row(config: BenchConfig, served, folder: Path) -> Row:
    """P4d: our app vs the bare forwarder, in this process; the note says what the necessary work costs inside a
    request and what Flask's view machinery would add, which InvokeRoutes keeps off the inference path."""
    env = {**served.env, "BENCH_FLOOR_REQUEST": str(folder / "one.grpc")}
    ms = measure_split(env, folder / "one.png", config.sizes.throughput_requests)
    return Row(
        id="P4d", what="in-process CPU per one-PNG request: our app vs the bare forwarder (bench/floor_app.py)",
        unit="ms", ours=ms["ours"], reference=ms["wsgi_floor"],
        note=f"WSGI calls in this process, no gunicorn or sockets, {proxy_split.ROUNDS} interleaved rounds of "
        f"{config.sizes.throughput_requests}: bench/floor_app.py {ms['wsgi_floor']:.3f} ms; the same plus the "
        f"work a PNG proxy cannot skip (decode, PredictRequest from the pixels, JSON of the response's tensors, "
        f"with our functions) {ms['necessary']:.3f} ms; our app {ms['ours']:.3f} ms, so its own bookkeeping "
        f"(request object, route, negotiation, catalog, reply) is {ms['ours'] - ms['necessary']:.3f} ms. The "
        f"forwarder as a Flask view: {ms['flask_floor']:.3f} ms (Flask's request machinery adds "
        f"{ms['flask_floor'] - ms['wsgi_floor']:.3f} ms, which is why /invocations is not a Flask view)",
    )  # fmt: skip


JSON_ROW_IDS = {"proxy_json": ("P6b", "P6d"), "dense_json": ("P6c", "P6e")}


def json_rows(config: BenchConfig, served, folder: Path, workload: str, json_target: str, png_target: str,
              result: dict | None = None) -> list[Row]:  # fmt: skip
    """img/s and the proxy's CPU per request, one instance per request, JSON `instances` vs the same as a PNG."""
    sizes = config.sizes
    if result is None:
        result = run_loadgen(served, folder, "throughput", [json_target, png_target], sizes.throughput_requests,
                             sizes.throughput_rounds, sizes.concurrency)  # fmt: skip
    count = sizes.throughput_requests
    cpu = {target: per_call(served.process.pid, count, lambda t=target: run_loadgen(
               served, folder, "throughput", [t], count, 1, sizes.concurrency, warmup=False))
           for target in (json_target, png_target)}  # fmt: skip
    spec = {"proxy_json": "one.json", "dense_json": "floats.json", "proxy_png": "one.png", "dense_png": "grey.png"}
    size = {t: os.path.getsize(folder / spec[t]) for t in (json_target, png_target)}
    rate_id, cpu_id = JSON_ROW_IDS[json_target]
    return [
        Row(id=rate_id, what=f"img/s at {sizes.concurrency} clients, {workload}: JSON `instances` vs PNG body",
            unit="img/s", ours=median(result[json_target]), reference=median(result[png_target]),
            paired_ratio=paired_ratio(result, json_target, png_target),
            note=f"one instance per request, JSON {size[json_target]} B vs PNG {size[png_target]} B; "
            f"{sizes.throughput_requests} requests per round, {sizes.throughput_rounds} rounds"),
        Row(id=cpu_id, what=f"proxy CPU per request, {workload}: JSON `instances` vs PNG body", unit="ms",
            ours=cpu[json_target].proxy_ms, reference=cpu[png_target].proxy_ms,
            note=f"CPU time of the gunicorn processes over {count} requests at {sizes.concurrency} clients "
            f"(psutil, as P4b); the difference, {cpu[json_target].proxy_ms - cpu[png_target].proxy_ms:.2f} ms, is "
            f"what JSON costs over PNG (parse, arrays, the larger body); TF Serving {cpu[json_target].tfs_ms:.2f} "
            f"ms (JSON) / {cpu[png_target].tfs_ms:.2f} ms (PNG)"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
