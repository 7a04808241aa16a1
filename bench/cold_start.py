"""P7: serving container start (`docker run`) -> first `/ping` 200, and the model-load part of it.

The model-load time is read from the supervisor's own log lines ("starting TF Serving" -> "model ... is
AVAILABLE"), so it is the TF Serving side alone. Each start is a fresh container over the exported CNN.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import time
from datetime import datetime

import docker

from bench import fixtures
from bench.child import run_child
from bench.config import BenchConfig
from bench.docker_images import resolve
from bench.results import Row
from bench.stats import median
from tests.support.processes import free_port

PING_DEADLINE_SECONDS = 240.0  # SageMaker's limit for the first healthy /ping
_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
TFS_START = re.compile(_STAMP + r" INFO \S+ starting TF Serving")
TFS_READY = re.compile(_STAMP + r" INFO \S+ model '[^']+' is AVAILABLE")


def ping(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


def stamp(pattern: re.Pattern, logs: str) -> datetime | None:
    match = pattern.search(logs)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") if match else None


def model_load_seconds(logs: str) -> float | None:
    started, ready = stamp(TFS_START, logs), stamp(TFS_READY, logs)
    return (ready - started).total_seconds() if started and ready else None


def one_start(image: str, model_dir: str) -> tuple[float, float | None]:
    port = free_port()
    args = ["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "-v", f"{model_dir}:/opt/ml/model:ro",
            image, "serve"]  # fmt: skip
    started = time.perf_counter()
    container = subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    try:
        while ping(port) != 200:
            elapsed = time.perf_counter() - started
            if elapsed > PING_DEADLINE_SECONDS:
                raise RuntimeError(f"no /ping 200 within {PING_DEADLINE_SECONDS:.0f}s")
            time.sleep(0.05)
        to_ping = time.perf_counter() - started
        shown = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        logs = shown.stdout + shown.stderr
        return to_ping, model_load_seconds(logs)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def measure(config: BenchConfig) -> list[Row]:
    image, how = resolve(config, "serve", docker.from_env())
    if image is None:
        return [Row(id=name, what="serving cold start", unit="s", ours=None, reference=None, note=how)
                for name in ("P7", "P7b")]  # fmt: skip
    model_dir = fixtures.model_base(config)
    model_dir.chmod(0o755)
    starts = [one_start(image, str(model_dir)) for _ in range(config.sizes.cold_starts)]
    pings = [s[0] for s in starts]
    loads = [s[1] for s in starts if s[1] is not None]
    note = (f"{image} ({how}), {len(starts)} fresh containers, median; the local base runs the TF Serving "
            "stand-in (Python + TensorFlow) where the DLC runs the native tensorflow_model_server")  # fmt: skip
    return [
        Row(id="P7", what="cold start: `docker run` -> first /ping 200", unit="s", ours=median(pings),
            reference=None, goal="≤ 240 s (SageMaker)", goal_max=PING_DEADLINE_SECONDS, note=note),
        Row(id="P7b", what="of which TF Serving model load (start -> AVAILABLE, from the logs)", unit="s",
            ours=median(loads) if loads else None, reference=None,
            note="" if loads else "supervisor log lines not found: model-load time unknown"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
