"""The benchmark contract: every environment variable bench/ reads, validated once into `BenchConfig`.

BENCH_QUICK=1      tiny sizes (CI smoke); BENCH_ONLY=p1,p3 runs a subset; BENCH_RUNS=N back-to-back runs whose
spread the table records (default 3, 1 with BENCH_QUICK); BENCH_OUTPUT=path of the table
(default bench/RESULTS.md); BENCH_WORK_DIR=scratch (default build/bench); BYOC_SERVE_IMAGE / BYOC_TRAIN_IMAGE
= product images for P7/P8 (else read from build/images.env, else the newest local byoc/ image).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dev.image_specs import read_env_file

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10")


class BenchConfigError(ValueError):
    """A bad BENCH_* value; the message names the variable."""


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does. Every loop is bounded by these counts (and the child timeout)."""

    reader_copies: int  # the digits shards are linked this many times to make "a few thousand" records
    reader_rounds: int
    batch_size: int
    train_steps: int
    train_rounds: int
    determinism_rounds: int  # P2d: each round is two fresh processes
    latency_requests: int
    latency_rounds: int
    concurrency: int
    throughput_requests: int
    throughput_rounds: int
    batch_records: int
    batch_requests: int
    batch_rounds: int
    cold_starts: int
    child_timeout_seconds: float


FULL = Sizes(
    reader_copies=3,
    reader_rounds=15,
    batch_size=64,
    train_steps=20,
    train_rounds=5,
    determinism_rounds=3,
    latency_requests=200,
    latency_rounds=5,
    concurrency=8,
    throughput_requests=500,
    throughput_rounds=5,
    batch_records=256,
    batch_requests=4,
    batch_rounds=7,
    cold_starts=3,
    child_timeout_seconds=420.0,
)
QUICK = Sizes(
    reader_copies=1,
    reader_rounds=1,
    batch_size=16,
    train_steps=3,
    train_rounds=1,
    determinism_rounds=1,
    latency_requests=10,
    latency_rounds=1,
    concurrency=2,
    throughput_requests=16,
    throughput_rounds=1,
    batch_records=8,
    batch_requests=1,
    batch_rounds=1,
    cold_starts=1,
    child_timeout_seconds=300.0,
)


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    sizes: Sizes
    only: tuple[str, ...]
    runs: int
    output: Path
    work_dir: Path
    serve_image: str | None
    train_image: str | None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise BenchConfigError(f"{name}={value!r} must be 1 or 0")


def load(environ: Mapping[str, str] | None = None) -> BenchConfig:
    environ = os.environ if environ is None else environ
    quick = _flag(environ, "BENCH_QUICK")
    only_text = environ.get("BENCH_ONLY", "").strip().lower()
    only = tuple(name.strip() for name in only_text.split(",") if name.strip()) or BENCHMARKS
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        raise BenchConfigError(f"BENCH_ONLY names unknown benchmarks {unknown}; known: {', '.join(BENCHMARKS)}")
    runs_text = environ.get("BENCH_RUNS", "").strip() or ("1" if quick else "3")
    if not runs_text.isdigit() or not 1 <= int(runs_text) <= 10:
        raise BenchConfigError(f"BENCH_RUNS={runs_text!r} must be a whole number from 1 to 10")
    built = read_env_file(REPO_ROOT / "build" / "images.env")
    return BenchConfig(
        quick=quick,
        sizes=QUICK if quick else FULL,
        only=only,
        runs=int(runs_text),
        output=Path(environ.get("BENCH_OUTPUT") or REPO_ROOT / "bench" / "RESULTS.md"),
        work_dir=Path(environ.get("BENCH_WORK_DIR") or REPO_ROOT / "build" / "bench"),
        serve_image=environ.get("BYOC_SERVE_IMAGE") or built.get("BYOC_SERVE_IMAGE"),
        train_image=environ.get("BYOC_TRAIN_IMAGE") or built.get("BYOC_TRAIN_IMAGE"),
    )
