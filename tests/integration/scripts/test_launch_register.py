"""`launch register` and `deploy --model-package` against moto's server: what moto received and stored."""

from __future__ import annotations

import boto3

from scripts.launch.cli import main

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference@sha256:" + "a" * 64
MODEL_DATA = "s3://byoc-out/jobs/hvd-job/output/model.tar.gz"
EVALUATION = "s3://byoc-out/eval/evaluation.json"


def register_argv(*extra: str) -> list[str]:
    return [
        "register", "--group", "byoc-cifar10", "--image", IMAGE, "--model-data", MODEL_DATA,
        "--evaluation", EVALUATION, "--description", "cifar10 resnet", *extra,
    ]  # fmt: skip


def test_register_creates_the_group_once_and_a_version_each_time(aws, capsys):
    assert main(register_argv()) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == "created model package group byoc-cifar10"
    arn = first[-1]
    assert arn.startswith("arn:aws:sagemaker:us-east-1:123456789012:model-package/byoc-cifar10/")

    assert main(register_argv("--approval", "Approved")) == 0
    second = capsys.readouterr().out.splitlines()
    assert not any("created model package group" in line for line in second)  # the group is reused
    assert len(aws.recorded("SageMaker.CreateModelPackageGroup")) == 1

    first_request, second_request = aws.recorded("SageMaker.CreateModelPackage")
    assert first_request.pop("ClientToken") != second_request.pop("ClientToken")  # botocore's idempotency token
    assert first_request == {
        "ModelPackageGroupName": "byoc-cifar10",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA}],
            "SupportedContentTypes": [
                "application/x-image", "application/x-tfrecord", "application/json", "application/jsonlines"
            ],
            "SupportedResponseMIMETypes": ["application/json", "application/jsonlines"],
        },
        "ModelApprovalStatus": "PendingManualApproval",
        "ModelPackageDescription": "cifar10 resnet",
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": EVALUATION}}},
    }  # fmt: skip
    assert second_request["ModelApprovalStatus"] == "Approved"
    packages = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName="byoc-cifar10")
    assert len(packages["ModelPackageSummaryList"]) == 2


def test_deploy_from_a_registered_package(aws, role, capsys):
    assert main(register_argv("--approval", "Approved")) == 0
    arn = capsys.readouterr().out.splitlines()[-1]
    assert main(["deploy", "--role", role, "--model-package", arn, "--name", "from-registry", "--workers", "2"]) == 0
    [model] = aws.recorded("SageMaker.CreateModel")
    assert model == {
        "ModelName": "from-registry",
        "PrimaryContainer": {"ModelPackageName": arn, "Environment": {"SAGEMAKER_GUNICORN_WORKERS": "2"}},
        "ExecutionRoleArn": role,
    }
    assert boto3.client("sagemaker").describe_endpoint(EndpointName="from-registry")["EndpointStatus"] == "InService"


def test_deploy_refuses_a_package_together_with_an_artifact(aws, role, capsys):
    argv = ["deploy", "--role", role, "--model-package", "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
            "--model-data", MODEL_DATA]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "launch deploy: error: give either --model-package or --model-data with --image, not both\n"
    )
    assert aws.recorded("SageMaker.CreateModel") == []


def test_register_refuses_a_bad_group_name_before_sending(aws, capsys):
    assert main(["register", "--group", "bad_group", "--image", IMAGE, "--model-data", MODEL_DATA]) == 2
    assert "malformed --group 'bad_group'" in capsys.readouterr().err
    assert aws.recorded("SageMaker.CreateModelPackageGroup") == []
