from __future__ import annotations

import base64

import pytest

from scripts import build_and_push as bp
from scripts.config import ConfigError, check_ecr_image_uri


def test_image_tags_immutable_then_moving():
    assert bp.image_tags("0.1.0", "0123456789ab", "cpu", False, None) == ("0.1.0-cpu-0123456789ab", "0.1.0-cpu")
    assert bp.image_tags("0.1.0", "0123456789ab", "gpu", True, "latest") == (
        "0.1.0-gpu-0123456789ab-dirty",
        "latest",
    )


def test_build_plan_uses_the_dlc_base_per_target():
    plan = bp.build_plan(["train", "serve"], "gpu", "eu-west-1", "0.1.0", "abc", False)
    assert [(s.target, s.dockerfile, s.repository) for s in plan] == [
        ("train", "docker/train.Dockerfile", "byoc-tensorflow-training"),
        ("serve", "docker/serve.Dockerfile", "byoc-tensorflow-inference"),
    ]
    assert plan[0].base_image.endswith("/tensorflow-training:2.16.2-gpu-py310-cu123-ubuntu20.04-sagemaker")
    assert plan[1].base_image.startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:")
    assert plan[0].tags == ("0.1.0-gpu-abc", "0.1.0-gpu")


def test_build_plan_with_any_base_image():
    [spec] = bp.build_plan(["serve"], "cpu", "us-east-1", "1", "s", False, base_image="byoc-local/x:1")
    assert spec.base_image == "byoc-local/x:1"


def test_decode_login_keeps_the_token_out_of_repr():
    token = base64.b64encode(b"AWS:s3cr3t-password").decode()
    login = bp.decode_login({"authorizationToken": token, "proxyEndpoint": "https://1.dkr.ecr.x.amazonaws.com"})
    assert (login.username, login.password) == ("AWS", "s3cr3t-password")
    assert "s3cr3t" not in repr(login) and "s3cr3t" not in str(login)


def test_git_revision_outside_a_repository_asks_for_a_sha(tmp_path):
    with pytest.raises(ConfigError, match="pass --git-sha"):
        bp.git_revision(tmp_path)


def test_project_version_reads_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "1.2.3"\n')
    assert bp.project_version(pyproject) == "1.2.3"


def test_cli_rejects_a_bad_repository_prefix_before_building(capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert bp.main(["--repository-prefix", "Bad_Prefix!", "--git-sha", "abc", "--no-push"]) == 2
    assert capsys.readouterr().err == (
        "build_and_push: error: malformed --repository-prefix 'Bad_Prefix!' (1-63 letters, digits and hyphens)\n"
    )


def test_cli_needs_a_region(capsys, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert bp.main(["--no-push"]) == 2
    assert "no AWS region" in capsys.readouterr().err


def test_ecr_base_registry():
    assert (
        bp.ecr_base_registry(
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.16.2-cpu-py310-ubuntu20.04-sagemaker"
        )
        == "763104351884.dkr.ecr.us-east-1.amazonaws.com"
    )
    assert bp.ecr_base_registry("byoc-local/tensorflow-training:2.16.2-cpu") is None


def test_gpu_training_builds_horovod_with_nccl_and_nothing_else_does():
    plan = bp.build_plan(["train", "serve"], "gpu", "us-west-2", "0.1.0", "abc", False)
    train, serve = plan
    assert dict(train.build_args) == {"BASE_IMAGE": train.base_image, "HOROVOD_GPU_OPERATIONS": "NCCL"}
    assert dict(serve.build_args) == {"BASE_IMAGE": serve.base_image}
    [cpu_train] = bp.build_plan(["train"], "cpu", "us-west-2", "0.1.0", "abc", False)
    assert "HOROVOD_GPU_OPERATIONS" not in dict(cpu_train.build_args)


def test_the_dockerfile_reads_the_build_args_we_pass():
    """A build arg the Dockerfile does not declare is silently ignored by Docker: check the names exist."""
    for spec in bp.build_plan(["train", "serve"], "gpu", "us-west-2", "0.1.0", "abc", False):
        dockerfile = (bp.REPO_ROOT / spec.dockerfile).read_text()
        for name, _ in spec.build_args:
            assert f"ARG {name}" in dockerfile, (spec.dockerfile, name)


def test_platform_default_and_choice():
    [spec] = bp.build_plan(["serve"], "cpu", "us-east-1", "1", "s", False, base_image="b:1")
    assert spec.platform == "linux/amd64"
    [arm] = bp.build_plan(["serve"], "cpu", "us-east-1", "1", "s", False, base_image="b:1", platform="linux/arm64")
    assert arm.platform == "linux/arm64"
    with pytest.raises(ConfigError, match="unknown --platform 'linux/s390x'"):
        bp.build_plan(["serve"], "cpu", "us-east-1", "1", "s", False, base_image="b:1", platform="linux/s390x")


def test_immutable_pushes_only_the_sha_tag():
    assert bp.image_tags("0.1.0", "abc", "cpu", False, None, immutable=True) == ("0.1.0-cpu-abc",)
    with pytest.raises(ConfigError, match="--moving-tag cannot be used with --immutable"):
        bp.image_tags("0.1.0", "abc", "cpu", False, "latest", immutable=True)


def test_push_digest_reads_the_daemon_stream_and_reports_layers_once():
    lines = [
        {"status": "The push refers to repository [r/x]"},
        {"id": "a1", "status": "Preparing"},
        {"id": "a1", "status": "Pushing", "progressDetail": {"current": 1, "total": 2}},
        {"id": "a1", "status": "Pushed"},
        {"id": "b2", "status": "Layer already exists"},
        {"id": "c3", "status": "Mounted from byoc-tensorflow-training"},
        {"status": "1: digest: sha256:" + "f" * 64 + " size: 529"},
        {"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:" + "f" * 64, "Size": 529}},
    ]
    shown: list[str] = []
    assert bp.push_digest("r/x:1", lines, shown.append) == "sha256:" + "f" * 64
    assert shown == [
        "r/x:1: layer a1 pushed", "r/x:1: layer b2 already in the registry", "r/x:1: layer c3 mounted"
    ]  # fmt: skip
    with pytest.raises(bp.PushError, match="push of r/x:1 failed: denied"):
        bp.push_digest("r/x:1", [{"error": "denied\n"}], shown.append)
    with pytest.raises(bp.PushError, match="reported no digest"):
        bp.push_digest("r/x:1", [{"status": "Pushed", "id": "a1"}], shown.append)


def test_pushed_by_digest():
    pushed = bp.Pushed(ref="1.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc",
                       digest="sha256:" + "0" * 64)  # fmt: skip
    assert pushed.by_digest == "1.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training@sha256:" + "0" * 64
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc"
    # What build_and_push prints last is what the launchers' --image accepts.
    assert check_ecr_image_uri(bp.Pushed(ref=uri, digest=pushed.digest).by_digest).endswith("@" + pushed.digest)
