"""Secrets never reach images, build logs or application logs; oversized bodies are refused before they are
read; routing headers cannot traverse paths; the serving image runs as a non-root user."""

from __future__ import annotations

import concurrent.futures
import io
import socket
import subprocess
import tarfile
import time

import pytest
import requests

from tests.reliability import figures
from tests.reliability.containers import ServingContainer, readable_model_dir
from tests.reliability.secrets_scan import scan_files, scan_image, scan_stream, scan_tar
from tests.support import models
from tests.support.docker import image_from_env
from tests.support.processes import REPO_ROOT

# Credential-shaped values built at run time, so this file itself holds no key-like literal.
FAKE_KEY_ID = "AKIA" + "Z7Q2" * 4
FAKE_SECRET = "wJalrXUtnFEMI" + "x" * 27
FAKE_SESSION = "FwoGZXIvYXdz" + "Q" * 120
HEADER = "X-Amzn-SageMaker-Custom-Attributes"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_scanner_finds_planted_credentials_in_nested_layers():
    layer = _tar(
        {
            "etc/app.conf": b"x" * 5000 + f"aws_secret_access_key = {FAKE_SECRET}\n".encode(),
            "opt/id.txt": f"key {FAKE_KEY_ID} here".encode(),
            "root/.aws/credentials": b"[default]\n",
            "docs/example.md": b"AKIAIOSFODNN7EXAMPLE is AWS's documented example",
            "botocore/data/iam/examples-1.json": b'"AccessKeyId": "AKIA222222222EXAMPLE"',
            "docs/secret.md": b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "words.txt": b"ASIANCENTURIALCHARACTERS",
        }
    )
    image = _tar({"abc123/layer.tar": layer, "manifest.json": b"[]"})
    findings = scan_tar(io.BytesIO(image), "planted")
    kinds = " ".join(findings)
    assert "key_id" in kinds and "secret" in kinds and "credentials file present" in kinds
    assert len(findings) == 3, findings  # AWS's documentation examples and the word list are not findings
    assert [kind for kind, _ in scan_stream([b'{"auths": {"x": {"auth": "QVdTOmV5' + b"A" * 120 + b'"}}}'])]


def test_no_credentials_in_any_image_layer():
    images = {variable: image_from_env(variable) for variable in ("BYOC_SERVE_IMAGE", "BYOC_TRAIN_IMAGE")}
    started = time.monotonic()
    # Both at once: `docker save` is I/O-bound, so the scans overlap well.
    with concurrent.futures.ThreadPoolExecutor(len(images)) as pool:
        results = dict(zip(images, pool.map(scan_image, images.values()), strict=True))
    for variable, (findings, scanned) in results.items():
        assert scanned > 100_000_000, f"docker save {images[variable]} produced suspiciously little"
        assert findings == [], f"{images[variable]}: {findings}"
    figures.record(
        "security_image_scan",
        **{variable: {"image": images[variable], "bytes_scanned": scanned, "findings": 0}
           for variable, (_, scanned) in results.items()},
        seconds=round(time.monotonic() - started, 1),
    )  # fmt: skip


def test_no_credentials_in_build_logs():
    logs = sorted((REPO_ROOT / "build" / "logs").glob("*.log"))
    assert logs, "no build logs under build/logs: the images were not built by dev/images.py"
    assert scan_files(logs) == []
    figures.record("security_build_logs", files_scanned=len(logs), findings=0)


@pytest.fixture(scope="module")
def non_root(tmp_path_factory):
    """The serving image as uid 1000, with credential-shaped env vars it must never log."""
    serve_image = image_from_env("BYOC_SERVE_IMAGE")
    model_dir = readable_model_dir(tmp_path_factory.mktemp("non-root"))
    env = {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "AWS_SESSION_TOKEN": FAKE_SESSION}
    container = ServingContainer(serve_image, model_dir, ("--user", "1000:1000"), env)
    try:
        container.wait_healthy()
        yield container
    finally:
        container.remove()


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(models.random_images(1)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def test_serving_image_serves_as_non_root_user(non_root):
    uids = {row["uid"] for row in non_root.processes()}
    assert uids == {1000}, non_root.processes()
    response = requests.post(
        f"{non_root.url}/invocations", data=png(), headers={"Content-Type": "image/png"}, timeout=60
    )
    assert response.status_code == 200, response.text
    figures.record("security_non_root", user="1000:1000", ping=200, invocation=200)


def _worker_rss_kib(container: ServingContainer) -> int:
    return sum(row["rss_kib"] for row in container.processes() if "gunicorn" in row["args"])


def _read_response(sock: socket.socket) -> bytes:
    """Status line, headers and the Content-Length body (they may arrive in separate segments)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_huge_content_length_is_413_before_the_body_is_read(non_root):
    rss_before = _worker_rss_kib(non_root)
    with socket.create_connection(("127.0.0.1", non_root.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-npy\r\n"
            b"Content-Length: 10737418240\r\n\r\n"  # 10 GiB announced, not one byte sent
        )
        answer = _read_response(sock)
        elapsed = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:300]
    assert b'"error"' in rest and b"SAGEMAKER_MAX_PAYLOAD_IN_MB" in rest
    assert elapsed < 5, "413 must not wait for a body that never comes"
    assert non_root.ping() == 200
    growth = _worker_rss_kib(non_root) - rss_before
    assert growth < 50 * 1024, f"workers grew {growth} KiB answering a 10 GiB Content-Length"
    figures.record(
        "security_413", announced_bytes=10 * 2**30, answered_after_s=round(elapsed, 3), rss_growth_kib=growth
    )


@pytest.mark.parametrize(
    "attributes",
    [
        "tfs-model-name=../../etc/passwd",
        "tfs-model-name=..",
        "tfs-model-name=model/../model",
        "tfs-model-name=%2e%2e%2fetc",
        "tfs-model-version=../1",
        "tfs-model-version=1/../../2",
        "tfs-signature-name=../serving_default",
        "tfs-method=../predict",
        "tfs-model-name=model\\..\\x",
    ],
)
def test_custom_attributes_cannot_traverse_paths(non_root, attributes):
    response = requests.post(
        f"{non_root.url}/invocations", data=png(), headers={"Content-Type": "image/png", HEADER: attributes}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    figures.count("security_traversal", "refused_400")


def test_application_log_holds_no_credentials(non_root):
    logs = non_root.logs()
    assert "Booting worker" in logs  # the log is the real one
    assert list(scan_stream([logs.encode()])) == []
    assert FAKE_SECRET not in logs and FAKE_SESSION not in logs


def test_model_name_setting_with_path_traversal_is_refused(tmp_path):
    serve_image = image_from_env("BYOC_SERVE_IMAGE")
    done = subprocess.run(
        ["docker", "run", "--rm", "-e", "SAGEMAKER_TFS_DEFAULT_MODEL_NAME=../../etc", serve_image, "serve"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "SAGEMAKER_TFS_DEFAULT_MODEL_NAME='../../etc'" in done.stderr
