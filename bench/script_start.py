"""P10: script-mode start overhead: `docker run IMAGE train` on an SDK-shaped /opt/ml -> the user script's first
line, minus `docker run IMAGE python <script>` -> the same line (the container and Python start both pay).

The script prints the wall clock as its first statement; the host and the container share the clock, so each
start is timed from just before `docker run` to that stamp, without waiting for the container to exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from bench.child import run_child
from bench.config import BenchConfig
from bench.docker_images import resolve
from bench.results import Row
from bench.stats import median, paired_ratio

GOAL_OVERHEAD_SECONDS = 2.0
CODE = "/opt/ml/code"
SCRIPT = "first_line.py"
MARK = "BYOC_FIRST_LINE"
SCRIPT_TEXT = f'import time\nprint("{MARK}", time.time(), flush=True)\n'


def sm_tree(root: Path) -> Path:
    """/opt/ml as SageMaker lays it out for `TensorFlow(entry_point=first_line.py)`: hyperparameters JSON-encoded
    the way the SDK writes them, the code in code/, one host, no channels."""
    (root / "code").mkdir(parents=True)
    (root / "code" / SCRIPT).write_text(SCRIPT_TEXT)
    config = root / "input" / "config"
    config.mkdir(parents=True)
    hyperparameters = {"sagemaker_program": SCRIPT, "sagemaker_submit_directory": CODE,
                       "sagemaker_container_log_level": 20, "sagemaker_job_name": "byoc-bench-start",
                       "sagemaker_region": "us-west-2"}  # fmt: skip
    (config / "hyperparameters.json").write_text(json.dumps({k: json.dumps(v) for k, v in hyperparameters.items()}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    (config / "inputdataconfig.json").write_text("{}")
    root.chmod(0o777)
    for path in root.rglob("*"):
        path.chmod(0o777)
    return root


def seconds_to_first_line(args: list[str]) -> float:
    started = time.time()
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in run.stdout:
            if line.startswith(MARK):
                return float(line.split()[1]) - started
        raise RuntimeError(f"no {MARK} line from `{' '.join(args)}` (exit {run.wait()})")
    finally:
        run.kill()
        run.wait()


def measure(config: BenchConfig) -> list[Row]:
    image, how = resolve(config, "train", docker.from_env())
    if image is None:
        return [Row(id="P10", what="script-mode start", unit="s", ours=None, reference=None, note=how)]
    with tempfile.TemporaryDirectory(prefix="byoc-p10-") as scratch:
        root = sm_tree(Path(scratch) / "ml")
        ours_args = ["docker", "run", "--rm", "-v", f"{root}:/opt/ml", image, "train"]
        reference_args = ["docker", "run", "--rm", "-v", f"{root / 'code'}:{CODE}", image,
                          "python", f"{CODE}/{SCRIPT}"]  # fmt: skip
        seconds_to_first_line(ours_args)  # warm-up: page cache, docker's image layers
        samples = {"ours": [], "reference": []}
        for _ in range(max(3, config.sizes.cold_starts)):
            samples["ours"].append(seconds_to_first_line(ours_args))
            samples["reference"].append(seconds_to_first_line(reference_args))
    overheads = [a - b for a, b in zip(samples["ours"], samples["reference"], strict=True)]
    return [
        Row(id="P10", what="script-mode start: `docker run IMAGE train` -> the script's first line, vs `docker "
            "run IMAGE python script`", unit="s", ours=median(samples["ours"]),
            reference=median(samples["reference"]), goal="overhead ≤ 2 s", goal_max_overhead=GOAL_OVERHEAD_SECONDS,
            paired_ratio=paired_ratio(samples),
            note=f"{image} ({how}); SDK-shaped /opt/ml (sagemaker_program, code in /opt/ml/code, no channels), "
            f"{len(overheads)} starts each way after one warm-up, interleaved; overhead per pair: "
            + ", ".join(f"{o:.2f}" for o in overheads) + " s"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
