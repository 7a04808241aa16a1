"""`launch process` and `launch pipeline` against moto's server: what moto received, stored and reported."""

from __future__ import annotations

import json

import boto3
import pytest

from scripts.launch import pipeline as pl
from scripts.launch.cli import main
from tests.integration.scripts.live_moto import live_moto
from tests.integration.scripts.moto_server import ROLE_ARN

TRAIN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training@sha256:" + "a" * 64
SERVE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference@sha256:" + "b" * 64
FAST = ["--wait", "--poll-seconds", "0.01", "--max-poll-seconds", "0.02"]


def prepare_argv(*extra: str) -> list[str]:
    return [
        "process", "prepare", "--role", ROLE_ARN, "--image", TRAIN, "--job-name", "prep-1",
        "--input", "s3://byoc-raw/digits", "--output", "s3://byoc-data/digits", "--validation-fraction", "0.1",
        *extra,
    ]  # fmt: skip


def test_process_prepare_sends_our_program_with_its_s3_paths_and_waits(aws, capsys):
    assert main([*prepare_argv(), *FAST]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created processing job prep-1 -> s3://byoc-data/digits"
    assert out[-1].startswith("prep-1: Completed")
    [request] = aws.recorded("SageMaker.CreateProcessingJob")
    assert request["AppSpecification"] == {
        "ImageUri": TRAIN,
        "ContainerEntrypoint": ["python3", "-m", "scripts.prepare_data"],
        "ContainerArguments": [
            "--source", "folder", "--input", "/opt/ml/processing/input/raw", "--output",
            "/opt/ml/processing/output/data", "--shard-multiple", "8", "--records-per-shard", "4096",
            "--validation-fraction", "0.1", "--seed", "0",
        ],
    }  # fmt: skip
    assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://byoc-raw/digits"
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"] == {
        "S3Uri": "s3://byoc-data/digits", "LocalPath": "/opt/ml/processing/output/data", "S3UploadMode": "EndOfJob"
    }
    stored = boto3.client("sagemaker").describe_processing_job(ProcessingJobName="prep-1")
    assert stored["AppSpecification"] == request["AppSpecification"]


def test_process_refuses_an_instance_type_processing_does_not_offer(aws, capsys):
    assert main(prepare_argv("--instance-type", "ml.p4d.24xlarge")) == 2
    err = capsys.readouterr().err
    assert err.startswith("launch process: error: unknown processing instance type 'ml.p4d.24xlarge'")
    assert aws.recorded("SageMaker.CreateProcessingJob") == []


def test_process_evaluate_wait_on_a_failed_job_prints_its_reason(monkeypatch, capsys):
    reason = "AlgorithmError: evaluate: error: 359 labels vs 360 predictions: cannot score"
    with live_moto(monkeypatch) as live:
        live.script(
            "describe_processing_job", "eval-1",
            {"processing_job_status": "InProgress"},
            {"processing_job_status": "Failed", "failure_reason": reason, "exit_message": reason},
        )  # fmt: skip
        argv = [
            "process", "evaluate", "--role", ROLE_ARN, "--image", TRAIN, "--job-name", "eval-1",
            "--predictions", "s3://byoc-data/bt-out", "--tfrecords", "s3://byoc-data/digits/eval",
            "--output", "s3://byoc-data/evaluation",
        ]  # fmt: skip
        assert main([*argv, *FAST]) == 1
    captured = capsys.readouterr()
    assert "eval-1: InProgress" in captured.out
    assert captured.err == f"launch process: processing job eval-1 Failed: {reason}\n"


def pipeline_argv(*extra: str) -> list[str]:
    return [
        "pipeline", "--role", ROLE_ARN, "--name", "byoc-digits", "--workspace", "s3://byoc-pipe/runs",
        "--input", "s3://byoc-raw/digits", "--train-image", TRAIN, "--serve-image", SERVE, "--group", "byoc-digits",
        "--distribution", "horovod", "--processes-per-host", "2", "--hp", "epochs=8",
        "--training-instance-type", "ml.p3.8xlarge", "--training-instance-count", "2", *extra,
    ]  # fmt: skip


def test_pipeline_upserts_then_starts_an_execution_that_moto_runs(aws, capsys):
    assert main(pipeline_argv()) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[:2] == ["created model package group byoc-digits", "created pipeline byoc-digits"]
    sagemaker = boto3.client("sagemaker")
    stored = json.loads(sagemaker.describe_pipeline(PipelineName="byoc-digits")["PipelineDefinition"])
    [create] = aws.recorded("SageMaker.CreatePipeline")
    assert json.loads(create["PipelineDefinition"]) == stored
    assert {p["Name"]: p["DefaultValue"] for p in stored["Parameters"]}["TrainingInstanceCount"] == 2
    train = next(s for s in stored["Steps"] if s["Name"] == pl.TRAIN)["Arguments"]
    assert train["HyperParameters"] == {"epochs": "8", "distribution": "horovod", "processes_per_host": "2"}

    assert main([*pipeline_argv("--accuracy-threshold", "0.9", "--param", "TrainingInstanceCount=4"), *FAST]) == 0
    second = capsys.readouterr().out.splitlines()
    assert "updated pipeline byoc-digits" in second  # the same name is updated, not created twice
    assert not any("created" in line for line in second)
    [update] = aws.recorded("SageMaker.UpdatePipeline")
    threshold = {p["Name"]: p["DefaultValue"] for p in json.loads(update["PipelineDefinition"])["Parameters"]}
    assert threshold["AccuracyThreshold"] == 0.9
    [start] = aws.recorded("SageMaker.StartPipelineExecution")
    assert start["PipelineParameters"] == [{"Name": "TrainingInstanceCount", "Value": "4"}]
    assert second[-1].startswith("arn:aws:sagemaker:us-east-1:123456789012:pipeline/byoc-digits/execution/")
    assert ": Succeeded (" in second[-1]
    executions = sagemaker.list_pipeline_executions(PipelineName="byoc-digits")["PipelineExecutionSummaries"]
    assert len(executions) == 1


def test_pipeline_wait_on_a_failed_execution_prints_its_reason(monkeypatch, capsys):
    reason = "Step failure: One or multiple steps failed."
    with live_moto(monkeypatch) as live:
        live.script(
            "describe_pipeline_execution", "byoc-digits",
            {"pipeline_execution_status": "Executing"},
            {"pipeline_execution_status": "Failed", "pipeline_execution_failure_reason": reason},
        )  # fmt: skip
        assert main([*pipeline_argv(), *FAST]) == 1
    captured = capsys.readouterr()
    started = next(line for line in captured.out.splitlines() if line.startswith("started "))
    arn = started.removeprefix("started ")
    assert f"{arn}: Executing" in captured.out
    assert captured.err == f"launch pipeline: pipeline execution {arn} Failed: {reason}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--param", "Epochs=3", "--start"], "--param Epochs: not a parameter of the pipeline"),
        (["--training-instance-type", "ml.t2.medium"], "unknown training instance type 'ml.t2.medium'"),
        (["--hp", "epochs=zero"], "epochs"),
    ],
)
def test_pipeline_refuses_bad_input_before_sending_anything(aws, capsys, extra, message):
    assert main(pipeline_argv(*extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("launch pipeline: error: ") and message in err and err.count("\n") == 1
    assert aws.recorded("SageMaker.CreatePipeline") == []
    assert aws.recorded("SageMaker.CreateModelPackageGroup") == []


def test_print_definition_needs_no_aws(capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: any call would fail
    assert main(pipeline_argv("--print-definition")) == 0
    assert json.loads(capsys.readouterr().out)["Version"] == "2020-12-01"
