"""Get the user's code where the program runs from, and install its requirements.txt.

`sagemaker_submit_directory` is what the SDK uploaded: an S3 URI to sourcedir.tar.gz (boto3; the region from
`sagemaker_region`; AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 honoured by boto3 itself), a local directory (SDK local
mode mounts /opt/ml/code) or a local tarball. Archives are unpacked into <root>/code; a directory is used in place.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from train_container.errors import ConfigError, TrainingError
from train_container.script.job import ScriptJob

REQUIREMENTS_FILE = "requirements.txt"
PIP_TIMEOUT_SECONDS = 3600
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
# pip's own words for a requirement it could not get; the name goes into output/failure.
_PIP_CAUSES = (
    re.compile(r"No matching distribution found for (?P<req>.+)$"),
    re.compile(r"Could not find a version that satisfies the requirement (?P<req>\S+)"),
    re.compile(r"Invalid requirement: '?(?P<req>[^':]+)'?"),
    re.compile(r"(?:No such file or directory|does not exist)[^']*'(?P<req>[^']+)'"),
)


class RequirementsError(TrainingError):
    """requirements.txt could not be installed; the message names the requirement."""


def location(job: ScriptJob) -> Path:
    """Where the program runs from once fetched: a given directory in place, else <root>/code."""
    source = job.submit_directory
    if source is not None and not source.startswith("s3://"):
        local = Path(source.removeprefix("file://"))
        if local.is_dir():
            return local
    return job.code_dir


def fetch(job: ScriptJob) -> Path:
    """The directory holding the program (downloaded or unpacked if needed)."""
    source = job.submit_directory
    path = location(job)
    if source is not None and source.startswith("s3://"):
        _from_s3(source, job.region, path)
    elif source is not None and not Path(source.removeprefix("file://")).is_dir():
        local = Path(source.removeprefix("file://"))
        if not local.is_file():
            raise ConfigError(f"sagemaker_submit_directory {source!r} is neither an S3 URI, a directory nor a file")
        _unpack(local, path)
    program = path / job.program
    if not program.exists() and not (path / "setup.py").exists():
        raise ConfigError(f"sagemaker_program {job.program!r} not found in {source or path}")
    return path


def _from_s3(uri: str, region: str, code_dir: Path) -> Path:
    match = _S3_URI.match(uri)
    if match is None:
        raise ConfigError(f"sagemaker_submit_directory {uri!r} is not s3://bucket/key")
    import boto3
    import botocore.exceptions

    client = boto3.session.Session(region_name=region or None).client("s3")
    with tempfile.TemporaryDirectory(prefix="sourcedir-") as scratch:
        archive = Path(scratch) / "sourcedir.tar.gz"
        try:
            client.download_file(match["bucket"], match["key"], str(archive))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise TrainingError(f"could not download sagemaker_submit_directory {uri}: {exc}") from None
        return _unpack(archive, code_dir)


def _unpack(archive: Path, code_dir: Path) -> Path:
    code_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                # The "data" filter refuses absolute paths, `..`, links out of the tree and device files.
                tar.extractall(code_dir, filter="data")
            else:  # Python < 3.11.4 (Debian bookworm's 3.11.2, the DLC's 3.10): the same refusals by hand
                tar.extractall(code_dir, members=[_safe_member(member, code_dir) for member in tar.getmembers()])
    except (tarfile.TarError, OSError) as exc:
        raise ConfigError(f"cannot unpack sagemaker_submit_directory {archive}: {exc}") from None
    return code_dir


def _safe_member(member: tarfile.TarInfo, code_dir: Path) -> tarfile.TarInfo:
    root = code_dir.resolve()
    target = (root / member.name).resolve()
    if not target.is_relative_to(root) or member.name.startswith("/"):
        raise tarfile.TarError(f"{member.name!r} would be written outside {code_dir}")
    if member.isdev():
        raise tarfile.TarError(f"{member.name!r} is a device file")
    if member.islnk() or member.issym():
        base = root if member.islnk() else target.parent
        if not (base / member.linkname).resolve().is_relative_to(root):
            raise tarfile.TarError(f"{member.name!r} links outside {code_dir}")
    return member


def install_requirements(code_dir: Path, python: str = sys.executable) -> bool:
    """`pip install -r requirements.txt` from the code directory (relative paths in it work); False if none."""
    if not (code_dir / REQUIREMENTS_FILE).is_file():
        return False
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--root-user-action=ignore",
               "-r", REQUIREMENTS_FILE]  # fmt: skip
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(
        command, cwd=code_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        timeout=PIP_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        raise RequirementsError(describe_pip_failure(done.stdout, done.returncode))
    return True


def describe_pip_failure(output: str, returncode: int) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in _PIP_CAUSES:  # in order of preference
        for line in lines:
            found = pattern.search(line)
            if found:
                return f"{REQUIREMENTS_FILE}: could not install {found['req'].strip()}: {line.removeprefix('ERROR: ')}"
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    cause = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"{REQUIREMENTS_FILE}: pip install failed with exit code {returncode}: {cause}"
