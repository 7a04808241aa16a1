"""Bad input: one-line message, non-zero exit, and nothing created on the (moto) AWS side."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.config import REPO_ROOT
from scripts.launch.cli import main

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:1"
TRAIN = ["train", "--image", IMAGE, "--train", "s3://byoc-data/train", "--output-path", "s3://byoc-out/jobs"]
DEPLOY = ["deploy", "--image", IMAGE, "--model-data", "s3://byoc-out/model.tar.gz"]


def with_role(argv: list[str], role: str) -> list[str]:
    return [*argv, "--role", role]


CASES = {
    "missing role": (TRAIN, "no execution role: pass --role or set SAGEMAKER_ROLE_ARN"),
    "malformed role": ([*TRAIN, "--role", "admin"], "malformed IAM role ARN 'admin'"),
    "malformed S3 URI": (
        [*TRAIN[:4], "byoc-data/train", *TRAIN[5:], "--role", "@role"],
        "malformed --train 'byoc-data/train'",
    ),
    "bucket with capitals": (
        [*TRAIN[:-1], "s3://My_Bucket/out", "--role", "@role"],
        "malformed --output-path 's3://My_Bucket/out'",
    ),
    "image not in ECR": (
        [*TRAIN[:2], "tensorflow/tensorflow:2.16.2", *TRAIN[3:], "--role", "@role"],
        "not an ECR image URI 'tensorflow/tensorflow:2.16.2'",
    ),
    "unknown training instance type": (
        [*TRAIN, "--instance-type", "ml.banana.xlarge", "--role", "@role"],
        "unknown training instance type 'ml.banana.xlarge'",
    ),
    "hosting type used for training": (
        [*TRAIN, "--instance-type", "ml.t2.medium", "--role", "@role"],
        "unknown training instance type 'ml.t2.medium'",
    ),
    "unknown hyperparameter": ([*TRAIN, "--hp", "epochz=3", "--role", "@role"], "unknown hyperparameter 'epochz'"),
    "bad hyperparameter value": ([*TRAIN, "--hp", "epochs=zero", "--role", "@role"], "hyperparameter 'epochs'"),
    "spot without max wait": (
        [*TRAIN, "--spot", "--checkpoint-s3", "s3://b-1/c", "--role", "@role"],
        "CreateTrainingJob: StoppingCondition.MaxWaitTimeInSeconds is required with managed spot (--max-wait)",
    ),
    "spot wait below max run": (
        [*TRAIN, "--spot", "--checkpoint-s3", "s3://b-1/c", "--max-run", "3600", "--max-wait", "60", "--role", "@role"],
        "MaxWaitTimeInSeconds (60) must be >= MaxRuntimeInSeconds (3600) with managed spot (--max-wait >= --max-run)",
    ),
    "processes per host without horovod": (
        [*TRAIN, "--processes-per-host", "4", "--role", "@role"],
        "--processes-per-host only applies to --distribution horovod",
    ),
    "unknown hosting instance type": (
        [*DEPLOY, "--instance-type", "m5.xlarge", "--role", "@role"],
        "unknown hosting instance type 'm5.xlarge'",
    ),
    "bad serving env": ([*DEPLOY, "--workers", "0", "--role", "@role"], "SAGEMAKER_GUNICORN_WORKERS"),
    "transform payload too large": (
        [
            "transform", "--model-name", "m", "--input", "s3://b-1/in", "--output", "s3://b-1/out",
            "--max-payload", "101",
        ],
        "CreateTransformJob: MaxPayloadInMB is 101, at most 100 allowed (--max-payload)",
    ),  # fmt: skip
    "transform payload x concurrency (issue 13)": (
        [
            "transform", "--model-name", "m", "--input", "s3://b-1/in", "--output", "s3://b-1/out",
            "--max-payload", "50", "--max-concurrent", "4",
        ],
        "MaxPayloadInMB x MaxConcurrentTransforms = 50 x 4 = 200 MB, at most 100 allowed",
    ),  # fmt: skip
    "local transform of a model in AWS": (
        ["transform", "--local", "--model-name", "m", "--input", "file:///in", "--output", "file:///out"],
        "--local transforms --model-data with --image (a SageMaker model lives in AWS)",
    ),
    "local transform checked as AWS would (payload x concurrency)": (
        ["transform", "--local", "--model-data", "file:///m/model.tar.gz", "--image", "serve:local",
         "--input", "file:///in", "--output", "file:///out", "--max-payload", "50", "--max-concurrent", "4"],
        "MaxPayloadInMB x MaxConcurrentTransforms = 50 x 4 = 200 MB, at most 100 allowed",
    ),  # fmt: skip
    "local transform of a relative folder": (
        ["transform", "--local", "--model-data", "file:///m/model.tar.gz", "--image", "serve:local",
         "--input", "file://in", "--output", "file:///out"],
        "malformed --input (or file:///abs/path with --local) 'file://in'",
    ),  # fmt: skip
    "local pipeline in a file:// workspace": (
        ["pipeline", "--local", "--workspace", "file:///runs", "--input", "file:///raw", "--train-image", "t:1",
         "--serve-image", "s:1", "--group", "g"],
        "--workspace file:///runs: --local needs an s3:// workspace (the SDK's local pipeline mode reads",
    ),
    # The host venv cannot hold sagemaker-mlops (README: its mlflow pins gunicorn against the serving pin).
    "local pipeline without sagemaker-mlops": (
        ["pipeline", "--local", "--workspace", "s3://b-1/runs", "--input", "file:///raw", "--train-image", "t:1",
         "--serve-image", "s:1", "--group", "g"],
        "--local runs the pipeline in the SageMaker SDK's local pipeline mode, which needs sagemaker-mlops: "
        "pip install -e '.[launch,pipelines]' (No module named 'sagemaker.mlops')",
    ),
    "hyperband without epochs (issue 13)": (
        ["tune", *TRAIN[1:], "--range", "learning_rate=continuous:0.001:0.1", "--strategy", "Hyperband",
         "--role", "@role"],
        "Strategy Hyperband needs HyperbandStrategyConfig.MaxResource or a static resource hyperparameter",
    ),
    "grid with a continuous range": (
        ["tune", *TRAIN[1:], "--range", "learning_rate=continuous:0.001:0.1", "--strategy", "Grid",
         "--role", "@role"],
        "Strategy Grid searches categorical ranges only",
    ),
    "objective that training never prints": (
        ["tune", *TRAIN[1:], "--range", "learning_rate=continuous:0.001:0.1", "--objective", "f1",
         "--role", "@role"],
        "HyperParameterTuningJobObjective.MetricName 'f1' is not one of",
    ),
    "log scaling from zero": (
        ["tune", *TRAIN[1:], "--range", "learning_rate=continuous:0:0.1:log", "--role", "@role"],
        "ScalingType Logarithmic needs MinValue > 0",
    ),
    "bad tuning range": (
        [*TRAIN[1:], "--range", "learning_rate=continuous:0.1:0.001", "--role", "@role"],
        "min must be below max",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_creates_nothing(aws, role, capsys, case):
    argv, message = CASES[case]
    argv = [role if a == "@role" else a for a in argv]
    if case == "bad tuning range":
        argv = ["tune", *argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"launch {argv[0]}: error: ")
    assert message in err
    with aws.recording.open() as recording:
        assert "SageMaker.Create" not in recording.read()


def test_missing_region_fails_before_any_call(aws, role, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(with_role(TRAIN, role)) == 2
    assert "no AWS region: pass --region or set AWS_REGION" in capsys.readouterr().err


def test_cli_process_exits_non_zero_with_one_line(aws):
    env = {**aws.client_env(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.launch", *TRAIN], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr == "launch train: error: no execution role: pass --role or set SAGEMAKER_ROLE_ARN\n"
