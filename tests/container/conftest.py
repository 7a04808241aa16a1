"""Container tier: the product images under test, and running commands inside them.

`make test` builds the images (dev/images.py) and exports their refs as BYOC_TRAIN_IMAGE / BYOC_SERVE_IMAGE.
Without them these tests FAIL rather than skip: a container tier that silently does nothing proves nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

RUN_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class RunResult:
    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.command)}\nexit {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def docker_run(
    image: str,
    *command: str,
    env: Mapping[str, str] | None = None,
    docker_args: Sequence[str] = (),
    timeout: float = RUN_TIMEOUT_SECONDS,
) -> RunResult:
    """`docker run --rm IMAGE COMMAND...` through the image's own entrypoint; returns exit code and output."""
    argv = ["docker", "run", "--rm", *docker_args]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    argv += [image, *command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return RunResult(tuple(argv), done.returncode, done.stdout, done.stderr)


def run_ok(image: str, *command: str, **kwargs) -> str:
    """Like docker_run but fails the test (showing all output) unless the command exits 0; returns stdout."""
    result = docker_run(image, *command, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"command failed in {image}:\n{result.describe()}", pytrace=False)
    return result.stdout


def image_config(image: str) -> dict:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config}}", image],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def _image_from_env(variable: str) -> str:
    ref = os.environ.get(variable, "").strip()
    if not ref:
        pytest.fail(
            f"{variable} is not set: run the container tier with `make test` (it builds the images and "
            f"exports {variable}), or export {variable}=<image ref> yourself",
            pytrace=False,
        )
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"{variable}={ref} does not name a local image: run `make images`", pytrace=False)
    return ref


@pytest.fixture(scope="session")
def train_image() -> str:
    return _image_from_env("BYOC_TRAIN_IMAGE")


@pytest.fixture(scope="session")
def serve_image() -> str:
    return _image_from_env("BYOC_SERVE_IMAGE")
