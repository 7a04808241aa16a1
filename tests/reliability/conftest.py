"""Reliability tier: shared model exports, the TF Serving stand-in, figures printed (and saved) at the end."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import psutil
import pytest

from serve_container.app import create_app
from serve_container.contract import load_settings
from serve_container.signature import Signature, TensorSpec
from tests.reliability import budget, figures
from tests.reliability.report import write_results
from tests.support import models
from tests.support.processes import REPO_ROOT, start_tfs_standin
from tests.support.serving import Served

FIGURES_DIR = REPO_ROOT / "build" / "reliability"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE_SIGNATURE = Signature(
    "serving_default",
    (TensorSpec("image", np.dtype(np.uint8), (None, 32, 32, 3)),),
    (TensorSpec("probabilities", np.dtype(np.float32), (None, 10)),),
)
VECTOR_SIGNATURE = Signature(
    "serving_default",
    (TensorSpec("x", np.dtype(np.float32), (None, 4)),),
    (TensorSpec("y", np.dtype(np.float32), (None, 3)),),
)


@pytest.fixture(scope="session")
def image_model_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("reliability-image-model") / "model"
    models.export_image_classifier(base, version=1, seed=1)
    return base


@pytest.fixture(scope="session")
def vector_model_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("reliability-vector-model") / "vector"
    models.export_vector_model(base, version=1)
    return base


def _worker_id(config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a plain run): forget earlier runs
        for stale in FIGURES_DIR.glob("partial-*.json"):
            stale.unlink()


def pytest_sessionfinish(session):
    # Under xdist the tests (and FIGURES) live in worker processes: each leaves its part for the controller.
    if figures.FIGURES:
        figures.save(FIGURES_DIR / f"partial-{_worker_id(session.config)}.json")


def pytest_terminal_summary(terminalreporter):
    partials = sorted(FIGURES_DIR.glob("partial-*.json"))
    if hasattr(terminalreporter.config, "workerinput") or not partials:  # the controller merges, once
        return
    for partial in partials:
        figures.merge(partial)
        partial.unlink()
    terminalreporter.section(f"reliability figures ({budget.MODE})")
    for line in figures.summary_lines():
        terminalreporter.write_line(line)
    path = FIGURES_DIR / f"figures-{budget.MODE}.json"
    figures.save(path)
    if budget.SOAK:
        write_results(path, Path(__file__).with_name("RESULTS.md"))
        terminalreporter.write_line("wrote tests/reliability/RESULTS.md")


def two_model_config(path: Path, image_dir: Path, vector_dir: Path) -> Path:
    """One TF Serving with the image classifier as `model` and the affine model as `vector`."""
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" }}\n'
        for name, base in (("model", image_dir), ("vector", vector_dir))
    )
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path


@pytest.fixture(scope="session")
def standin(image_model_dir, vector_model_dir, tmp_path_factory):
    """A real TF Serving stand-in (gRPC) serving both models, for in-process app tests."""
    config = two_model_config(tmp_path_factory.mktemp("standin") / "models.config", image_model_dir, vector_model_dir)
    server = start_tfs_standin(None, extra_args=[f"--model_config_file={config}"])
    try:
        server.wait_model_available("model")
        server.wait_model_available("vector")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_client(standin, image_model_dir, vector_model_dir, tmp_path_factory):
    """The real Flask app with the real gRPC client, in-process (Werkzeug test client): fast enough to fuzz."""
    # The app knows the models its model dir holds (`<name>/<version>`): the same two the stand-in serves.
    both = tmp_path_factory.mktemp("app-models")
    shutil.copytree(image_model_dir, both / "model")
    shutil.copytree(vector_model_dir, both / "vector")
    settings = load_settings(
        {
            "BYOC_TFS_GRPC_PORT": str(standin.port),
            "BYOC_MODEL_DIR": str(both),
            "BYOC_ENABLE_HOOKS": "false",
            "BYOC_LOG_LEVEL": "ERROR",
        }
    )
    return create_app(settings).test_client()


def gunicorn_workers(served: Served) -> list[psutil.Process]:
    """The gunicorn worker processes under a `serve` supervisor (grandchildren: supervisor > master > workers)."""
    master = gunicorn_master(served)
    return master.children() if master else []


def _is_gunicorn(process: psutil.Process) -> bool:
    return process.cmdline()[1:3] == ["-m", "gunicorn"]


def gunicorn_master(served: Served) -> psutil.Process | None:
    return next((c for c in psutil.Process(served.process.pid).children() if _is_gunicorn(c)), None)


def tfs_process(served: Served) -> psutil.Process:
    supervisor = psutil.Process(served.process.pid)
    for child in supervisor.children():
        if not _is_gunicorn(child):
            return child
    raise AssertionError("no TF Serving child under the supervisor")
