"""The SageMaker SDK v3 lives in its own venv, not in the host venv: one per machine and pins, under the machine
cache (dev/machine_cache.py), so a fresh clone (every CI run) reuses it. The first build costs ~4 min and ~1 GB.

sagemaker-train (ModelTrainer) requires mlflow>=3, and every mlflow on the index pins gunicorn<27 while the
serving stack pins gunicorn 27.0.1 (requirements/constraints.txt). So the SDK venv installs the project pins
with that one line overridden; nothing else in it moves (numpy, protobuf, boto3 stay at the project pins).
The folder is named by a hash of the resulting constraints and requirements; a stamp written last marks it
complete, so a build killed half-way is redone.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from dev import machine_cache

ROOT = Path(__file__).resolve().parents[3]
# Image pins + tooling pins (dev-constraints.txt includes constraints.txt with `-c`, which a copy cannot follow).
CONSTRAINTS = (ROOT / "requirements" / "constraints.txt", ROOT / "requirements" / "dev-constraints.txt")
STAMP_NAME = ".sdk-constraints.sha256"
# Versions from dev-constraints.txt. sagemaker-train: ModelTrainer (and mlflow). sagemaker-mlops: the local pipeline
# mode `launch pipeline --local` runs in; regex and docker: the rest of the `launch` extra, so scripts.launch runs
# here as a user's venv with `.[launch,pipelines]` would; pytest: tests/container/sdk_local/adapter_checks.py.
REQUIREMENTS = ("sagemaker-train", "sagemaker-mlops", "regex", "docker", "pytest")
# Pins that must differ from constraints.txt inside the SDK venv only (see module docstring).
OVERRIDES: Mapping[str, str] = {"gunicorn": "26.2.0"}
INSTALL_TIMEOUT_SECONDS = 900


class SdkVenvError(RuntimeError):
    pass


def _package_name(line: str) -> str:
    return line.split("==", 1)[0].split(">", 1)[0].split("<", 1)[0].strip().lower()


def project_pins() -> str:
    """Every project pin as one constraints text (the `-c` include is dropped: the copy stands alone)."""
    return "\n".join(
        line for path in CONSTRAINTS for line in path.read_text().splitlines() if not line.startswith("-c ")
    )


def sdk_constraints(project_constraints: str, overrides: Mapping[str, str] = OVERRIDES) -> str:
    """The project's pins with `overrides` swapped in; fails if an override names no pinned package."""
    lines, replaced = [], set()
    for line in project_constraints.splitlines():
        name = _package_name(line) if line.strip() and not line.lstrip().startswith("#") else ""
        if name in overrides:
            lines.append(f"{name}=={overrides[name]}  # overridden for the SDK venv")
            replaced.add(name)
        else:
            lines.append(line)
    missing = set(overrides) - replaced
    if missing:
        raise SdkVenvError(f"overrides for packages not pinned in constraints.txt: {sorted(missing)}")
    return "\n".join(lines) + "\n"


def create_command(base_python: str, venv_dir: Path) -> list[str]:
    return [base_python, "-m", "venv", str(venv_dir)]


def install_command(venv_python: Path, constraints_file: Path) -> list[str]:
    return [str(venv_python), "-m", "pip", "install", "--quiet", "-c", str(constraints_file), *REQUIREMENTS]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SdkVenvError(f"$ {' '.join(argv)}\nexit {done.returncode}\n{tail}")


def ensure_sdk_venv(venv_dir: Path | None = None) -> Path:
    """Create the SDK venv for these pins unless the machine cache has it; returns its python."""
    constraints = sdk_constraints(project_pins())
    wanted = hashlib.sha256((constraints + " ".join(REQUIREMENTS)).encode()).hexdigest()
    venv_dir = venv_dir or machine_cache.cache_root() / "sdk-venv" / wanted[:16]
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / STAMP_NAME
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    if not python.exists():
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        # sys._base_executable: the interpreter behind the host venv, so the SDK venv does not nest inside it.
        _run(create_command(getattr(sys, "_base_executable", sys.executable), venv_dir))
    constraints_file = venv_dir / "sdk-constraints.txt"
    constraints_file.write_text(constraints)
    _run(install_command(python, constraints_file))
    stamp.write_text(wanted + "\n")
    return python


if __name__ == "__main__":  # `python -m tests.container.sdk_local.sdk_venv` pre-builds it (e.g. in CI warm-up)
    print(ensure_sdk_venv())
