"""Entry point shared by the benchmark modules: `python -m bench.<module> ROWS_JSON` runs and saves rows."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bench.config import BenchConfig, load
from bench.results import Row, save_rows


def run_child(measure: Callable[[BenchConfig], list[Row]]) -> int:
    if len(sys.argv) != 2:
        print(f"usage: python -m {measure.__module__} ROWS_JSON", file=sys.stderr)
        return 2
    rows = measure(load())
    save_rows(rows, Path(sys.argv[1]))
    for row in rows:
        print(f"{row.id}: ours={row.ours} reference={row.reference} ratio={row.ratio}")
    return 0
