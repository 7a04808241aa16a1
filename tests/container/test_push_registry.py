"""build_and_push's push path against a REAL registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1.

ECR itself cannot be reached here, so moto plays the ECR API (repository, GetAuthorizationToken) and the
registry requires exactly the credentials moto's token decodes to (htpasswd), so the test proves the token
travels from ecr:GetAuthorizationToken through the docker SDK login to the push, then reads the manifest
back by tag. The pushed image is a tiny `FROM scratch` build: the push path does not depend on the base,
and pushing the 3 GB local base would only measure disk speed.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import bcrypt
import boto3
import docker
import pytest
import requests

from scripts import build_and_push as bp
from tests.integration.scripts.moto_server import moto_server
from tests.support.processes import free_port, run_process

REGISTRY_BINARY = "/usr/bin/docker-registry"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def aws(tmp_path, monkeypatch):
    with moto_server(tmp_path) as server:
        for name, value in server.client_env().items():
            monkeypatch.setenv(name, value)
        yield server


def ecr_credentials() -> tuple[str, str]:
    data = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password


@pytest.fixture
def registry(tmp_path, aws):
    """docker-registry with htpasswd auth for the ECR token's user and password; yields host:port."""
    assert shutil.which(REGISTRY_BINARY), f"{REGISTRY_BINARY} missing: apt-get install docker-registry"
    user, password = ecr_credentials()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: info}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'storage'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: byoc-test, path: {htpasswd}}}}}\n"
    )
    with run_process([REGISTRY_BINARY, "serve", str(config)], log_path=tmp_path / "registry.log") as process:
        process.wait_for_port(port)
        yield f"127.0.0.1:{port}"


@pytest.fixture
def tiny_image(tmp_path):
    client = docker.from_env()
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("byoc push test\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.byoc.test=push\n")
    tag = f"byoc-push-test:{tmp_path.name.lower()[-20:]}"
    image, _ = client.images.build(path=str(context), tag=tag, rm=True)
    yield tag, image.id
    client.images.remove(image.id, force=True)


def test_push_creates_the_repository_and_the_manifest_is_readable_by_tag(aws, registry, tiny_image, capsys):
    local_ref, image_id = tiny_image
    client = docker.from_env()
    ecr = boto3.client("ecr")
    [spec] = bp.build_plan(["serve"], "cpu", "us-east-1", "0.1.0", "0123456789ab", False, base_image="scratch")

    pushed = bp.publish(ecr, client, [(spec, local_ref)], registry_override=registry)

    repository = f"{registry}/byoc-tensorflow-inference"
    assert [p.ref for p in pushed] == [f"{repository}:0.1.0-cpu-0123456789ab", f"{repository}:0.1.0-cpu"]
    assert len({p.digest for p in pushed}) == 1  # two tags, one manifest
    [created] = ecr.describe_repositories()["repositories"]
    assert created["repositoryName"] == "byoc-tensorflow-inference"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert "created ECR repository byoc-tensorflow-inference (scan on push)" in capsys.readouterr().out

    user, password = ecr_credentials()
    for tag in spec.tags:
        response = requests.get(
            f"http://{registry}/v2/byoc-tensorflow-inference/manifests/{tag}",
            headers={"Accept": MANIFEST_V2}, auth=(user, password), timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        # The digest build_and_push printed is the manifest the registry stores.
        assert response.headers["Docker-Content-Digest"] == pushed[0].digest
        manifest = response.json()
        assert manifest["mediaType"] == MANIFEST_V2
        # The registry holds exactly the image we built: its config blob is the local image id.
        assert manifest["config"]["digest"] == image_id
        assert len(manifest["layers"]) == 1
    anonymous = requests.get(f"http://{registry}/v2/byoc-tensorflow-inference/tags/list", timeout=30)
    assert anonymous.status_code == 401


def test_a_failed_push_rolls_back_the_repository_it_created(aws, registry, tiny_image, capsys):
    local_ref, _ = tiny_image
    ecr = boto3.client("ecr")
    [spec] = bp.build_plan(["train"], "cpu", "us-east-1", "0.1.0", "abc", False, base_image="scratch")
    # A registry that does not exist on this host: login fails before anything is created.
    with pytest.raises(Exception, match="127.0.0.1:1"):
        bp.publish(ecr, docker.from_env(), [(spec, local_ref)], registry_override="127.0.0.1:1")
    assert ecr.describe_repositories()["repositories"] == []

    # Login succeeds and the repository is created, then the push fails: the repository is deleted again.
    with pytest.raises(bp.PushError, match="no local image byoc-push-test:missing"):
        bp.publish(ecr, docker.from_env(), [(spec, "byoc-push-test:missing")], registry_override=registry)
    assert ecr.describe_repositories()["repositories"] == []
    captured = capsys.readouterr()
    assert "created ECR repository byoc-tensorflow-training" in captured.out
    assert "rolled back: deleted ECR repository byoc-tensorflow-training created above" in captured.err


def test_the_token_is_not_written_to_the_docker_config(aws, registry, tiny_image, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    local_ref, _ = tiny_image
    [spec] = bp.build_plan(["serve"], "cpu", "us-east-1", "0.1.0", "abc", False, base_image="scratch")
    bp.publish(boto3.client("ecr"), docker.from_env(), [(spec, local_ref)], registry_override=registry)
    _, password = ecr_credentials()
    written = [p for p in home.rglob("*") if p.is_file() and password in p.read_text(errors="ignore")]
    assert written == []
    assert not (home / ".docker" / "config.json").exists()
    assert Path(home).exists()


def test_build_passes_the_base_image_and_tags_immutably(tmp_path):
    client = docker.from_env()
    (tmp_path / "docker").mkdir()
    (tmp_path / "marker.txt").write_text("built on the requested base\n")
    (tmp_path / "docker" / "serve.Dockerfile").write_text(
        "ARG BASE_IMAGE=does-not-exist\nFROM ${BASE_IMAGE}\nCOPY marker.txt /marker.txt\n"
    )
    [spec] = bp.build_plan(["serve"], "cpu", "us-east-1", "0.1.0", "feedface", False, base_image="scratch")
    local_ref = bp.build_image(client, spec, context=tmp_path)
    try:
        assert local_ref == "byoc-tensorflow-inference:0.1.0-cpu-feedface"
        assert client.images.get(local_ref).attrs["RootFS"]["Layers"]
    finally:
        client.images.remove(local_ref, force=True)

    broken = bp.BuildSpec("serve", spec.dockerfile, "byoc-local/no-such-base:0", spec.repository, spec.tags)
    with pytest.raises(bp.PushError, match="build of docker/serve.Dockerfile failed"):
        bp.build_image(client, broken, context=tmp_path)
