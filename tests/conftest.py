"""Fixtures every tier shares (the real `serve` supervisor on the host), and the run's timing plan: a closing
table of the set-up steps (dev/setup.sh) and of each test tier's wall time.

pytest's own `--durations=10` (the Makefile passes it) lists the slowest tests; this adds what it cannot see:
where the minutes of a `make test` went, phase by phase, so a slow change shows up in the CI log it lands in.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.serving import Served, build_slim_protos, serve_env, standin_python_wrapper, start_serve

ROOT = Path(__file__).resolve().parent.parent
SETUP_TIMINGS = ROOT / "build" / "timings" / "setup.tsv"
# Every test's setup+call+teardown seconds, slowest first: what to cut when the suite outgrows its budget.
TEST_TIMINGS = ROOT / "build" / "timings" / "tests.tsv"
_tiers: dict[str, list[float]] = {}  # tier -> [first start, last end, tests, failed]
_durations: dict[str, float] = {}


@pytest.fixture(scope="session")
def slim_protos(tmp_path_factory) -> Path:
    return build_slim_protos(tmp_path_factory.mktemp("slim-protos"))


@pytest.fixture(scope="session")
def standin_python(tmp_path_factory) -> Path:
    return standin_python_wrapper(tmp_path_factory.mktemp("standin-python") / "python")


@pytest.fixture
def make_served(slim_protos, standin_python, tmp_path):
    """Start the real `serve` supervisor (stand-in TFS + gunicorn + app) with extra env; stopped at teardown."""
    started: list[Served] = []

    def make(model_dir: Path, wait: bool = True, **extra) -> Served:
        run_dir = tmp_path / f"run{len(started)}"
        log_path = tmp_path / f"serve{len(started)}.log"
        served = start_serve(serve_env(slim_protos, standin_python, model_dir, run_dir, **extra), log_path)
        started.append(served)
        if wait:
            served.wait_ping(200)
        return served

    yield make
    for served in started:
        served.process.stop(grace=35)


# Under `-n 2 --dist loadgroup` (make test): heaviest tiers first, so the long groups start early and the many
# short unit tests fill in at the end on whichever worker frees up first.
TIER_ORDER = ("container", "reliability", "integration", "unit")


# Tests that bind fixed ports of this machine run on one worker. The SDK's local engine always names its compose
# network `sagemaker-local` and publishes the endpoint on :8080; our multi-process trainers on localhost bind the
# toolkit's fixed ports (TF_CONFIG 2222-2224 and 8890, coordination 29800) as they do on SageMaker.
SHARED_PORT_GROUPS = {
    "tests/container/test_sdk_local_mode.py": "sdk-local-engine",
    "tests/container/test_processing.py": "sdk-local-engine",
    "tests/integration/distributed": "localhost-training-ports",
    "tests/integration/train": "localhost-training-ports",
}


def xdist_group(nodeid: str) -> str:
    """Tests that must share one worker. A directory's tests share its session fixtures (a TF Serving
    stand-in, moto, a baseline training run): one group per directory builds each once. Container modules
    hold no shared fixture and each runs its own containers: one group per module spreads them."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    group = path if parts[:2] == ["tests", "container"] else "/".join(parts[:-1])
    return SHARED_PORT_GROUPS.get(group, group)


def pytest_xdist_make_scheduler(config, log):
    """Under `--dist loadgroup`, xdist's scheduler groups tests by xdist_group(nodeid), computed here in the
    controller. Not xdist's own `xdist_group` marks: xdist 3.8 turns them into a `@group` suffix by assigning
    `item._nodeid`, which pytest 9 no longer reads (`nodeid` comes from `item._id`), so every group silently
    fell apart and tests sharing the SDK's local engine ran at once (one's cleanup killed the other's jobs)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return SharedFixtureScheduling(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    if not getattr(config.option, "loadgroup", False):  # set in xdist workers under --dist loadgroup
        return
    rank = {tier: index for index, tier in enumerate(TIER_ORDER)}
    items.sort(key=lambda item: rank.get(_tier(item.nodeid), len(rank)))  # stable: file order within a tier


def _tier(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_runtest_logstart(nodeid: str) -> None:
    now = time.monotonic()
    _tiers.setdefault(_tier(nodeid), [now, now, 0, 0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _tiers.setdefault(_tier(report.nodeid), [time.monotonic()] * 2 + [0, 0])
    entry[1] = time.monotonic()
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        entry[2] += 1
        entry[3] += int(report.failed)


def _setup_rows() -> list[tuple[str, str]]:
    try:
        lines = SETUP_TIMINGS.read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        name, seconds, status = (line.split("\t") + ["", ""])[:3]
        failed = "" if status in ("0", "") else " (failed)"
        rows.append((f"last setup: {name}", _minutes(float(seconds)) + failed))
    return rows


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def _write_test_timings() -> None:
    TEST_TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    ranked = sorted(_durations.items(), key=lambda item: -item[1])
    TEST_TIMINGS.write_text("".join(f"{seconds:.2f}\t{nodeid}\n" for nodeid, seconds in ranked))


def pytest_terminal_summary(terminalreporter) -> None:
    if _durations:
        _write_test_timings()
    rows = _setup_rows()
    for tier, (start, end, count, failed) in _tiers.items():
        rows.append((f"tests: {tier}", f"{_minutes(end - start)}  ({count} tests, {failed} failed)"))
    if not rows:
        return
    terminalreporter.section("timing plan (wall)")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        terminalreporter.write_line(f"{name:<{width}}  {value}")
