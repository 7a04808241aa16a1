"""Percentiles and the interleaving order of bench.stats."""

from __future__ import annotations

from bench.stats import interleave, median, paired_ratio, percentile


def test_percentiles():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) in (50.0, 51.0)
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert median([3.0, 1.0, 2.0]) == 2.0


def test_interleave_warms_up_then_alternates_who_goes_first():
    calls: list[str] = []

    def contender(name):
        def run():
            calls.append(name)
            return float(len(calls))

        return run

    samples = interleave({"ours": contender("ours"), "ref": contender("ref")}, rounds=3, warmup=1)
    assert calls == ["ours", "ref", "ours", "ref", "ref", "ours", "ours", "ref"]
    assert samples == {"ours": [3.0, 6.0, 7.0], "ref": [4.0, 5.0, 8.0]}


def test_paired_ratio_cancels_drift_between_rounds():
    # The machine slows 10x between rounds; each round's pair still says ours is 90% of the reference.
    samples = {"ours": [90.0, 9.0, 45.0], "reference": [100.0, 10.0, 50.0]}
    assert paired_ratio(samples) == 0.9
    assert paired_ratio({"a": [1.0, 3.0], "b": [2.0, 2.0]}, "a", "b") == 1.0
