"""Medians, percentiles and the interleaving loop every benchmark uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def interleave(contenders: Mapping[str, Callable[[], float]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call each contender `warmup` times, then `rounds` times in alternation (ours, ref, ours, ref...), so
    drift in machine load hits both alike. Each call returns its own measurement (e.g. items/s)."""
    for _ in range(warmup):
        for run in contenders.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for index in range(rounds):
        # Alternate who goes first: the second runner of a round may profit from warm caches.
        order = list(contenders) if index % 2 == 0 else list(reversed(contenders))
        for name in order:
            samples[name].append(contenders[name]())
        # Per-round numbers go to the child's log (build/bench/logs/) for anyone chasing a noisy ratio.
        print(f"round {index}: " + ", ".join(f"{name}={samples[name][-1]:.4g}" for name in contenders), flush=True)
    return samples


def rate(count: int, run: Callable[[], object]) -> float:
    """count / seconds taken by run()."""
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def paired_ratio(samples: dict[str, list[float]], ours: str = "ours", reference: str = "reference") -> float:
    """Median of round-by-round ours/reference: each pair ran back to back, so slow drift cancels."""
    return median([a / b for a, b in zip(samples[ours], samples[reference], strict=True)])
