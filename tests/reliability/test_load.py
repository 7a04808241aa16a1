"""Load on the serving container (the product image, `docker run IMAGE serve`, loopback): 50 concurrent clients,
0 errors, p99 reported, worker memory flat; then SageMaker's stop (SIGTERM) with requests in flight."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from tests.reliability import budget, figures
from tests.reliability.containers import ServingContainer, readable_model_dir
from tests.support import models
from tests.support.docker import docker, image_from_env

WORKERS = 2
WARMUP_SECONDS = 3


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    serve_image = image_from_env("BYOC_SERVE_IMAGE")
    model_dir = readable_model_dir(tmp_path_factory.mktemp("load"))
    served = ServingContainer(serve_image, model_dir, env={"SAGEMAKER_GUNICORN_WORKERS": str(WORKERS)})
    try:
        served.wait_healthy()
        yield served
    finally:
        served.remove()


def png(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(models.random_images(1, seed=seed)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def worker_rss(container: ServingContainer) -> dict[int, int]:
    """RSS (KiB) of each gunicorn worker (the master is the workers' parent; it has the lowest pid)."""
    rows = sorted((r for r in container.processes() if "gunicorn" in r["args"]), key=lambda r: r["pid"])
    return {r["pid"]: r["rss_kib"] for r in rows[1:]}


def test_fifty_clients_zero_errors_and_flat_worker_memory(container):
    from tests.reliability.load import Load

    samples: list[tuple[float, dict[int, int]]] = []
    started = time.monotonic()
    with Load(container.url, png(), "image/png", clients=budget.LOAD_CLIENTS) as load:
        while time.monotonic() - started < budget.LOAD_SECONDS:
            samples.append((time.monotonic() - started, worker_rss(container)))
            time.sleep(1)
    outcomes = load.outcomes()
    latencies = load.latencies()
    total = sum(outcomes.values())
    assert set(outcomes) == {200}, outcomes
    assert total > budget.LOAD_SECONDS * 5
    pids = {pid for _, rss in samples for pid in rss}
    assert len(pids) == WORKERS, f"workers were replaced during the run: {samples}"
    steady = [(t, sum(rss.values())) for t, rss in samples if t >= WARMUP_SECONDS]
    quarter = max(1, len(steady) // 4)
    first = float(np.median([r for _, r in steady[:quarter]]))
    last = float(np.median([r for _, r in steady[-quarter:]]))
    growth = last - first
    figures.record(
        "load_container",
        clients=budget.LOAD_CLIENTS,
        seconds=budget.LOAD_SECONDS,
        requests=total,
        errors=total - outcomes[200],
        requests_per_s=round(total / budget.LOAD_SECONDS, 1),
        p50_ms=round(float(np.percentile(latencies, 50)) * 1000, 1),
        p99_ms=round(float(np.percentile(latencies, 99)) * 1000, 1),
        max_ms=round(float(latencies.max()) * 1000, 1),
        workers=WORKERS,
        worker_rss_first_quarter_kib=int(first),
        worker_rss_last_quarter_kib=int(last),
        rss_samples=len(samples),
    )
    assert growth < max(20 * 1024, 0.10 * first), f"worker RSS grew {growth:.0f} KiB over the run: {steady}"


def test_docker_stop_lets_in_flight_requests_finish(container):
    # Runs last: stops the container. TF Serving is frozen so requests are provably in flight at SIGTERM.
    (tfs,) = [
        r["pid"] for r in container.processes() if "tensorflow_model_server" in r["args"] or "server.py" in r["args"]
    ]
    results: list = []

    def request():
        try:
            results.append(
                requests.post(
                    f"{container.url}/invocations", data=png(), headers={"Content-Type": "image/png"}, timeout=60
                ).status_code
            )
        except requests.RequestException as error:
            results.append(type(error).__name__)

    os.kill(tfs, signal.SIGSTOP)
    clients = [threading.Thread(target=request) for _ in range(6)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    started = time.monotonic()
    stopper = threading.Thread(target=docker, args=("stop", "-t", "30", container.id), kwargs={"timeout": 60})
    stopper.start()
    time.sleep(1.0)
    os.kill(tfs, signal.SIGCONT)
    stopper.join(60)
    elapsed = time.monotonic() - started
    for client in clients:
        client.join(30)
    exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", container.id)
    assert results == [200] * 6, (results, container.logs()[-3000:])
    assert exit_code == "0", container.logs()[-3000:]
    assert elapsed < 30
    figures.record(
        "fault_sigterm_container",
        in_flight=6,
        completed_200=results.count(200),
        exit_after_s=round(elapsed, 2),
        exit_code=0,
    )
