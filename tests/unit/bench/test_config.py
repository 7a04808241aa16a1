"""bench.config: the one place BENCH_* and the image refs are read."""

from __future__ import annotations

import pytest

from bench import config


def test_defaults_are_the_full_sizes():
    loaded = config.load({})
    assert loaded.quick is False
    assert loaded.sizes == config.FULL
    assert loaded.only == config.BENCHMARKS
    assert loaded.output == config.REPO_ROOT / "bench" / "RESULTS.md"
    assert loaded.runs == 3  # make bench: three back-to-back runs, their spread in the table


def test_runs_default_to_one_when_quick_and_can_be_set():
    assert config.load({"BENCH_QUICK": "1"}).runs == 1
    assert config.load({"BENCH_RUNS": "2"}).runs == 2


def test_quick_and_subset():
    loaded = config.load({"BENCH_QUICK": "1", "BENCH_ONLY": "P3, p1", "BENCH_OUTPUT": "/tmp/x.md"})
    assert loaded.sizes == config.QUICK
    assert loaded.only == ("p3", "p1")
    assert str(loaded.output) == "/tmp/x.md"


def test_quick_sizes_are_smaller_everywhere():
    for name, full in vars(config.FULL).items():
        assert getattr(config.QUICK, name) <= full, name


@pytest.mark.parametrize(("environ", "message"), [
    ({"BENCH_QUICK": "maybe"}, "BENCH_QUICK"),
    ({"BENCH_ONLY": "p1,p99"}, "p99"),
    ({"BENCH_RUNS": "0"}, "BENCH_RUNS"),
    ({"BENCH_RUNS": "three"}, "BENCH_RUNS"),
])  # fmt: skip
def test_bad_values_name_the_variable(environ, message):
    with pytest.raises(config.BenchConfigError, match=message):
        config.load(environ)


def test_image_refs_from_environment_win():
    loaded = config.load({"BYOC_SERVE_IMAGE": "byoc/tensorflow-inference:abc"})
    assert loaded.serve_image == "byoc/tensorflow-inference:abc"

