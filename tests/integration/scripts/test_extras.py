"""The installable extras match what the scripts import (README: `pip install -e '.[launch]'` / `'.[data]'`).

Each script runs in a subprocess where only the closure of an extra's requirements (resolved from the installed
distributions' own metadata) is importable (extras_guard.py), like a fresh venv holding just that extra:
`--help` of every script, and each script's real work on small data, so imports made inside functions
(TensorFlow, crc32c, sagemaker-core ...) are reached too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.config import REPO_ROOT
from train_container.records import iter_tfrecords

GUARD = Path(__file__).with_name("extras_guard.py")
SCRIPTS = ("scripts.launch", "scripts.build_and_push", "scripts.prepare_data", "scripts.evaluate", "scripts.digits",
           "scripts.demo", "scripts.smoke", "scripts.smoke_client")  # fmt: skip
LAUNCH_COMMANDS = ("train", "tune", "deploy", "predict", "transform", "process", "pipeline", "register", "cleanup")


def extras() -> dict[str, list[str]]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


@cache
def _modules_of() -> dict[str, set[str]]:
    by_dist: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(canonicalize_name(dist), set()).add(module)
    return by_dist


def importable(*extra_names: str) -> list[str]:
    """Top-level modules of the extras' requirements and everything they require (markers evaluated)."""
    todo = [Requirement(r) for name in extra_names for r in extras()[name]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                todo.append(child)
    return sorted(set().union(*(_modules_of().get(name, set()) for name in seen)))


def run(extra_names: tuple[str, ...], module: str, *args: str, env: dict | None = None, cwd=REPO_ROOT):
    # A throwaway HOME: Keras and matplotlib write their config and caches there (never into the repo).
    home = tempfile.mkdtemp(prefix="extras-home-")
    base = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": home, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, str(GUARD), json.dumps(importable(*extra_names)), module, *args],
        cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_guard_refuses_what_the_extra_lacks():
    result = run(("launch",), "tensorflow")
    assert result.returncode != 0
    assert "No module named 'tensorflow' (not in the extra)" in result.stderr


def test_the_closure_comes_from_package_metadata():
    modules = importable("launch")
    # sagemaker-core needs pydantic, boto3 needs botocore: neither is named in the extra itself.
    assert {"boto3", "botocore", "regex", "docker", "sagemaker", "pydantic"} <= set(modules)
    assert "tensorflow" not in modules


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_script_help_runs_with_the_extras(module):
    result = run(("launch", "data"), module, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("command", LAUNCH_COMMANDS)
def test_launch_subcommands_help_with_launch_alone(command):
    result = run(("launch",), "scripts.launch", command, "--help")
    assert result.returncode == 0, result.stderr


def test_launch_validates_and_sends_with_launch_alone():
    offline = {
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1", "AWS_CONFIG_FILE": "/dev/null",
    }  # fmt: skip
    # The service-model check (botocore + regex) refuses this before sending.
    refused = run(("launch",), "scripts.launch", "transform", "--model-name", "m", "--input", "s3://b-1/in",
                  "--output", "s3://b-1/out", "--max-payload", "50", "--max-concurrent", "4", env=offline)  # fmt: skip
    assert refused.returncode == 2
    assert "MaxPayloadInMB x MaxConcurrentTransforms" in refused.stderr
    # A valid request gets as far as the network (sagemaker-core imported), which is closed here.
    sent = run(("launch",), "scripts.launch", "train", "--role", "arn:aws:iam::123456789012:role/r",
               "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1", "--train", "s3://b-1/train",
               "--output-path", "s3://b-1/out", env=offline)  # fmt: skip
    assert sent.returncode == 1
    assert "EndpointConnectionError" in sent.stderr or "Could not connect" in sent.stderr, sent.stderr
    assert "ModuleNotFoundError" not in sent.stderr and "ImportError" not in sent.stderr


def test_build_and_push_reaches_docker_with_launch_alone():
    result = run(("launch",), "scripts.build_and_push", "--no-push", "--git-sha", "abc", "--base-image", "b:1",
                 env={"AWS_REGION": "us-east-1", "DOCKER_HOST": "unix:///nonexistent/docker.sock"})  # fmt: skip
    assert result.returncode == 1
    assert "DockerException" in result.stderr, result.stderr


@pytest.mark.slow
def test_digits_prepare_and_evaluate_with_data_alone(tmp_path):
    pngs, shards = tmp_path / "pngs", tmp_path / "data"
    made = run(("data",), "scripts.digits", "--output", str(pngs), "--size", "8", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    prepared = run(("data",), "scripts.prepare_data", "--source", "folder", "--input", str(pngs),
                   "--output", str(shards), "--shard-multiple", "1", cwd=tmp_path)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    eval_shards = sorted((shards / "eval").glob("*.tfrecord"))
    assert eval_shards
    for shard in eval_shards:
        with shard.open("rb") as stream:
            count = sum(1 for _ in iter_tfrecords(stream))
        rows = [json.dumps([1.0] + [0.0] * 9) for _ in range(count)]  # always class 0
        (predictions / f"{shard.name}.out").write_text("\n".join(rows) + "\n")
    scored = run(("data",), "scripts.evaluate", "--predictions", str(predictions), "--tfrecords",
                 str(shards / "eval"), "--plot", str(tmp_path / "confusion.png"), cwd=tmp_path)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert (tmp_path / "confusion.png").stat().st_size > 0
    assert "accuracy" in scored.stdout.lower()
