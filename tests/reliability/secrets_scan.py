"""Find AWS credentials and registry tokens in image layers, logs and text, streaming (images are GBs)."""

from __future__ import annotations

import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

PATTERNS = re.compile(
    rb"(?P<key_id>(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Z0-9]))"
    rb"|(?P<secret>aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+]))"
    rb"|(?P<session>aws_session_token\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{100,})"
    # ECR's GetAuthorizationToken is base64("AWS:<token>"): docker's config.json stores it under "auth".
    rb"|(?P<registry_auth>\"auth\"\s*:\s*\"QVdTO[A-Za-z0-9+/=]{20,})"
    rb"|(?P<ecr_token>QVdTOmV5[A-Za-z0-9+/=]{100,})",
    re.IGNORECASE,
)
# AWS's documentation keys, which SDKs ship on purpose (botocore's IAM examples hold AKIAIOSFODNN7EXAMPLE and
# AKIA222222222EXAMPLE): they end in EXAMPLE / EXAMPLEKEY, which a generated key never spells.
DOCUMENTATION_EXAMPLE = re.compile(rb"EXAMPLE(KEY)?$", re.IGNORECASE)
SENSITIVE_PATHS = re.compile(r"(^|/)(\.aws/credentials|\.docker/config\.json)$")
CHUNK = 4 * 1024 * 1024
OVERLAP = 512


def scan_stream(chunks: Iterable[bytes]) -> Iterator[tuple[str, bytes]]:
    """(kind, match) for every hit; chunks overlap so a secret split across reads is still found."""
    tail = b""
    seen = set()
    for chunk in chunks:
        data = tail + chunk
        for match in PATTERNS.finditer(data):
            value = match.group(0)
            if DOCUMENTATION_EXAMPLE.search(value) or value in seen:
                continue
            seen.add(value)
            yield match.lastgroup, value
        tail = data[-OVERLAP:]


def _read_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


# A fast, loose pre-filter for GNU grep (GB/s); its matches are then checked with PATTERNS.
GREP_PATTERN = (
    "[A-Za-z0-9]?(AKIA|ASIA)[A-Z2-7]{16}[A-Za-z0-9]?"
    "|aws_secret_access_key[[:space:]]*[=:][[:space:]]*[\"']?[A-Za-z0-9/+]{40}[A-Za-z0-9/+]?"
    "|aws_session_token[[:space:]]*[=:][[:space:]]*[\"']?[A-Za-z0-9/+=]{100,}"
    '|"auth"[[:space:]]*:[[:space:]]*"QVdTO[A-Za-z0-9+/=]{20,}'
    "|QVdTOmV5[A-Za-z0-9+/=]{100,}"
)


def _walk_tar(stream, where: str, sink, findings: list[str]) -> None:
    """Copy every file's bytes (nested layer tars included, as docker save writes them) into `sink`."""
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            if SENSITIVE_PATHS.search(member.name):
                findings.append(f"{where}:{member.name}: credentials file present")
            content = archive.extractfile(member)
            if member.name.endswith("layer.tar"):
                _walk_tar(content, f"{where}:{member.name}", sink, findings)
                continue
            for chunk in _read_chunks(content):
                sink.write(chunk)
            sink.write(b"\n")


def scan_tar(stream, where: str) -> list[str]:
    """Findings in a tar stream: credentials files by path, secrets in any file's content."""
    findings: list[str] = []
    with tempfile.TemporaryFile() as hits:
        grep = subprocess.Popen(
            ["grep", "-a", "-o", "-i", "-E", GREP_PATTERN], stdin=subprocess.PIPE, stdout=hits,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        try:
            _walk_tar(stream, where, grep.stdin, findings)
        finally:
            grep.stdin.close()
            grep.wait()
        assert grep.returncode in (0, 1), f"grep failed with exit code {grep.returncode}"
        hits.seek(0)
        findings += [
            f"{where}: {kind} {value[:12].decode(errors='replace')}..." for kind, value in scan_stream([hits.read()])
        ]
    return findings


def scan_image(image: str) -> tuple[list[str], int]:
    """Findings in every layer of `image` (and its config), and how many bytes were scanned."""
    process = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    counted = _Counting(process.stdout)
    try:
        findings = scan_tar(counted, image)
    finally:
        process.stdout.close()
        process.wait()
    assert process.returncode == 0, f"docker save {image} failed"
    return findings, counted.total


def scan_files(paths: Iterable[Path]) -> list[str]:
    findings = []
    for path in paths:
        with open(path, "rb") as handle:
            findings += [f"{path}: {kind}" for kind, _ in scan_stream(_read_chunks(handle))]
    return findings


class _Counting:
    def __init__(self, stream):
        self.stream = stream
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.total += len(data)
        return data
