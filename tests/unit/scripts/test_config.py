from __future__ import annotations

import json

import pytest

from scripts.config import (
    ConfigError,
    check_ecr_image_uri,
    check_instance_type,
    check_role_arn,
    check_s3_uri,
    dlc_base_image,
    load_settings,
    split_s3_uri,
)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://my-bucket/data/train",
        "s3://my.bucket.1/x",
        "s3://abc",
        "s3://abc/",
    ],
)
def test_s3_uris_accepted(uri):
    assert check_s3_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    ["my-bucket/data", "s3:/my-bucket/x", "s3://My-Bucket/x", "s3://ab/x", "s3://a..b/x", "https://b-1/x", ""],
)
def test_malformed_s3_uris_name_the_value(uri):
    with pytest.raises(ConfigError, match="malformed --train") as error:
        check_s3_uri(uri, "--train")
    assert repr(uri) in str(error.value)


def test_split_s3_uri():
    assert split_s3_uri("s3://b-1/a/b/") == ("b-1", "a/b/")
    assert split_s3_uri("s3://b-1") == ("b-1", "")


@pytest.mark.parametrize(
    "uri",
    [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/repo:latest",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:" + "a" * 64,
    ],
)
def test_ecr_uris_accepted(uri):
    assert check_ecr_image_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "tensorflow/tensorflow:2.16.2",
        "byoc-local/tensorflow-training:2.16.2-cpu",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",  # no tag: SageMaker would guess :latest
        "12345.dkr.ecr.us-east-1.amazonaws.com/repo:1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/Repo:1",
    ],
)
def test_non_ecr_uris_rejected(uri):
    with pytest.raises(ConfigError, match="not an ECR image URI"):
        check_ecr_image_uri(uri)


def test_role_arns():
    assert check_role_arn("arn:aws:iam::123456789012:role/service-role/Sm-Exec")
    assert check_role_arn("arn:aws-cn:iam::123456789012:role/x")
    for bad in ("Sm-Exec", "arn:aws:iam::123456789012:user/x", "arn:aws:iam::1234:role/x"):
        with pytest.raises(ConfigError, match="malformed IAM role ARN"):
            check_role_arn(bad)


def test_instance_types_are_checked_per_use():
    assert check_instance_type("ml.p3.8xlarge", "training")
    assert check_instance_type("ml.t2.medium", "hosting")
    with pytest.raises(ConfigError, match="unknown training instance type 'ml.t2.medium'"):
        check_instance_type("ml.t2.medium", "training")
    with pytest.raises(ConfigError, match="unknown transform instance type 'p3.2xlarge'"):
        check_instance_type("p3.2xlarge", "transform")


def test_settings_flags_win_over_environment():
    env = {"AWS_REGION": "eu-west-1", "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/env"}
    settings = load_settings(region="us-west-2", environ=env)
    assert settings.region == "us-west-2"
    assert settings.role_arn == "arn:aws:iam::123456789012:role/env"
    assert load_settings(environ={"AWS_DEFAULT_REGION": "ap-south-1"}).region == "ap-south-1"


def test_settings_errors():
    with pytest.raises(ConfigError, match="no AWS region"):
        load_settings(environ={})
    with pytest.raises(ConfigError, match="no execution role"):
        load_settings(environ={"AWS_REGION": "us-east-1"}, require_role=True)
    with pytest.raises(ConfigError, match="malformed AWS region 'US'"):
        load_settings(region="US", environ={})


def test_settings_are_frozen():
    settings = load_settings(environ={"AWS_REGION": "us-east-1", "BYOC_REGISTRY": "127.0.0.1:5000"})
    assert settings.registry_override == "127.0.0.1:5000"
    with pytest.raises(AttributeError):
        settings.region = "eu-west-1"


@pytest.mark.parametrize(
    ("kind", "device", "region", "expected"),
    [
        (
            "training", "cpu", "us-east-1",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.16.2-cpu-py310-ubuntu20.04-sagemaker",
        ),
        (
            "training", "gpu", "eu-west-1",
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-training:2.16.2-gpu-py310-cu123-ubuntu20.04-sagemaker",
        ),
        (
            "inference", "cpu", "cn-north-1",
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/tensorflow-inference:2.16.1-cpu-py310-ubuntu20.04-sagemaker",
        ),
        (
            "inference", "gpu", "us-gov-west-1",
            "442386744353.dkr.ecr.us-gov-west-1.amazonaws.com/tensorflow-inference:2.16.1-gpu-py310-cu122-ubuntu20.04-sagemaker",
        ),
        (
            "training", "cpu", "il-central-1",
            "780543022126.dkr.ecr.il-central-1.amazonaws.com/tensorflow-training:2.16.2-cpu-py310-ubuntu20.04-sagemaker",
        ),
        (
            "inference", "cpu", "ap-east-2",  # newer regions are not all on their own account
            "763104351884.dkr.ecr.ap-east-2.amazonaws.com/tensorflow-inference:2.16.1-cpu-py310-ubuntu20.04-sagemaker",
        ),
    ],
)  # fmt: skip
def test_dlc_base_images_from_the_table(kind, device, region, expected):
    assert dlc_base_image(kind, device, region) == expected


def test_dlc_table_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        dlc_base_image("training", "tpu", "us-east-1")
    broken = tmp_path / "base_images.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the DLC base image table"):
        dlc_base_image("training", "cpu", "us-east-1", table_file=broken)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"default_account": "1", "accounts": {}, "domains": {"default": "x"}}))
    with pytest.raises(ConfigError, match="lacks 'images'"):
        dlc_base_image("training", "cpu", "us-east-1", table_file=incomplete)


def test_the_table_is_valid_json_with_both_kinds():
    from scripts.config import BASE_IMAGES_FILE

    table = json.loads(BASE_IMAGES_FILE.read_text())
    for kind in ("training", "inference"):
        assert {"repository", "cpu", "gpu"} <= set(table["images"][kind])
