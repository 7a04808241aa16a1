"""Figures the reliability tests measure (cases, faults, recoveries, requests, errors, p99).

Tests record into one in-process dict; each test process (an xdist worker, or the only one) saves its part
under build/reliability/, and conftest.py merges the parts at the end of the run, prints them, saves them and,
in soak mode, renders tests/reliability/RESULTS.md from them.
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


def merge(path: Path) -> None:
    """Add the figures another process saved (an xdist worker's part) to this process's."""
    with _LOCK:
        for section, values in json.loads(path.read_text()).items():
            FIGURES.setdefault(section, {}).update(values)


def summary_lines() -> list[str]:
    return [f"{section}: {json.dumps(values, sort_keys=True)}" for section, values in sorted(FIGURES.items())]
