"""`launch train` / `launch tune` against a real moto server: the request moto received, field by field."""

from __future__ import annotations

import pytest

from scripts.launch.cli import main
from train_container.metrics import METRIC_DEFINITIONS

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc123"
DATA = "s3://byoc-data/cifar10"


def train_argv(role: str, *extra: str) -> list[str]:
    return [
        "train", "--role", role, "--image", IMAGE, "--job-name", "hvd-job",
        "--instance-type", "ml.p3.8xlarge", "--instance-count", "2",
        "--train", f"{DATA}/train", "--validation", f"{DATA}/validation", "--eval", f"{DATA}/eval",
        "--output-path", "s3://byoc-out/jobs", *extra,
    ]  # fmt: skip


def test_horovod_spot_training_request_has_exactly_the_intended_fields(aws, role, capsys):
    argv = train_argv(
        role,
        "--input-mode", "Pipe", "--distribution", "horovod", "--processes-per-host", "4",
        "--custom-mpi-options", "-x NCCL_DEBUG=INFO",
        "--hp", "epochs=60", "--hp", "batch-size=256",
        "--checkpoint-s3", "s3://byoc-out/ckpt", "--spot", "--max-run", "3600", "--max-wait", "7200",
        "--tag", "Project=cifar10", "--tag", "TensorBoard=dist",
    )  # fmt: skip
    assert main(argv) == 0
    assert "created training job hvd-job" in capsys.readouterr().out

    [request] = aws.recorded("SageMaker.CreateTrainingJob")
    channel = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated"}},
        "ContentType": "application/x-tfrecord",
        "CompressionType": "None",
        "InputMode": "Pipe",
    }
    expected_channels = []
    for name in ("train", "validation", "eval"):
        expected = {"ChannelName": name, **channel}
        source = dict(channel["DataSource"]["S3DataSource"], S3Uri=f"{DATA}/{name}")
        if name == "train":
            source["S3DataDistributionType"] = "ShardedByS3Key"
        expected["DataSource"] = {"S3DataSource": source}
        expected_channels.append(expected)
    assert request == {
        "TrainingJobName": "hvd-job",
        "HyperParameters": {
            "epochs": "60",
            "batch-size": "256",
            "distribution": "horovod",
            "processes_per_host": "4",
            "custom_mpi_options": "-x NCCL_DEBUG=INFO",
        },
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "Pipe",
            "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
        },
        "RoleArn": role,
        "InputDataConfig": expected_channels,
        "OutputDataConfig": {"S3OutputPath": "s3://byoc-out/jobs"},
        "ResourceConfig": {"InstanceType": "ml.p3.8xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": "s3://byoc-out/ckpt", "LocalPath": "/opt/ml/checkpoints"},
        "Tags": [{"Key": "Project", "Value": "cifar10"}, {"Key": "TensorBoard", "Value": "dist"}],
    }


@pytest.mark.parametrize("distribution", ["single", "mirrored", "multiworker", "parameter_server"])
def test_each_distribution_reaches_the_container_as_its_hyperparameter(aws, role, distribution):
    assert main([*train_argv(role, "--distribution", distribution, "--input-mode", "FastFile")]) == 0
    [request] = aws.recorded("SageMaker.CreateTrainingJob")
    assert request["HyperParameters"] == {"distribution": distribution}
    assert {c["InputMode"] for c in request["InputDataConfig"]} == {"FastFile"}
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert "CheckpointConfig" not in request
    assert request["EnableManagedSpotTraining"] is False
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 24 * 3600}


def test_wait_streams_status_until_the_job_ends(aws, role, capsys):
    assert main([*train_argv(role), "--wait", "--poll-seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    # moto completes jobs at once; the launcher still has to read the status back and report it.
    assert "hvd-job: Completed / Completed" in out


def test_tuning_request_has_ranges_objective_and_static_hyperparameters(aws, role, capsys):
    argv = [
        "tune", "--role", role, "--image", IMAGE, "--job-name", "tune-cifar",
        "--train", f"{DATA}/train", "--validation", f"{DATA}/validation",
        "--output-path", "s3://byoc-out/tuning", "--hp", "epochs=5", "--hp", "learning_rate=0.01",
        "--range", "learning_rate=continuous:0.0001:0.1:log", "--range", "batch_size=integer:32:256",
        "--range", "optimizer=categorical:adam,sgd", "--max-jobs", "8", "--max-parallel", "2",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "objective val_accuracy" in capsys.readouterr().out
    [request] = aws.recorded("SageMaker.CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobName"] == "tune-cifar"
    assert request["HyperParameterTuningJobConfig"] == {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [
                {"Name": "batch_size", "MinValue": "32", "MaxValue": "256", "ScalingType": "Auto"}
            ],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "sgd"]}],
        },
        "TrainingJobEarlyStoppingType": "Off",
    }
    definition = request["TrainingJobDefinition"]
    # The tuned learning_rate must not also be pinned as a static hyperparameter.
    assert definition["StaticHyperParameters"] == {"epochs": "5", "distribution": "single"}
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == [dict(d) for d in METRIC_DEFINITIONS]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert [c["ChannelName"] for c in definition["InputDataConfig"]] == ["train", "validation"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--objective", "val_loss"], {"Type": "Minimize", "MetricName": "val_loss"}),
        (["--objective", "eval_loss"], {"Type": "Minimize", "MetricName": "eval_loss"}),
        (["--objective", "val_accuracy"], {"Type": "Maximize", "MetricName": "val_accuracy"}),
        (["--objective", "val_loss", "--objective-type", "Maximize"], {"Type": "Maximize", "MetricName": "val_loss"}),
    ],
)
def test_tuning_objective_type_follows_the_metric(aws, role, capsys, extra, expected):
    argv = [
        "tune", "--role", role, "--image", IMAGE, "--job-name", "tune-obj", "--train", f"{DATA}/train",
        "--output-path", "s3://byoc-out/tuning", "--range", "learning_rate=continuous:0.0001:0.1:log", *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    assert f"(objective {expected['MetricName']}, {expected['Type']})" in capsys.readouterr().out
    [request] = aws.recorded("SageMaker.CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == expected


def test_hyperband_early_stopping_and_warm_start_reach_the_api(aws, role):
    argv = [
        "tune", "--role", role, "--image", IMAGE, "--job-name", "tune-hb", "--train", f"{DATA}/train",
        "--output-path", "s3://byoc-out/tuning", "--hp", "epochs=30", "--strategy", "Hyperband",
        "--hyperband-min-resource", "3", "--range", "learning_rate=continuous:0.0001:0.1:log",
        "--warm-start-from", "tune-cifar", "--warm-start-type", "TransferLearning",
    ]  # fmt: skip
    assert main(argv) == 0
    [request] = aws.recorded("SageMaker.CreateHyperParameterTuningJob")
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband"
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 3}}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "tune-cifar"}],
        "WarmStartType": "TransferLearning",
    }
    bayesian = [
        "tune", "--role", role, "--image", IMAGE, "--job-name", "tune-auto", "--train", f"{DATA}/train",
        "--output-path", "s3://byoc-out/tuning", "--early-stopping", "Auto",
        "--range", "learning_rate=continuous:0.0001:0.1:log",
    ]  # fmt: skip
    assert main(bayesian) == 0
    auto = aws.recorded("SageMaker.CreateHyperParameterTuningJob")[-1]
    assert auto["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"
