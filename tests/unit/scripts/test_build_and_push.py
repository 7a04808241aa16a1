from __future__ import annotations

import base64

import pytest

from scripts import build_and_push as bp
from scripts.config import ConfigError


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
