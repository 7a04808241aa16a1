"""Machine-wide cache for the set-up steps that cost minutes and depend only on pins, not on the clone.

CI runs every submission in a fresh clone on the same machine, so what lives under the clone's build/ is rebuilt
each run. Two things are worth keeping per machine instead, each in a folder keyed by exactly what it depends on:

- the Horovod wheel compiled against the pinned TF (the host venv installs it; local image builds find it in
  the wheelhouse, so Horovod compiles once per machine, not once per venv and again per image);
- the SageMaker SDK venv of the container tier (~1 GB with mlflow).

    python dev/machine_cache.py horovod-wheel   build the wheel unless cached (pip wheel, this interpreter,
                                                the TF already installed in it); prints the wheel's path

Setting (environment): BYOC_CACHE_DIR (default /var/cache/byoc).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

DEFAULT_ROOT = "/var/cache/byoc"
ROOT = Path(__file__).resolve().parent.parent
# What a Horovod build links against: these pins, the interpreter ABI and the build flags below.
HOROVOD_PINS = ("tensorflow", "horovod")
HOROVOD_BUILD_ENV = {
    "HOROVOD_WITH_TENSORFLOW": "1",
    "HOROVOD_WITH_MPI": "1",
    "HOROVOD_WITH_GLOO": "1",
    "HOROVOD_WITHOUT_PYTORCH": "1",
    "HOROVOD_WITHOUT_MXNET": "1",
}


def cache_root(env: Mapping[str, str] = os.environ) -> Path:
    text = env.get("BYOC_CACHE_DIR") or DEFAULT_ROOT
    if not os.path.isabs(text):
        raise ValueError(f"BYOC_CACHE_DIR must be an absolute path, got {text!r}")
    return Path(text)


def pinned_lines(constraints: str, names: tuple[str, ...]) -> list[str]:
    """The `name==version` lines of `names` in a constraints text, in `names` order; fails if one is missing."""
    pins = {}
    for line in constraints.splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" in text:
            pins[text.split("==", 1)[0].strip().lower()] = text
    missing = [name for name in names if name not in pins]
    if missing:
        raise ValueError(f"constraints pin no version for {', '.join(missing)}")
    return [pins[name] for name in names]


def horovod_key(constraints: str, python_tag: str) -> str:
    flags = [f"{name}={value}" for name, value in sorted(HOROVOD_BUILD_ENV.items())]
    payload = "\n".join([python_tag, *pinned_lines(constraints, HOROVOD_PINS), *flags])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def horovod_wheel_dir(env: Mapping[str, str] = os.environ, root: Path = ROOT) -> Path:
    constraints = (root / "requirements" / "constraints.txt").read_text()
    return cache_root(env) / "wheels" / f"horovod-{horovod_key(constraints, python_tag())}"


def cached_wheel(directory: Path) -> Path | None:
    wheels = sorted(directory.glob("horovod-*.whl"))
    return wheels[0] if wheels else None


def build_horovod_wheel(directory: Path, root: Path = ROOT) -> Path:
    """Compile Horovod against the TF installed in this interpreter (hence --no-build-isolation) into a
    temporary folder, then move the wheel in: a build killed half-way never leaves a wheel that looks cached."""
    partial = directory.with_name(directory.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    for stale in partial.glob("*.whl"):
        stale.unlink()
    command = [
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", str(partial), "-c", str(root / "requirements" / "constraints.txt"), "horovod",
    ]  # fmt: skip
    env = {**os.environ, **HOROVOD_BUILD_ENV, "MAKEFLAGS": f"-j{os.cpu_count() or 1}"}
    subprocess.run(command, env=env, check=True)
    wheel = cached_wheel(partial)
    if wheel is None:
        raise OSError(f"pip wheel left no horovod wheel in {partial}")
    directory.mkdir(parents=True, exist_ok=True)
    return wheel.rename(directory / wheel.name)


def main(argv: list[str]) -> int:
    if argv != ["horovod-wheel"]:
        print("usage: python dev/machine_cache.py horovod-wheel", file=sys.stderr)
        return 2
    try:
        directory = horovod_wheel_dir()
        wheel = cached_wheel(directory)
        if wheel is None:
            print(f"horovod: compiling a wheel into {directory} (once per machine and pins)", file=sys.stderr)
            started = time.monotonic()
            wheel = build_horovod_wheel(directory)
            print(f"horovod: wheel built in {time.monotonic() - started:.0f} s", file=sys.stderr)
        else:
            print(f"horovod: reusing {wheel}", file=sys.stderr)
        print(wheel)
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        print(f"machine cache: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
