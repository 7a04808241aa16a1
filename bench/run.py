"""`python -m bench`: run every benchmark in its own child process, write bench/RESULTS.md, print it.

Children run one after another (never concurrently: they would measure each other), each bounded by a
timeout. A child that fails becomes a row saying so and makes the exit status 1, so the CI smoke run
(BENCH_QUICK=1) catches a benchmark that rotted. Missed goals do not fail the run: they are the report.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bench.config import REPO_ROOT, BenchConfig, load
from bench.results import Row, failed_row, load_rows, machine, render
from tests.support.processes import quiet_tf_env

# module -> the benchmarks it measures (one child each; bench.serving shares one server for P3-P6)
MODULES = {
    "bench.reader": ("p1",),
    "bench.train_input": ("p2",),
    "bench.determinism": ("p2",),
    "bench.serving": ("p3", "p4", "p5", "p6"),
    "bench.cold_start": ("p7",),
    "bench.docker_images": ("p8",),
    "bench.mme": ("p9",),
    "bench.script_start": ("p10",),
}
NEEDS_FIXTURES = {"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p9"}
LOG_TAIL_CHARS = 1500


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_child(module: str, config: BenchConfig, scratch: Path) -> tuple[list[Row], bool]:
    rows_file = scratch / f"{module}.json"
    log_file = config.work_dir / "logs" / f"{module}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = quiet_tf_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    with open(log_file, "w") as log:
        try:
            done = subprocess.run([sys.executable, "-m", module, str(rows_file)], cwd=REPO_ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, timeout=config.sizes.child_timeout_seconds)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    if code == 0 and rows_file.is_file():
        return load_rows(rows_file), True
    tail = log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    reason = "timed out" if code is None else f"exit {code}"
    print(f"{module} failed ({reason}); log {log_file}, tail:\n{tail}", file=sys.stderr)
    last = [line for line in tail.splitlines() if line.strip()][-1:] or ["no output"]
    return [failed_row(module.split(".")[1], f"{reason}: {last[0][:200]}")], False


def run_once(config: BenchConfig, loads: list[str]) -> tuple[list[Row], bool]:
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch_name:
        scratch = Path(scratch_name)
        fixtures_ok = True
        if NEEDS_FIXTURES & set(config.only):
            print("preparing shards and the exported CNN (bench.fixtures)", flush=True)
            fixture_rows, fixtures_ok = run_child("bench.fixtures", config, scratch)
            rows += fixture_rows
            failed |= not fixtures_ok
        for module, benchmarks in MODULES.items():
            selected = set(benchmarks) & set(config.only)
            if not selected or (not fixtures_ok and selected & NEEDS_FIXTURES):
                continue
            loads.append(f"{module}: {uptime()}")
            print(f"running {module} ({', '.join(b.upper() for b in benchmarks if b in config.only)})", flush=True)
            child_rows, ok = run_child(module, config, scratch)
            failed |= not ok
            rows += child_rows
    return rows, failed


def main() -> int:
    config = load()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    machine_text = machine()
    runs: list[list[Row]] = []
    loads: list[str] = []
    failed = False
    for index in range(config.runs):
        if config.runs > 1:
            print(f"run {index + 1} of {config.runs}", flush=True)
        rows, run_failed = run_once(config, loads)
        runs.append(rows)
        failed |= run_failed
    # The table is the last run; the spread shows how far the same code moved over the runs before it.
    table = render(runs[-1], machine_text, started, config.quick, loads, runs if len(runs) > 1 else None)
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(table)
    print(table)
    return 1 if failed else 0
