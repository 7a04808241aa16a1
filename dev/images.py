"""Build the local stand-in bases and both product images, skipping every image whose inputs are unchanged.

    python dev/images.py            build what changed; write build/images.env
                                    (BYOC_TRAIN_IMAGE, BYOC_SERVE_IMAGE)
    python dev/images.py --only serve   build just that image (and its bases); other refs kept
    python dev/images.py --clean    remove every image this script tagged

Runs take a lock (build/images.lock): concurrent invocations wait for each other instead of fighting over
the wheelhouse port.

One line per image says what it did and why. Build logs go to build/logs/<image>.log; a failure prints
its tail.
Settings (environment): BYOC_DEBIAN_MIRROR (default http://deb.debian.org/debian), BYOC_WHEELHOUSE_PORT
(default 38471).
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `dev` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dev import image_specs, machine_cache, wheelhouse
from dev.image_specs import ImageSpec

ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 40
ENV_NAMES = {"train": "BYOC_TRAIN_IMAGE", "serve": "BYOC_SERVE_IMAGE"}


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    root: Path
    build_dir: Path
    debian_mirror: str
    debian_suite: str
    wheelhouse_port: int
    python: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], root: Path = ROOT) -> Settings:
        port_text = env.get("BYOC_WHEELHOUSE_PORT", "38471")
        if not port_text.isdigit() or not 1024 <= int(port_text) <= 65535:
            raise BuildError(f"BYOC_WHEELHOUSE_PORT must be a port number 1024-65535, got {port_text!r}")
        mirror = env.get("BYOC_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        if not mirror.startswith(("http://", "https://", "file:/")):
            raise BuildError(f"BYOC_DEBIAN_MIRROR must be an http(s):// or file:/ URL, got {mirror!r}")
        return cls(root, root / "build", mirror, "bookworm", int(port_text), sys.executable)


def _say(message: str) -> None:
    print(message, flush=True)


def _run_logged(command: list[str], log: Path, cwd: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        print("\n".join(tail), file=sys.stderr)
        raise BuildError(f"{' '.join(command[:2])} failed (exit {result.returncode}); full log: {log}")


def image_id(ref: str) -> str | None:
    command = ["docker", "image", "inspect", "--format", "{{.Id}}", ref]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _ensure_wheelhouse(settings: Settings) -> Path:
    dest = settings.build_dir / "wheelhouse"
    missing = wheelhouse.missing_files(settings.root, wheelhouse.STAMP_INPUTS)
    if missing:
        raise BuildError(f"wheelhouse: missing {', '.join(missing)}")
    stamp_file = dest / ".stamp"
    current = wheelhouse.stamp(settings.root)
    if stamp_file.is_file() and stamp_file.read_text() == current:
        _say("skip wheelhouse: pins unchanged")
    else:
        _download_wheelhouse(settings, dest, stamp_file, current)
    _add_horovod_wheel(dest)
    return dest


def horovod_wheel_sha256(wheels: Path) -> str | None:
    found = sorted(wheels.glob("horovod-*.whl"))
    return hashlib.sha256(found[0].read_bytes()).hexdigest() if found else None


def _add_horovod_wheel(dest: Path) -> None:
    # The host venv's Horovod wheel (dev/machine_cache.py) has the local training base's ABI: same Debian,
    # Python minor, TF and MPI. pip prefers it to the sdist, so that image installs Horovod instead of
    # compiling it again. Without the wheel (venv not built yet) the sdist stays the fallback.
    wheel = machine_cache.cached_wheel(machine_cache.horovod_wheel_dir())
    for stale in dest.glob("horovod-*.whl"):
        if wheel is None or stale.name != wheel.name:
            stale.unlink()
    copy = dest / wheel.name if wheel is not None else None
    if copy is not None and not (copy.is_file() and filecmp.cmp(wheel, copy, shallow=False)):
        shutil.copy2(wheel, copy)
        _say(f"wheelhouse: added {wheel.name} from the machine cache")


def _download_wheelhouse(settings: Settings, dest: Path, stamp_file: Path, current: str) -> None:
    _say("build wheelhouse: " + ("pins changed" if stamp_file.is_file() else "none yet"))
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for index, command in enumerate(
        wheelhouse.download_commands(settings.python, str(dest), "requirements/constraints.txt")
    ):
        _run_logged(command, settings.build_dir / "logs" / f"wheelhouse-{index}.log", settings.root)
    stamp_file.write_text(current)
    _say(f"  wheelhouse ready in {time.monotonic() - started:.0f} s")


def _manifest_path(settings: Settings, spec: ImageSpec) -> Path:
    return settings.build_dir / "images" / f"{spec.name}.json"


def _previous_manifest(settings: Settings, spec: ImageSpec) -> dict | None:
    path = _manifest_path(settings, spec)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _build_rootfs(settings: Settings, spec: ImageSpec, ref: str) -> None:
    packages = image_specs.read_package_list((settings.root / spec.recipe).read_text())
    tarball = settings.build_dir / "rootfs" / "rootfs.tar"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    log = settings.build_dir / "logs" / f"{spec.name}.log"
    command = image_specs.mmdebstrap_command(
        packages, settings.debian_suite, settings.debian_mirror, str(tarball)
    )
    try:
        _run_logged(command, log, settings.root)
        import_command = image_specs.docker_import_command(str(tarball), ref)
        _run_logged(import_command, log.with_suffix(".import.log"), settings.root)
    finally:
        tarball.unlink(missing_ok=True)


def build_image(
    settings: Settings, spec: ImageSpec, base_ref: str | None, pip_args: Mapping[str, str]
) -> str:
    """Build `spec` unless an image tagged with its inputs' hash exists; returns the image's ref."""
    base_id = image_id(base_ref) if base_ref else None
    if base_ref and base_id is None:
        raise BuildError(f"{spec.name}: base image {base_ref} not found")
    args = {**spec.args, **pip_args} if base_ref else dict(spec.args)
    digests = image_specs.input_digests(settings.root, spec.inputs)
    if spec.base is None:  # the rootfs tarball depends on the suite and mirror too
        args = {**args, "SUITE": settings.debian_suite, "MIRROR": settings.debian_mirror}
    tag = image_specs.inputs_tag(digests, base_id, args)
    ref = f"{spec.repository}:{tag}"
    current = image_specs.manifest(digests, base_id, args)
    if image_id(ref) is not None:
        _say(f"skip {ref}: inputs unchanged")
    else:
        _say(f"build {ref}: {image_specs.change_reason(_previous_manifest(settings, spec), current)}")
        started = time.monotonic()
        if spec.base is None:
            _build_rootfs(settings, spec, ref)
        else:
            build_args = {key: value for key, value in args.items() if key not in ("SUITE", "MIRROR")}
            command = image_specs.docker_build_command(spec, tag, base_ref, build_args)
            _run_logged(command, settings.build_dir / "logs" / f"{spec.name}.log", settings.root)
        _say(f"  {ref} built in {time.monotonic() - started:.0f} s")
    if spec.alias:
        subprocess.run(["docker", "tag", ref, spec.alias], check=True)
    _untag_superseded(spec, tag)
    path = _manifest_path(settings, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=1, sort_keys=True))
    return ref


def _untag_superseded(spec: ImageSpec, tag: str) -> None:
    # Every pin change makes new multi-GB bases; untagging old ones lets Docker free the layers nothing else
    # uses. Without --force, images still used by containers or by other images stay.
    old = image_specs.superseded_refs(_local_refs(), spec, tag, _ages(spec.repository))
    if old:
        subprocess.run(["docker", "image", "rm", *old], capture_output=True, check=False)
        _say(f"  untagged {len(old)} superseded {spec.repository} tag(s)")


def _ages(repository: str) -> dict[str, float]:
    """Seconds since each tag of `repository` was built, by ref."""
    command = ["docker", "image", "ls", repository, "--format", "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}"]
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
    ages = {}
    for line in listing:
        ref, created = line.split("\t", 1)
        # CreatedAt reads "2026-12-02 07:10:11 +0000 UTC"; the zone name after the offset is redundant.
        stamp = datetime.datetime.strptime(" ".join(created.split()[:3]), "%Y-%m-%d %H:%M:%S %z")
        ages[ref] = time.time() - stamp.timestamp()
    return ages


def _local_refs() -> list[str]:
    command = ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()


def build_all(settings: Settings, only: str | None = None) -> dict[str, str]:
    wheels = _ensure_wheelhouse(settings)
    refs: dict[str, str] = {}
    specs = image_specs.chain(only) if only else image_specs.ALL_SPECS
    wheel_sha = horovod_wheel_sha256(wheels)
    with wheelhouse.served(wheels, settings.wheelhouse_port) as url:
        for spec in specs:
            base_ref = refs[spec.base] if spec.base else None
            build_args = wheelhouse.pip_args(url)
            if spec.horovod_wheel_arg and wheel_sha:
                build_args[spec.horovod_wheel_arg] = wheel_sha
            refs[spec.name] = build_image(settings, spec, base_ref, build_args)
    exported = {ENV_NAMES[name]: ref for name, ref in refs.items() if name in ENV_NAMES}
    env_path = settings.build_dir / "images.env"
    if only:  # keep the other product image's ref from an earlier run
        exported = {**image_specs.read_env_file(env_path), **exported}
    env_path.write_text(image_specs.env_file(exported))
    for key, value in sorted(exported.items()):
        _say(f"{key}={value}")
    return refs


def clean(settings: Settings) -> None:
    repositories = {spec.repository for spec in image_specs.ALL_SPECS}
    aliases = [spec.alias for spec in image_specs.ALL_SPECS if spec.alias]
    listing = _local_refs()
    refs = [ref for ref in listing if ref.rsplit(":", 1)[0] in repositories]
    refs += [alias for alias in aliases if alias in listing]
    if refs:
        subprocess.run(["docker", "image", "rm", "--force", *sorted(set(refs))], check=False)
    for path in (settings.build_dir / "images").glob("*.json"):
        path.unlink()
    (settings.build_dir / "images.env").unlink(missing_ok=True)
    _say(f"clean: removed {len(set(refs))} image tags")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove every image this script tagged")
    names = [spec.name for spec in image_specs.ALL_SPECS]
    parser.add_argument("--only", choices=names, help="build this image and its bases, nothing else")
    options = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        settings.build_dir.mkdir(parents=True, exist_ok=True)
        with (settings.build_dir / "images.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if options.clean:
                clean(settings)
            else:
                build_all(settings, options.only)
    except (BuildError, OSError, subprocess.CalledProcessError) as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
