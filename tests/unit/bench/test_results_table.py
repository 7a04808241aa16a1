"""The results table: goal verdicts, ratio/overhead cells, notes and load lines."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bench.results import Row, failed_row, load_rows, render, save_rows

STARTED = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)


def row(**overrides) -> Row:
    fields = dict(id="P1", what="reader", unit="img/s", ours=950.0, reference=1000.0, goal="≥ 0.95",
                  goal_min_ratio=0.95)  # fmt: skip
    fields.update(overrides)
    return Row(**fields)


def table_line(text: str, prefix: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {prefix}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize(("ours", "met"), [(950.0, True), (949.0, False), (2000.0, True)])
def test_ratio_goal_verdict(ours, met):
    assert row(ours=ours).met is met


@pytest.mark.parametrize(("ours", "met"), [(3.9, True), (4.1, False)])
def test_overhead_goal_bounds_the_difference_not_the_ratio(ours, met):
    latency = row(id="P3", unit="ms", ours=ours, reference=2.5, goal_min_ratio=None, goal_max_overhead=1.5)
    assert latency.met is met
    assert latency.overhead == pytest.approx(ours - 2.5)


def test_missing_numbers_have_no_verdict():
    assert row(ours=None).met is None
    assert row(reference=0.0).ratio is None
    assert row(goal_min_ratio=None).met is None


def test_absolute_goal():
    assert row(ours=30.0, reference=None, goal_min_ratio=None, goal_max=240.0).met is True
    assert row(ours=300.0, reference=None, goal_min_ratio=None, goal_max=240.0).met is False


def test_render_shows_every_column_and_verdict():
    rows = [row(), row(id="P3", what="latency", unit="ms", ours=4.0, reference=2.0, goal="overhead ≤ 1.5 ms",
                       goal_min_ratio=None, goal_max_overhead=1.5, note="why")]  # fmt: skip
    text = render(rows, "host 2 CPU, load 1.0", STARTED, quick=False, loads=["bench.reader: up 1 min"])
    assert table_line(text, "P1") == [
        "P1 reader", "950 img/s", "1,000 img/s", "0.950", "≥ 0.95 ✅", "host 2 CPU, load 1.0", "2026-11-22 06:00 UTC"
    ]
    assert table_line(text, "P3")[3:5] == ["+2.00 ms", "overhead ≤ 1.5 ms ❌"]
    assert "- **P3**: why" in text
    assert "- bench.reader: up 1 min" in text
    assert "BENCH_QUICK" not in text


def test_quick_run_is_labelled_and_failures_show_dashes():
    text = render([failed_row("serving", "exit 1: boom")], "m", STARTED, quick=True, loads=[])
    assert "BENCH_QUICK" in text.splitlines()[0]
    cells = table_line(text, "serving did not complete")
    assert cells[1:4] == ["—", "—", "—"]
    assert "exit 1: boom" in text


def test_rows_round_trip_through_json(tmp_path):
    rows = [row(extra={"added_mb": 12.5}), row(id="P7", ours=None, reference=None, goal_min_ratio=None)]
    save_rows(rows, tmp_path / "rows.json")
    assert load_rows(tmp_path / "rows.json") == rows


def test_spread_lists_each_runs_ratio_and_how_often_the_goal_was_met():
    def run(ratio_ours, overhead_ours):
        return [Row(id="P4c", what="cpu", unit="ms", ours=ratio_ours, reference=1.0, goal_max_ratio=1.25),
                Row(id="P3", what="latency", unit="ms", ours=overhead_ours, reference=2.0, goal_max_overhead=1.5)]
    runs = [run(1.2, 3.0), run(1.4, 3.6), run(1.1, 3.2)]
    text = render(runs[-1], "m", STARTED, quick=False, loads=[], runs=runs)
    assert "Spread over 3 back-to-back runs" in text
    assert "- P4c: 1.100-1.400 (1.200, 1.400, 1.100); goal met in 2 of 3" in text
    assert "- P3: 1.000-1.600 (1.000, 1.600, 1.200); goal met in 2 of 3" in text
    assert "Spread" not in render(runs[-1], "m", STARTED, quick=False, loads=[])
