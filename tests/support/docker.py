"""The Docker CLI for tests, once: run a command in an image, run any `docker` subcommand, find the image
under test. Each fails the test with the command's whole output (never skips): a container test that silently
does nothing proves nothing.
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


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """`docker ARGS...`; returns stripped stdout. With check, a non-zero exit fails the test."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return done.stdout.strip()


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


def image_from_env(variable: str) -> str:
    """The image ref `make test` exported as `variable`, checked to exist locally."""
    ref = os.environ.get(variable, "").strip()
    if not ref:
        pytest.fail(
            f"{variable} is not set: run the container tiers with `make test` (it builds the images and "
            f"exports {variable}), or export {variable}=<image ref> yourself",
            pytrace=False,
        )
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"{variable}={ref} does not name a local image: run `make images`", pytrace=False)
    return ref


def image_config(image: str) -> dict:
    return json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image))
