"""Host-side wheelhouse for the local image builds, served on loopback while they run.

pip inside a build container cannot trust this environment's intercepting proxy, and the product images must
not carry the host's CA bundle. So the host (whose pip can reach PyPI) downloads every pinned distribution the
builds install into build/wheelhouse/, and `docker build --network host` points pip at it with the standard
PIP_FIND_LINKS / PIP_NO_INDEX build args. Real builds against the DLC bases need none of this.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

# The local bases are Debian bookworm: CPython 3.11, glibc 2.36. pip does not expand a --platform to the
# older manylinux tags it implies, so list them all (plus the legacy aliases wheels are still tagged with).
_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64",
)  # fmt: skip
TARGET = (
    "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
    *(arg for platform in _PLATFORMS for arg in ("--platform", platform)),
)  # fmt: skip
# Everything any local build installs. Horovod and our own package's build backend come separately:
# Horovod ships only an sdist, compiled inside the training image.
REQUIREMENT_FILES = (
    "requirements/train.txt",
    "requirements/serve.txt",
    "requirements/processing.txt",  # pinned by dev-constraints.txt, which it includes
    "requirements/dlc-toolkit.txt",  # likewise
    "docker/local/tfs_standin/requirements.txt",
)
EXTRA_REQUIREMENTS = (
    "tensorflow", "tf-keras", "tensorflow-serving-api", "grpcio", "protobuf", "numpy",
    "setuptools", "wheel", "packaging", "psutil", "pyyaml", "cloudpickle",
)  # fmt: skip
SDISTS = ("horovod",)
STAMP_INPUTS = ("requirements/constraints.txt", "requirements/dev-constraints.txt", *REQUIREMENT_FILES)


def stamp(root: Path) -> str:
    digest = hashlib.sha256()
    for name in STAMP_INPUTS:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    digest.update(repr((TARGET, EXTRA_REQUIREMENTS, SDISTS)).encode())
    return digest.hexdigest()


def download_commands(python: str, dest: str, constraints: str) -> list[list[str]]:
    pip = [python, "-m", "pip", "download", "--quiet", "--dest", dest, "-c", constraints]
    binaries = [*pip, *TARGET, "--only-binary=:all:"]
    for requirements in REQUIREMENT_FILES:
        binaries += ["-r", requirements]
    return [[*binaries, *EXTRA_REQUIREMENTS], [*pip, "--no-deps", "--no-binary=:all:", *SDISTS]]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def served(directory: Path, port: int) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1:port for the duration; yields the find-links URL.

    The port is fixed (not ephemeral) because the URL is a build arg and build args are part of Docker's
    layer-cache key: a new port each run would rebuild every layer that runs pip.
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        message = f"cannot serve the wheelhouse on 127.0.0.1:{port} ({error}); set BYOC_WHEELHOUSE_PORT"
        raise OSError(message) from error
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def pip_args(url: str) -> dict[str, str]:
    return {"PIP_FIND_LINKS": url, "PIP_NO_INDEX": "1"}


def missing_files(root: Path, names: Sequence[str]) -> list[str]:
    return [name for name in names if not (root / name).is_file()]
