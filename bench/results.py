"""Result rows, their JSON hand-off from each benchmark's child process, and the RESULTS.md table."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One line of the table. `ours`/`reference` are numbers in `unit`; `ratio` is ours/reference unless the
    goal is an overhead, where `overhead` (ours - reference) is what the goal bounds."""

    id: str
    what: str
    unit: str
    ours: float | None
    reference: float | None
    goal: str = ""
    goal_min_ratio: float | None = None
    goal_max_overhead: float | None = None
    goal_max: float | None = None
    goal_max_ratio: float | None = None
    # Median of per-round ours/reference ratios (each pair measured back to back): robust to load drift on a
    # shared machine, so it is the ratio shown when a benchmark provides it.
    paired_ratio: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference

    @property
    def overhead(self) -> float | None:
        if self.ours is None or self.reference is None:
            return None
        return self.ours - self.reference

    @property
    def met(self) -> bool | None:
        if self.goal_min_ratio is not None and self.ratio is not None:
            return self.ratio >= self.goal_min_ratio
        if self.goal_max_overhead is not None and self.overhead is not None:
            return self.overhead <= self.goal_max_overhead
        if self.goal_max_ratio is not None and self.ratio is not None:
            return self.ratio <= self.goal_max_ratio
        if self.goal_max is not None and self.ours is not None:
            return self.ours <= self.goal_max
        return None


def save_rows(rows: list[Row], path: Path) -> None:
    path.write_text(json.dumps([asdict(row) for row in rows], indent=1))


def load_rows(path: Path) -> list[Row]:
    return [Row(**item) for item in json.loads(path.read_text())]


def failed_row(benchmark: str, reason: str) -> Row:
    return Row(id=benchmark, what="did not complete", unit="", ours=None, reference=None, note=reason)


def machine() -> str:
    load1, _, _ = os.getloadavg()
    return f"{socket.gethostname()} {platform.machine()} {os.cpu_count()} CPU, load {load1:.1f}"


def _number(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    digits = 2 if abs(value) < 100 else 0
    return f"{value:,.{digits}f} {unit}".strip()


def _ratio_cell(row: Row) -> str:
    if row.goal_max_overhead is not None and row.overhead is not None:
        return f"+{row.overhead:.2f} {row.unit}" if row.overhead >= 0 else f"{row.overhead:.2f} {row.unit}"
    # Three decimals: a ratio of 0.9497 must not read as a goal of 0.95 met.
    return "—" if row.ratio is None else f"{row.ratio:.3f}"


def _goal_cell(row: Row) -> str:
    verdict = {True: " ✅", False: " ❌", None: ""}[row.met]
    return f"{row.goal}{verdict}" if row.goal else "(report)"


def spread_lines(runs: list[list[Row]]) -> list[str]:
    """Per row id, the ratio (or, for overhead goals, the overhead) of every run, and its range."""
    lines = ["", f"Spread over {len(runs)} back-to-back runs of the same code (ratio, or overhead for overhead goals; "
             "the table above is the last run):"]  # fmt: skip
    order = [row.id for row in runs[-1]]
    for row_id in order:
        rows = [row for run in runs for row in run if row.id == row_id]
        values = [row.overhead if row.goal_max_overhead is not None else row.ratio for row in rows]
        shown = [v for v in values if v is not None and math.isfinite(v)]
        if not shown:
            continue
        met = [row.met for row in rows if row.met is not None]
        verdict = f"; goal met in {sum(met)} of {len(met)}" if met else ""
        each = ", ".join(f"{v:.3f}" for v in shown)
        lines.append(f"- {row_id}: {min(shown):.3f}-{max(shown):.3f} ({each}){verdict}")
    return lines


def render(rows: list[Row], machine_text: str, started: datetime, quick: bool, loads: list[str],
           runs: list[list[Row]] | None = None) -> str:  # fmt: skip
    date = started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results" + (" (BENCH_QUICK smoke run: tiny sizes, numbers are meaningless)" if quick else ""),
        "",
        "Written by `make bench` (`python -m bench`). Ours and the reference run interleaved in one process tree;",
        "each number is a median over rounds, and the ratio is the median of per-round ratios (each round runs",
        "ours and the reference back to back). Absolute numbers drift on shared machines; the ratios are the claim.",
        "",
        "| what | ours | reference | ratio | goal | machine | date |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.id} {row.what} | {_number(row.ours, row.unit)} | {_number(row.reference, row.unit)} | "
            f"{_ratio_cell(row)} | {_goal_cell(row)} | {machine_text} | {date} |"
        )
    notes = [f"- **{row.id}**: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", "Notes:", *notes]
    if runs:
        lines += spread_lines(runs)
    if loads:
        lines += ["", "Machine load (`uptime`) as each benchmark started:", *(f"- {entry}" for entry in loads)]
    return "\n".join(lines) + "\n"
