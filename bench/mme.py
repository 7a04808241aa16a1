"""P9: the multi-model endpoint. Load time per model (POST /models -> 200, i.e. TF Serving's
HandleReloadConfigRequest until AVAILABLE), and one-PNG latency through /models/<name>/invoke on a multi-model
`serve` vs /invocations on a single-model `serve` of the same CNN (both up at once, requests interleaved)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import fixtures
from bench.child import run_child
from bench.config import BenchConfig
from bench.results import Row
from bench.serving import SERVE_SETTINGS, config_timeout, gunicorn_shape, write_payloads
from bench.stats import median, percentile
from tests.support.serving import build_slim_protos, serve_env, start_serve


def load_seconds(port: int, name: str, url: Path) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"model_name": name, "url": str(url)})
    started = time.perf_counter()
    try:
        connection.request("POST", "/models", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"POST /models {name}: HTTP {response.status}: {payload[:300]!r}")
    return time.perf_counter() - started


def measure(config: BenchConfig) -> list[Row]:
    sizes = config.sizes
    work = config.work_dir / "mme"
    shutil.rmtree(work, ignore_errors=True)
    write_payloads(config, work / "payloads")
    slim = build_slim_protos(work / "slim")
    wrapper = work / "python"
    wrapper.write_text(f'#!/bin/sh\nunset PYTHONPATH\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    model = fixtures.model_base(config)
    count = 2 if config.quick else 5
    store = work / "models"
    for index in range(count):  # as SageMaker unpacks archives: /opt/ml/models/<name>/model
        shutil.copytree(model, store / f"m{index}" / "model")

    multi = start_serve(
        serve_env(slim, wrapper, store, work / "run-mme", SAGEMAKER_MULTI_MODEL="true", **SERVE_SETTINGS),
        work / "mme.log",
    )
    single = start_serve(serve_env(slim, wrapper, model, work / "run-single", **SERVE_SETTINGS), work / "single.log")
    try:
        multi.wait_ping(200)
        single.wait_ping(200)
        mme_port = int(multi.env["SAGEMAKER_BIND_TO_PORT"])
        loads = [load_seconds(mme_port, f"m{i}", store / f"m{i}" / "model") for i in range(count)]
        png = work / "payloads" / "one.png"
        target = {"kind": "http", "host": "127.0.0.1", "body_file": str(png), "content_type": "image/png"}
        spec = {
            "mode": "latency", "count": sizes.latency_requests, "rounds": sizes.latency_rounds, "concurrency": 1,
            "warmup": True,
            "targets": {
                "invoke": {**target, "port": mme_port, "path": "/models/m0/invoke"},
                "invocations": {**target, "port": int(single.env["SAGEMAKER_BIND_TO_PORT"]), "path": "/invocations"},
            },
        }  # fmt: skip
        spec_file, result_file = work / "spec.json", work / "result.json"
        spec_file.write_text(json.dumps(spec))
        subprocess.run([sys.executable, "-m", "bench.loadgen", str(spec_file), str(result_file)], env=multi.env,
                       check=True, timeout=config_timeout(sizes.latency_requests, sizes.latency_rounds))  # fmt: skip
        result = json.loads(result_file.read_text())
    finally:
        multi.process.stop(grace=35)
        single.process.stop(grace=35)
    invoke, invocations = ([s * 1000 for s in result[k]] for k in ("invoke", "invocations"))
    setup = f"cifar10 CNN (untrained export), gunicorn {gunicorn_shape(single.env)}, TF Serving stand-in"
    return [
        Row(id="P9", what="multi-model load time per model: POST /models -> 200 (ReloadConfig until AVAILABLE)",
            unit="s", ours=median(loads), reference=None,
            note=f"{count} copies of the {setup}, loaded one after another: "
            + ", ".join(f"{s:.2f}" for s in loads) + " s; each reload lists every model loaded so far"),
        Row(id="P9b", what="latency p50, one PNG: /models/<name>/invoke (multi-model) vs /invocations (single)",
            unit="ms", ours=median(invoke), reference=median(invocations),
            note=f"{len(invoke)} sequential requests each way, interleaved in {sizes.latency_rounds} rounds; two "
            f"`serve` processes up at once; load from bench.loadgen"),
        Row(id="P9c", what="latency p99, same requests", unit="ms", ours=percentile(invoke, 99),
            reference=percentile(invocations, 99)),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
