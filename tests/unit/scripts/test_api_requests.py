from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.config import ConfigError
from scripts.launch import api_requests as rq
from train_container.metrics import METRIC_DEFINITIONS

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1"
ROLE = "arn:aws:iam::123456789012:role/r"


def spec(**overrides) -> rq.TrainingSpec:
    values = dict(
        image=IMAGE, role_arn=ROLE, instance_type="ml.m5.xlarge", instance_count=1, volume_size_gb=30,
        channels={"train": "s3://b-1/train"}, input_mode="File", output_path="s3://b-1/out",
        hyperparameters={"epochs": "3"}, max_run_seconds=600,
    )  # fmt: skip
    values.update(overrides)
    return rq.TrainingSpec(**values)


def test_minimal_training_request_is_exact():
    assert rq.training_job_request("job-1", spec(), {}) == {
        "TrainingJobName": "job-1",
        "HyperParameters": {"epochs": "3"},
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://b-1/train",
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
                "ContentType": "application/x-tfrecord",
                "CompressionType": "None",
                "InputMode": "File",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://b-1/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "EnableManagedSpotTraining": False,
    }


def test_metric_definitions_are_copies_not_the_shared_tuple():
    request = rq.training_job_request("j", spec(), {})
    request["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] = "mutated"
    assert METRIC_DEFINITIONS[0]["Name"] != "mutated"


@pytest.mark.parametrize(
    ("distribution", "processes", "options", "expected"),
    [
        ("single", None, None, {"distribution": "single"}),
        ("mirrored", None, None, {"distribution": "mirrored"}),
        ("multiworker", None, None, {"distribution": "multiworker"}),
        ("parameter_server", None, None, {"distribution": "parameter_server"}),
        ("horovod", None, None, {"distribution": "horovod"}),
        (
            "horovod", 4, "-verbose",
            {"distribution": "horovod", "processes_per_host": "4", "custom_mpi_options": "-verbose"},
        ),
    ],
)  # fmt: skip
def test_distribution_hyperparameters(distribution, processes, options, expected):
    values = rq.distribution_hyperparameters(distribution, processes, options)
    assert values == expected
    # What the launcher sends, the container's own contract accepts.
    assert rq.check_hyperparameters(values) == values


def test_distribution_errors():
    with pytest.raises(ConfigError, match="unknown distribution 'auto'"):
        rq.distribution_hyperparameters("auto", None, None)
    with pytest.raises(ConfigError, match="--custom-mpi-options only applies"):
        rq.distribution_hyperparameters("mirrored", None, "-x A=1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_mode": "Stream"}, "unknown input mode 'Stream'"),
        ({"channels": {"validation": "s3://b-1/v"}}, "the train channel is required"),
        ({"channels": {"train": "s3://b-1/t", "test": "s3://b-1/x"}}, "unknown channel"),
        ({"spot": True, "max_wait_seconds": 900}, "needs --checkpoint-s3"),
        ({"instance_count": 0}, "must be positive"),
    ],
)
def test_training_spec_errors(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        rq.check_training_spec(spec(**overrides))


@pytest.mark.parametrize("field", ["instance_count", "volume_size_gb", "max_run_seconds"])
def test_training_and_processing_share_the_resource_check(field):
    from scripts.launch import processing

    with pytest.raises(ConfigError, match="instance count, volume size and max run time must be positive"):
        rq.check_training_spec(spec(**{field: 0}))
    resources = processing.Resources(IMAGE, ROLE, **{field: 0})
    prepare = processing.prepare_data_spec(resources, "s3://b-1/raw", "s3://b-1/data")
    with pytest.raises(ConfigError, match="instance count, volume size and max run time must be positive"):
        processing.processing_job_request("p", prepare, {})


def test_spot_with_checkpoints():
    request = rq.training_job_request(
        "j", rq.check_training_spec(spec(spot=True, max_wait_seconds=900, checkpoint_s3_uri="s3://b-1/c")), {}
    )
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 900}
    assert request["CheckpointConfig"] == {"S3Uri": "s3://b-1/c", "LocalPath": "/opt/ml/checkpoints"}
    assert request["EnableManagedSpotTraining"] is True


def test_name_from_base_is_sdk_like():
    now = dt.datetime(2026, 11, 22, 5, 30, 1, 123456)
    assert rq.name_from_base("byoc-tf", now) == "byoc-tf-2026-11-22-05-30-01-123"
    assert rq.name_from_base("byoc-tf", now, max_length=32) == "byoc-tf-261122-053001"


@given(st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,80}[a-zA-Z0-9])?", fullmatch=True), st.sampled_from([32, 63]))
def test_generated_names_are_valid_sagemaker_names(base, limit):
    name = rq.name_from_base(base, max_length=limit)
    assert len(name) <= limit
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name)


def test_parse_ranges():
    assert rq.parse_range("learning_rate=continuous:0.0001:0.1:log") == rq.ParameterRange(
        "learning_rate", "continuous", ("0.0001", "0.1"), "log"
    )
    assert rq.parse_range("batch_size=integer:32:256").scaling == "auto"
    assert rq.parse_range("optimizer=categorical:adam,sgd").values == ("adam", "sgd")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate", "malformed --range"),
        ("learning_rate=uniform:0:1", "malformed --range"),
        ("lr=continuous:0.1:1", "not a training hyperparameter"),
        ("batch_size=integer:32.5:64", "bounds must be ints"),
        ("batch_size=integer:64:32", "min must be below max"),
        ("learning_rate=continuous:0.1:1:cubic", "malformed --range"),
    ],
)
def test_range_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        rq.parse_range(text)


def tuning(*ranges: str, **overrides) -> rq.TuningSpec:
    return rq.TuningSpec(ranges=tuple(rq.parse_range(r) for r in ranges or ["batch_size=integer:32:256"]), **overrides)


def test_tuning_request_leaves_out_empty_range_kinds_and_tuned_statics():
    request = rq.tuning_job_request(
        "t", spec(hyperparameters={"epochs": "3", "batch_size": "64"}),
        tuning(max_jobs=4, strategy="Random"), {"Team": "ml"},
    )  # fmt: skip
    config = request["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"] == {
        "IntegerParameterRanges": [{"Name": "batch_size", "MinValue": "32", "MaxValue": "256", "ScalingType": "Auto"}]
    }
    assert config["Strategy"] == "Random"
    assert request["TrainingJobDefinition"]["StaticHyperParameters"] == {"epochs": "3"}
    assert request["Tags"] == [{"Key": "Team", "Value": "ml"}]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ranges": ()}, "at least one --range"),
        ({"strategy": "Genetic"}, "unknown tuning strategy"),
        ({"early_stopping": "Sometimes"}, "unknown early stopping"),
        ({"objective_type": "Maximise"}, "unknown objective type"),
        ({"warm_start_parents": ("p-1",), "warm_start_type": "Partial"}, "unknown warm start type"),
    ],
)
def test_tuning_errors(overrides, message):
    values = {"ranges": (rq.parse_range("batch_size=integer:32:256"),), **overrides}
    with pytest.raises(ConfigError, match=message):
        rq.tuning_job_request("t", spec(), rq.TuningSpec(**values), {})


@pytest.mark.parametrize(
    ("metric", "override", "expected"),
    [
        ("val_accuracy", None, "Maximize"),
        ("eval_accuracy", None, "Maximize"),
        ("val_loss", None, "Minimize"),
        ("loss", None, "Minimize"),
        ("eval_loss", None, "Minimize"),
        ("validation:error", None, "Minimize"),
        ("val_loss", "Maximize", "Maximize"),  # the user's explicit choice wins
        ("val_accuracy", "Minimize", "Minimize"),
    ],
)
def test_objective_type_follows_the_metric_unless_overridden(metric, override, expected):
    assert rq.objective_type(metric, override) == expected
    request = rq.tuning_job_request("t", spec(), tuning(objective=metric, objective_type=override), {})
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": expected, "MetricName": metric,
    }  # fmt: skip


def test_tuning_early_stopping_warm_start_and_hyperband_config():
    request = rq.tuning_job_request(
        "t", spec(hyperparameters={"epochs": "30"}),
        tuning(
            "learning_rate=continuous:0.0001:0.1:log", strategy="Hyperband", hyperband_min_resource=2,
            hyperband_max_resource=30, warm_start_parents=("parent-a", "parent-b"), warm_start_type="TransferLearning",
        ),
        {},
    )  # fmt: skip
    config = request["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 30}}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "parent-a"}, {"HyperParameterTuningJobName": "parent-b"}
        ],
        "WarmStartType": "TransferLearning",
    }  # fmt: skip
    auto = rq.tuning_job_request("t", spec(), tuning(early_stopping="Auto"), {})
    assert auto["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"
    assert "WarmStartConfig" not in auto and "StrategyConfig" not in auto["HyperParameterTuningJobConfig"]


def test_grid_leaves_the_job_count_to_the_grid():
    grid = rq.tuning_job_request("t", spec(), tuning("optimizer=categorical:adam,sgd", strategy="Grid"), {})
    assert grid["HyperParameterTuningJobConfig"]["ResourceLimits"] == {"MaxParallelTrainingJobs": 2}
    other = rq.tuning_job_request("t", spec(), tuning(), {})
    assert other["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": rq.DEFAULT_MAX_JOBS, "MaxParallelTrainingJobs": 2,
    }  # fmt: skip


def test_serving_environment_uses_the_serving_contract_names():
    env = rq.serving_environment(2, 90, True, 16, 500, {"BYOC_TOP_K": "3"})
    assert env == {
        "BYOC_TOP_K": "3",
        "SAGEMAKER_GUNICORN_WORKERS": "2",
        "SAGEMAKER_GUNICORN_TIMEOUT_SECONDS": "90",
        "SAGEMAKER_TFS_ENABLE_BATCHING": "true",
        "SAGEMAKER_TFS_MAX_BATCH_SIZE": "16",
        "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": "500",
    }
    assert rq.serving_environment(None, None, False, None, None, {}) == {}


def test_serving_environment_errors():
    with pytest.raises(ConfigError, match="need --enable-batching"):
        rq.serving_environment(None, None, False, 16, None, {})
    with pytest.raises(ConfigError, match="SAGEMAKER_GUNICORN_WORKERS"):
        rq.serving_environment(1000, None, False, None, None, {})


def test_model_and_endpoint_requests():
    assert rq.model_request("m", IMAGE, "s3://b-1/m.tar.gz", ROLE, {}) == {
        "ModelName": "m",
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b-1/m.tar.gz", "Mode": "SingleModel"},
        "ExecutionRoleArn": ROLE,
    }
    assert rq.endpoint_request("e", "c", {}) == {"EndpointName": "e", "EndpointConfigName": "c"}
    with pytest.raises(ConfigError, match="at least 1"):
        rq.endpoint_config_request("c", "m", "ml.m5.xlarge", 0)


def transform_spec(**overrides) -> rq.TransformSpec:
    values = dict(
        model_name="m", input_s3_uri="s3://b-1/in", output_s3_uri="s3://b-1/out",
        content_type="application/x-tfrecord", split_type="TFRecord", batch_strategy="MultiRecord",
        max_payload_mb=6, max_concurrent_transforms=4, instance_type="ml.m5.xlarge", instance_count=1,
    )  # fmt: skip
    values.update(overrides)
    return rq.TransformSpec(**values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"split_type": "RecordIO"}, "unknown split type"),
        ({"batch_strategy": "Multi"}, "unknown batch strategy"),
        ({"assemble_with": "Newline"}, "unknown assemble-with"),
        ({"split_type": "None"}, "MultiRecord needs --split-type"),
    ],
)
def test_transform_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        rq.transform_job_request("t", transform_spec(**overrides), {})


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.png", b"\x89PNG\r\n\x1a\n....", "application/x-image"),
        ("a.jpg", b"\xff\xd8\xff\xe0", "application/x-image"),
        ("renamed.bin", b"\xff\xd8\xff\xe0", "application/x-image"),
        ("eval-00000-of-00016.tfrecord", b"\x10\x00\x00\x00", "application/x-tfrecord"),
    ],
)
def test_content_type_for(name, head, expected):
    assert rq.content_type_for(name, head) == expected


def test_content_type_refuses_the_unknown():
    with pytest.raises(ConfigError, match="cannot tell the content type"):
        rq.content_type_for("a.png", b"GIF89a")
