"""`--wait` against moto's server: progress lines, CloudWatch log lines, FailureReason and the exit code."""

from __future__ import annotations

import contextlib
import time

import boto3
import pytest

from scripts.launch import watch
from scripts.launch.cli import main
from tests.integration.scripts.live_moto import live_moto
from tests.integration.scripts.moto_server import ROLE_ARN

TRAIN_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc123"
SERVE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference:0.1.0-cpu-abc123"
MODEL_DATA = "s3://byoc-out/jobs/job/output/model.tar.gz"
FAST = ["--wait", "--poll-seconds", "0.01", "--max-poll-seconds", "0.02"]


@pytest.fixture
def live(monkeypatch):
    with live_moto(monkeypatch) as server:
        yield server


def train_argv(name: str, *extra: str) -> list[str]:
    return [
        "train", "--role", ROLE_ARN, "--image", TRAIN_IMAGE, "--job-name", name, "--instance-count", "2",
        "--train", "s3://byoc-data/train", "--output-path", "s3://byoc-out/jobs", *extra,
    ]  # fmt: skip


def twice(state: dict) -> tuple[dict, dict]:
    """sagemaker-core's create() describes the new job once itself: the first state serves that read and the
    launcher's first poll alike (identical progress lines are printed once)."""
    return state, state


def put_logs(stream: str, *messages: str) -> None:
    logs = boto3.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=watch.LogTail.GROUP)
    logs.create_log_stream(logGroupName=watch.LogTail.GROUP, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch (and moto) drop events older than 14 days
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    answer = logs.put_log_events(logGroupName=watch.LogTail.GROUP, logStreamName=stream, logEvents=events)
    assert "rejectedLogEventsInfo" not in answer


def test_failed_training_streams_its_logs_and_prints_the_failure_reason(live, capsys):
    reason = "AlgorithmError: ExecuteUserScriptError: hyperparameter 'epochs' must be positive"
    put_logs("bad-job/algo-1-1700000000", "epoch=1 loss=2.3 accuracy=0.1", "Traceback: ValueError")
    put_logs("bad-job/algo-2-1700000000", "worker 1 ready")
    live.script(
        "describe_training_job", "bad-job",
        *twice({"training_job_status": "InProgress", "secondary_status": "Starting"}),
        {"training_job_status": "InProgress", "secondary_status": "Training"},
        {"training_job_status": "Failed", "secondary_status": "Failed", "failure_reason": reason},
    )  # fmt: skip
    assert main(train_argv("bad-job", *FAST)) == 1
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    progress = [line.rsplit(" (", 1)[0] for line in out if line.startswith("bad-job: ")]
    assert progress == ["bad-job: InProgress / Starting", "bad-job: InProgress / Training", "bad-job: Failed / Failed"]
    # Each host's lines once, prefixed with the host because there are two streams.
    assert [line for line in out if line.startswith("[algo-")] == [
        "[algo-1] epoch=1 loss=2.3 accuracy=0.1", "[algo-1] Traceback: ValueError", "[algo-2] worker 1 ready"
    ]  # fmt: skip
    assert captured.err == f"launch train: training job bad-job Failed: {reason}\n"


def test_log_lines_written_while_waiting_are_shown_once(live, capsys):
    put_logs("log-job/algo-1-1700000000", "epoch=1 loss=1.0")
    logs = boto3.client("logs")

    class LateLines:
        """Adds a line to the stream between two describes, as a running job would."""

        calls = 0

        def __call__(self):
            LateLines.calls += 1
            if LateLines.calls == 2:
                logs.put_log_events(
                    logGroupName=watch.LogTail.GROUP, logStreamName="log-job/algo-1-1700000000",
                    logEvents=[{"timestamp": int(time.time() * 1000) + 10, "message": "epoch=2 loss=0.5"}],
                )  # fmt: skip
            return {"training_job_status": "InProgress" if LateLines.calls < 3 else "Completed"}

    live.script("describe_training_job", "log-job", LateLines())
    assert main(train_argv("log-job", *FAST)) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("epoch=")] == ["epoch=1 loss=1.0", "epoch=2 loss=0.5"]
    assert out[-1].startswith("log-job: Completed / Completed")


def test_deploy_wait_returns_when_in_service(live, capsys):
    live.script("describe_endpoint", "cifar-ep", {"endpoint_status": "Creating"}, {"endpoint_status": "InService"})
    argv = ["deploy", "--role", ROLE_ARN, "--image", SERVE_IMAGE, "--model-data", MODEL_DATA, "--name", "cifar-ep"]
    assert main([*argv, *FAST]) == 0
    progress = [line.rsplit(" (", 1)[0] for line in capsys.readouterr().out.splitlines() if line.startswith("cifar")]
    assert progress == ["cifar-ep: Creating", "cifar-ep: InService"]


def test_deploy_wait_on_a_failed_endpoint_exits_non_zero_with_the_reason(live, capsys):
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    live.script(
        "describe_endpoint", "bad-ep",
        {"endpoint_status": "Creating"}, {"endpoint_status": "Failed", "failure_reason": reason},
    )  # fmt: skip
    argv = ["deploy", "--role", ROLE_ARN, "--image", SERVE_IMAGE, "--model-data", MODEL_DATA, "--name", "bad-ep"]
    assert main([*argv, *FAST]) == 1
    assert capsys.readouterr().err == f"launch deploy: endpoint bad-ep Failed: {reason}\n"


def test_transform_wait_failed_job(live, capsys):
    reason = "ClientError: See job logs for more information"
    boto3.client("sagemaker").create_model(
        ModelName="m-1", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": SERVE_IMAGE}
    )
    live.script(
        "describe_transform_job", "bt-1",
        *twice({"transform_job_status": "InProgress"}), {"transform_job_status": "Failed", "failure_reason": reason},
    )  # fmt: skip
    argv = ["transform", "--model-name", "m-1", "--job-name", "bt-1", "--input", "s3://b-1/in", "--output", "s3://b-1/o"]
    assert main([*argv, *FAST]) == 1
    captured = capsys.readouterr()
    assert "bt-1: InProgress" in captured.out
    assert captured.err == f"launch transform: transform job bt-1 Failed: {reason}\n"


def test_tune_wait_prints_the_best_trial(live, capsys):
    best = {
        "TrainingJobName": "tune-1-003-abcdef12",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/tune-1-003-abcdef12",
        "CreationTime": "2026-01-01T00:00:00Z",
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"learning_rate": "0.0031", "batch_size": "128"},
        "FinalHyperParameterTuningJobObjectiveMetric": {"Type": "Minimize", "MetricName": "val_loss", "Value": 0.41},
    }
    running = {"Completed": 1, "InProgress": 2, "RetryableError": 0, "NonRetryableError": 1, "Stopped": 0}
    done = {"Completed": 4, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 1, "Stopped": 0}
    live.script(
        "describe_hyper_parameter_tuning_job", "tune-1",
        *twice({"hyper_parameter_tuning_job_status": "InProgress", "training_job_status_counters": running}),
        {"hyper_parameter_tuning_job_status": "Completed", "training_job_status_counters": done,
         "best_training_job": best},
    )  # fmt: skip
    argv = [
        "tune", "--role", ROLE_ARN, "--image", TRAIN_IMAGE, "--job-name", "tune-1", "--train", "s3://b-1/train",
        "--output-path", "s3://b-1/out", "--objective", "val_loss", "--max-jobs", "5",
        "--range", "learning_rate=continuous:0.0001:0.1:log", "--range", "batch_size=integer:32:256", *FAST,
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created tuning job tune-1 (objective val_loss, Minimize)"
    assert [line.rsplit(" (", 1)[0] for line in out[1:3]] == [
        "tune-1: InProgress, trials 1 completed, 2 running, 1 failed, 0 stopped",
        "tune-1: Completed, trials 4 completed, 0 running, 1 failed, 0 stopped",
    ]
    assert out[3] == (
        "best trial tune-1-003-abcdef12: val_loss=0.41 (Minimize); "
        "hyperparameters: batch_size=128, learning_rate=0.0031"
    )


def test_tune_wait_on_a_failed_tuning_job_prints_its_reason(live, capsys):
    reason = "No training job succeeded after 5 attempts. For additional details, please take a look at the trials."
    failed = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 5, "Stopped": 0}
    live.script(
        "describe_hyper_parameter_tuning_job", "tune-2",
        *twice({"hyper_parameter_tuning_job_status": "InProgress"}),
        {"hyper_parameter_tuning_job_status": "Failed", "training_job_status_counters": failed,
         "failure_reason": reason},
    )  # fmt: skip
    argv = [
        "tune", "--role", ROLE_ARN, "--image", TRAIN_IMAGE, "--job-name", "tune-2", "--train", "s3://b-1/train",
        "--output-path", "s3://b-1/out", "--max-jobs", "5", "--range", "learning_rate=continuous:0.0001:0.1:log",
        *FAST,
    ]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "tune-2: Failed, trials 0 completed, 0 running, 5 failed, 0 stopped" in captured.out
    assert "best trial" not in captured.out
    assert captured.err == f"launch tune: tuning job tune-2 Failed: {reason}\n"


def test_transform_rolls_back_its_model_when_the_server_refuses_the_job(live, monkeypatch, capsys):
    from moto.sagemaker.exceptions import ValidationError

    def refuse(**_):
        raise ValidationError(message="Model m-2 is not ready for batch transform")

    monkeypatch.setattr(live.backend, "create_transform_job", refuse)
    argv = [
        "transform", "--role", ROLE_ARN, "--model-data", MODEL_DATA, "--image", SERVE_IMAGE, "--job-name", "m-2",
        "--input", "s3://b-1/in", "--output", "s3://b-1/o",
    ]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "created model m-2" in captured.out and "rolled back: deleted model m-2" in captured.out
    assert "not ready for batch transform" in captured.err
    assert boto3.client("sagemaker").list_models()["Models"] == []


def test_backoff_grows_to_its_cap():
    delays = watch.Backoff(initial=2, maximum=10, factor=2).delays()
    assert [next(delays) for _ in range(6)] == [2, 4, 8, 10, 10, 10]


def test_end_states_come_from_botocore_waiters():
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    assert watch.end_states(sagemaker, watch.KINDS["training"]) == {"Completed", "Stopped", "Failed"}
    assert watch.end_states(sagemaker, watch.KINDS["endpoint"]) == {"InService", "Failed"}
    assert watch.end_states(sagemaker, watch.KINDS["tuning"]) == {"Completed", "Stopped", "Failed"}
