"""Figures the reliability tests measure (cases, faults, recoveries, requests, errors, p99).

Tests record into one in-process dict; conftest.py prints it at the end of the run, saves it under
build/reliability/ and, in soak mode, renders tests/reliability/RESULTS.md from it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

_LOCK = threading.Lock()
FIGURES: dict[str, dict] = {}


def record(section: str, **values) -> None:
    with _LOCK:
        FIGURES.setdefault(section, {}).update(values)


def count(section: str, key: str, increment: int = 1) -> None:
    with _LOCK:
        bucket = FIGURES.setdefault(section, {})
        bucket[key] = bucket.get(key, 0) + increment


def save(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(path.read_text()) if path.is_file() else {}
    for section, values in FIGURES.items():
        merged.setdefault(section, {}).update(values)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def summary_lines() -> list[str]:
    return [f"{section}: {json.dumps(values, sort_keys=True)}" for section, values in sorted(FIGURES.items())]
