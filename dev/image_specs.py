"""What each local image is built from, and pure functions deciding its tag, whether to build it and why.

An image's tag is a hash of its inputs: the files its recipe reads, its base image's ID and the build
args that change its content. Same inputs, same tag: `dev/images.py` then skips the build.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

TAG_LENGTH = 12
# Transport-only build args: where pip fetches from does not change what gets installed (pins do).
TRANSPORT_ARGS = frozenset({"PIP_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"})
_IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})


@dataclass(frozen=True)
class ImageSpec:
    """One image: `base` names another spec (built first) or is None for the mmdebstrap rootfs."""

    name: str
    repository: str
    recipe: str
    inputs: tuple[str, ...]
    base: str | None = None
    base_arg: str = "BASE_IMAGE"
    alias: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    # Build arg that receives the sha256 of the wheelhouse's prebuilt Horovod wheel: it keys the layer cache (and
    # the tag) on the wheel, which pip reads from the wheelhouse, outside what Docker hashes.
    horovod_wheel_arg: str | None = None


ROOTFS = ImageSpec(
    name="rootfs",
    repository="byoc-local/debian-rootfs",
    recipe="docker/local/rootfs-packages.txt",
    inputs=("docker/local/rootfs-packages.txt",),
)
TRAINING_BASE = ImageSpec(
    name="training-base",
    repository="byoc-local/tensorflow-training",
    recipe="docker/local/training.Dockerfile",
    inputs=(
        "docker/local/training.Dockerfile",
        "requirements/constraints.txt",
        "requirements/dev-constraints.txt",
        "requirements/processing.txt",
        "requirements/dlc-toolkit.txt",
    ),
    base="rootfs",
    base_arg="ROOTFS_IMAGE",
    alias="byoc-local/tensorflow-training:2.16.2-cpu",
)
SERVING_BASE = ImageSpec(
    name="serving-base",
    repository="byoc-local/tensorflow-inference",
    recipe="docker/local/serving.Dockerfile",
    inputs=("docker/local/serving.Dockerfile", "requirements/constraints.txt", "docker/local/tfs_standin"),
    base="rootfs",
    base_arg="ROOTFS_IMAGE",
    alias="byoc-local/tensorflow-inference:2.16-cpu",
)
TRAIN = ImageSpec(
    name="train",
    repository="byoc/tensorflow-training",
    recipe="docker/train.Dockerfile",
    inputs=(
        "docker/train.Dockerfile",
        "requirements/constraints.txt",
        "requirements/train.txt",
        "requirements/dev-constraints.txt",
        "requirements/processing.txt",
        "docker/build/missing_requirements.py",
        "scripts/__init__.py",
        "scripts/config.py",
        "scripts/prepare_data.py",
        "scripts/evaluate.py",
        "docker/config",
        "docker/build/entrypoint.sh",
        "pyproject.toml",
        "README.md",
        "train_container",
    ),
    base="training-base",
    horovod_wheel_arg="HOROVOD_WHEEL_SHA256",
)
SERVE = ImageSpec(
    name="serve",
    repository="byoc/tensorflow-inference",
    recipe="docker/serve.Dockerfile",
    inputs=(
        "docker/serve.Dockerfile",
        "requirements/constraints.txt",
        "requirements/serve.txt",
        "docker/build/extract_tf_protos.py",
        "docker/build/check_no_tensorflow.py",
        "docker/build/entrypoint.sh",
        "pyproject.toml",
        "README.md",
        "serve_container",
    ),
    base="serving-base",
)
ALL_SPECS = (ROOTFS, TRAINING_BASE, SERVING_BASE, TRAIN, SERVE)


def chain(name: str) -> tuple[ImageSpec, ...]:
    """The spec called `name` preceded by its bases, in build order."""
    by_name = {spec.name: spec for spec in ALL_SPECS}
    specs = [by_name[name]]
    while specs[0].base:
        specs.insert(0, by_name[specs[0].base])
    return tuple(specs)


def _files_under(root: Path, relative: str) -> list[str]:
    path = root / relative
    if path.is_file():
        return [relative]
    if not path.is_dir():
        raise FileNotFoundError(f"image input {relative} does not exist")
    files = []
    for child in sorted(path.rglob("*")):
        rel = child.relative_to(root)
        if child.is_file() and not _IGNORED_PARTS.intersection(rel.parts) and child.suffix != ".pyc":
            files.append(rel.as_posix())
    return files


def input_digests(root: Path, inputs: Iterable[str]) -> dict[str, str]:
    """{relative file path: sha256} of every file the recipe reads (directories expanded)."""
    digests = {}
    for relative in inputs:
        for file in _files_under(root, relative):
            digests[file] = hashlib.sha256((root / file).read_bytes()).hexdigest()
    return digests


def content_args(args: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in sorted(args.items()) if key not in TRANSPORT_ARGS}


def inputs_tag(digests: Mapping[str, str], base_id: str | None, args: Mapping[str, str]) -> str:
    payload = json.dumps(
        {"files": dict(sorted(digests.items())), "base": base_id, "args": content_args(args)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:TAG_LENGTH]


def manifest(digests: Mapping[str, str], base_id: str | None, args: Mapping[str, str]) -> dict:
    return {"files": dict(sorted(digests.items())), "base": base_id, "args": content_args(args)}


def change_reason(previous: Mapping | None, current: Mapping) -> str:
    """One short phrase saying why inputs differ from the last build (for the one-line build log)."""
    if previous is None:
        return "no previous build"
    reasons = []
    old_files, new_files = previous.get("files", {}), current["files"]
    changed = sorted(f for f in new_files.keys() | old_files.keys() if old_files.get(f) != new_files.get(f))
    if changed:
        shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
        reasons.append(f"changed {shown}")
    if previous.get("base") != current["base"]:
        reasons.append("base image changed")
    if previous.get("args") != current["args"]:
        reasons.append("build args changed")
    return "; ".join(reasons) or "image missing"


def docker_build_command(
    spec: ImageSpec, tag: str, base_ref: str, args: Mapping[str, str], context: str = "."
) -> list[str]:
    """`docker build` of one image; host networking lets the build reach the loopback wheelhouse."""
    command = ["docker", "build", "--network", "host", "-f", spec.recipe, "-t", f"{spec.repository}:{tag}"]
    if spec.alias:
        command += ["-t", spec.alias]
    for key, value in {spec.base_arg: base_ref, **args}.items():
        command += ["--build-arg", f"{key}={value}"]
    return [*command, context]


def mmdebstrap_command(packages: Iterable[str], suite: str, mirror: str, output: str) -> list[str]:
    return ["mmdebstrap", "--variant=apt", f"--include={','.join(packages)}", suite, output, mirror]


def docker_import_command(tarball: str, ref: str) -> list[str]:
    # An imported tarball has no config: give it what a `FROM debian` image would have.
    return [
        "docker", "import",
        "--change", "ENV LANG=C.UTF-8",
        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", 'CMD ["/bin/bash"]',
        tarball, ref,
    ]  # fmt: skip


def read_package_list(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def env_file(refs: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in sorted(refs.items()))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file like env_file's (quotes tolerated); {} when the file does not exist."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


# Another checkout on this machine (a second engineer, a CI clone) may be testing an older tag right now:
# superseded tags younger than this stay, older ones are untagged so Docker can free their layers.
SUPERSEDED_GRACE_SECONDS = 6 * 3600


def superseded_refs(
    listing: Iterable[str], spec: ImageSpec, current_tag: str, ages: Mapping[str, float] | None = None
) -> list[str]:
    """Older hash tags of spec's repository (from `docker image ls` refs) to untag after a build: those whose
    age in seconds (`ages`, by ref; unknown counts as old) is past SUPERSEDED_GRACE_SECONDS."""
    keep = {f"{spec.repository}:{current_tag}", spec.alias}
    ages = ages or {}
    return sorted(
        ref for ref in listing
        if ref.rsplit(":", 1)[0] == spec.repository and ref not in keep
        and re.fullmatch(rf"[0-9a-f]{{{TAG_LENGTH}}}", ref.rsplit(":", 1)[1])
        and ages.get(ref, float("inf")) > SUPERSEDED_GRACE_SECONDS
    )  # fmt: skip
