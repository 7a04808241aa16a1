"""`launch deploy / predict / transform / cleanup` against a real moto server."""

from __future__ import annotations

import json

import boto3
import pytest

from scripts.launch.cli import main
from tests.integration.scripts.runtime_standin import ANSWER

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference:0.1.0-cpu-abc123"
MODEL_DATA = "s3://byoc-out/jobs/hvd-job/output/model.tar.gz"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2266e6b0000000049454e44ae426082"
)


def deploy_argv(role: str, *extra: str) -> list[str]:
    return [
        "deploy", "--role", role, "--image", IMAGE, "--model-data", MODEL_DATA, "--name", "cifar-ep",
        "--instance-type", "ml.m5.xlarge", *extra,
    ]  # fmt: skip


def test_deploy_creates_model_config_and_endpoint_with_serving_env(aws, role, capsys):
    argv = deploy_argv(
        role, "--workers", "4", "--timeout", "120", "--enable-batching", "--max-batch-size", "32",
        "--batch-timeout-micros", "2000", "--tag", "Project=cifar10",
    )  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "created model cifar-ep" in out and "created endpoint cifar-ep" in out

    [model] = aws.recorded("SageMaker.CreateModel")
    assert model == {
        "ModelName": "cifar-ep",
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": MODEL_DATA,
            "Mode": "SingleModel",
            "Environment": {
                "SAGEMAKER_GUNICORN_WORKERS": "4",
                "SAGEMAKER_GUNICORN_TIMEOUT_SECONDS": "120",
                "SAGEMAKER_TFS_ENABLE_BATCHING": "true",
                "SAGEMAKER_TFS_MAX_BATCH_SIZE": "32",
                "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": "2000",
            },
        },
        "ExecutionRoleArn": role,
    }
    [config] = aws.recorded("SageMaker.CreateEndpointConfig")
    assert config == {
        "EndpointConfigName": "cifar-ep",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "cifar-ep",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    }
    [endpoint] = aws.recorded("SageMaker.CreateEndpoint")
    assert endpoint == {
        "EndpointName": "cifar-ep",
        "EndpointConfigName": "cifar-ep",
        "Tags": [{"Key": "Project", "Value": "cifar10"}],
    }


def test_cleanup_removes_what_deploy_created(aws, role, capsys):
    sm = boto3.client("sagemaker")
    assert main(deploy_argv(role)) == 0
    assert sm.describe_endpoint(EndpointName="cifar-ep")["EndpointStatus"] == "InService"

    assert main(["cleanup", "--endpoint", "cifar-ep"]) == 0
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    out = capsys.readouterr().out
    assert "deleted endpoint cifar-ep" in out and "deleted model cifar-ep" in out


def test_cleanup_of_a_missing_endpoint_fails_with_one_line(aws, capsys):
    assert main(["cleanup", "--endpoint", "no-such-endpoint"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("launch cleanup: error:") and "no-such-endpoint" in err
    assert len(err.splitlines()) == 1


def test_deploy_rolls_back_the_model_when_the_config_is_refused(aws, role, capsys):
    # Valid for the SageMaker API (botocore's enum) but missing from moto's older list, so moto refuses
    # CreateEndpointConfig after CreateModel succeeded: the half-created model must not stay behind.
    assert main([*deploy_argv(role), "--instance-type", "ml.c6g.xlarge"]) == 1
    captured = capsys.readouterr()
    assert "created model cifar-ep" in captured.out
    assert "rolled back: deleted model cifar-ep" in captured.out
    assert boto3.client("sagemaker").list_models()["Models"] == []
    assert captured.err.startswith("launch deploy: error: ValidationException")
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "payload", "content_type"),
    [("cat.png", PNG_1X1, "application/x-image"), ("batch.tfrecord", b"\x00" * 16, "application/x-tfrecord")],
)
def test_predict_sends_the_file_with_its_content_type(
    aws, runtime_standin, tmp_path, capsys, name, payload, content_type
):
    path = tmp_path / name
    path.write_bytes(payload)
    assert main(["predict", "--endpoint", "cifar-ep", str(path)]) == 0
    [request] = runtime_standin.requests
    assert request["path"] == "/endpoints/cifar-ep/invocations"
    assert request["content_type"] == content_type
    assert request["accept"] == "application/json"
    assert request["signed"]
    assert request["body"] == payload
    assert json.loads(capsys.readouterr().out) == ANSWER


def test_predict_refuses_a_file_it_cannot_type(aws, runtime_standin, tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert main(["predict", "--endpoint", "cifar-ep", str(path)]) == 2
    assert "cannot tell the content type" in capsys.readouterr().err
    assert runtime_standin.requests == []


def test_transform_request_has_split_batch_payload_and_concurrency(aws, role, capsys):
    argv = [
        "transform", "--role", role, "--model-data", MODEL_DATA, "--image", IMAGE, "--job-name", "cifar-bt",
        "--input", "s3://byoc-data/cifar10/eval", "--output", "s3://byoc-out/batch",
        "--split-type", "TFRecord", "--batch-strategy", "MultiRecord", "--max-payload", "3",
        "--max-concurrent", "32", "--instance-type", "ml.c5.xlarge", "--instance-count", "2",
    ]  # fmt: skip
    assert main(argv) == 0
    [model] = aws.recorded("SageMaker.CreateModel")
    assert model["ModelName"] == "cifar-bt" and model["PrimaryContainer"]["Image"] == IMAGE
    [request] = aws.recorded("SageMaker.CreateTransformJob")
    assert request == {
        "TransformJobName": "cifar-bt",
        "ModelName": "cifar-bt",
        "MaxConcurrentTransforms": 32,
        "MaxPayloadInMB": 3,  # x 32 concurrent = 96 MB, under the API's 100 MB
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://byoc-data/cifar10/eval"}},
            "ContentType": "application/x-tfrecord",
            "CompressionType": "None",
            "SplitType": "TFRecord",
        },
        "TransformOutput": {
            "S3OutputPath": "s3://byoc-out/batch",
            "Accept": "application/jsonlines",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
    }


def test_transform_of_whole_images_like_seed_004(aws, role):
    argv = [
        "transform", "--model-name", "existing-model", "--job-name", "png-bt",
        "--input", "s3://byoc-data/cifar10/png", "--output", "s3://byoc-out/png",
        "--content-type", "application/x-image", "--split-type", "None", "--batch-strategy", "SingleRecord",
        "--max-payload", "1", "--max-concurrent", "32", "--accept", "application/json",
        "--assemble-with", "None",
    ]  # fmt: skip
    boto3.client("sagemaker").create_model(
        ModelName="existing-model", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=role
    )
    assert main(argv) == 0
    # Only the test's own CreateModel: the launcher reuses the named model.
    assert len(aws.recorded("SageMaker.CreateModel")) == 1
    [request] = aws.recorded("SageMaker.CreateTransformJob")
    assert request["TransformInput"]["SplitType"] == "None"
    assert request["TransformInput"]["ContentType"] == "application/x-image"
    assert request["BatchStrategy"] == "SingleRecord"
    assert request["TransformOutput"] == {
        "S3OutputPath": "s3://byoc-out/png", "Accept": "application/json", "AssembleWith": "None"
    }  # fmt: skip


def test_a_transform_the_api_would_refuse_creates_nothing(aws, role):
    """Checked against the service model before the model is created, so there is nothing to roll back
    (rollback after a server-side refusal: tests/integration/scripts/test_launch_wait.py)."""
    from scripts.launch import api_requests as rq
    from scripts.launch import sagemaker_calls as calls
    from scripts.launch.validation import RequestError

    model = rq.model_request("bt-model", IMAGE, MODEL_DATA, role, {})
    spec = rq.TransformSpec(
        model_name="bt-model", input_s3_uri="s3://b-1/in", output_s3_uri="s3://b-1/out",
        content_type="application/x-tfrecord", split_type="TFRecord", batch_strategy="MultiRecord",
        max_payload_mb=6, max_concurrent_transforms=4, instance_type="ml.m5.xlarge", instance_count=1,
    )  # fmt: skip
    request = rq.transform_job_request("bt-job", spec, {})
    del request["TransformResources"]
    emitted: list[str] = []
    with pytest.raises(RequestError, match='Missing required parameter in input: "TransformResources"'):
        calls.create_transform_job(request, "us-east-1", emitted.append, model)
    assert emitted == []
    assert aws.recorded("SageMaker.CreateModel") == []
    assert boto3.client("sagemaker").list_models()["Models"] == []
