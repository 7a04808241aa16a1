"""Every request builder's output through botocore's SageMaker service model, and each API rule failing."""

from __future__ import annotations

import copy

import pytest
from botocore.validate import ParamValidator

from scripts.launch import api_requests as rq
from scripts.launch import processing
from scripts.launch import validation as v
from scripts.launch.validation import RequestError, check_request
from train_container.hyperparameters import DISTRIBUTIONS

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:0.1.0-cpu-abc"
SERVE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-inference:0.1.0-cpu-abc"
ROLE = "arn:aws:iam::123456789012:role/byoc"


def spec(**overrides) -> rq.TrainingSpec:
    values = dict(
        image=IMAGE, role_arn=ROLE, instance_type="ml.p3.8xlarge", instance_count=2, volume_size_gb=30,
        channels={"train": "s3://b-1/train", "validation": "s3://b-1/validation", "eval": "s3://b-1/eval"},
        input_mode="File", output_path="s3://b-1/out", hyperparameters={"epochs": "3"}, max_run_seconds=3600,
    )  # fmt: skip
    values.update(overrides)
    return rq.check_training_spec(rq.TrainingSpec(**values))


def tuning(*ranges: str, **overrides) -> rq.TuningSpec:
    return rq.TuningSpec(ranges=tuple(rq.parse_range(r) for r in ranges or ["batch_size=integer:32:256"]), **overrides)


def transform(**overrides) -> dict:
    values = dict(
        model_name="m", input_s3_uri="s3://b-1/in", output_s3_uri="s3://b-1/out",
        content_type="application/x-tfrecord", split_type="TFRecord", batch_strategy="MultiRecord",
        max_payload_mb=6, max_concurrent_transforms=4, instance_type="ml.c5.xlarge", instance_count=2,
    )  # fmt: skip
    values.update(overrides)
    return rq.transform_job_request("bt-1", rq.TransformSpec(**values), {"Project": "cifar10"})


def training_requests() -> dict[str, dict]:
    requests = {
        f"distribution {d}": rq.training_job_request(
            "job-1", spec(hyperparameters=rq.distribution_hyperparameters(d, None, None)), {}
        )
        for d in DISTRIBUTIONS
        if d != "auto"
    }
    requests["horovod spot pipe"] = rq.training_job_request(
        "hvd-job",
        spec(
            input_mode="Pipe", spot=True, max_wait_seconds=7200, checkpoint_s3_uri="s3://b-1/ckpt",
            hyperparameters=rq.distribution_hyperparameters("horovod", 4, "-x NCCL_DEBUG=INFO"),
        ),
        {"Project": "cifar10"},
    )  # fmt: skip
    requests["fastfile"] = rq.training_job_request("ff", spec(input_mode="FastFile"), {})
    return requests


def tuning_requests() -> dict[str, dict]:
    base = spec(hyperparameters={"epochs": "20", "learning_rate": "0.01"})
    return {
        "bayesian": rq.tuning_job_request(
            "tune-1", base,
            tuning("learning_rate=continuous:0.0001:0.1:log", "batch_size=integer:32:256",
                   "optimizer=categorical:adam,sgd", max_jobs=8),
            {"Team": "ml"},
        ),
        "random reverse-log": rq.tuning_job_request(
            "tune-2", base, tuning("momentum=continuous:0.5:0.999:reverse-log", strategy="Random"), {}
        ),
        "hyperband from epochs": rq.tuning_job_request(
            "tune-3", base, tuning("learning_rate=continuous:0.001:0.1", strategy="Hyperband"), {}
        ),
        "hyperband min/max": rq.tuning_job_request(
            "tune-4", base,
            tuning("learning_rate=continuous:0.001:0.1", strategy="Hyperband", hyperband_min_resource=1,
                   hyperband_max_resource=20),
            {},
        ),
        "grid": rq.tuning_job_request("tune-5", base, tuning("optimizer=categorical:adam,sgd", strategy="Grid"), {}),
        "early stopping + warm start": rq.tuning_job_request(
            "tune-6", base,
            tuning(objective="val_loss", early_stopping="Auto", warm_start_parents=("tune-1", "tune-2")),
            {},
        ),
    }  # fmt: skip


def hosting_requests() -> dict[str, tuple[str, dict]]:
    env = rq.serving_environment(2, 90, True, 16, 500, {})
    return {
        "model": ("CreateModel", rq.model_request("m", SERVE, "s3://b-1/m/model.tar.gz", ROLE, env)),
        "endpoint config": ("CreateEndpointConfig", rq.endpoint_config_request("c", "m", "ml.c5.xlarge", 2)),
        "endpoint": ("CreateEndpoint", rq.endpoint_request("e", "c", {"Project": "cifar10"})),
        "model from package": (
            "CreateModel",
            rq.model_from_package_request(
                "m", "arn:aws:sagemaker:us-east-1:123456789012:model-package/byoc-cifar10/3", ROLE, env
            ),
        ),
        "model package group": ("CreateModelPackageGroup", rq.model_package_group_request("byoc-cifar10", "d", {})),
        "model package": (
            "CreateModelPackage",
            rq.model_package_request(
                "byoc-cifar10", SERVE, "s3://b-1/m/model.tar.gz", "PendingManualApproval",
                "s3://b-1/eval/evaluation.json", "cifar10 resnet",
            ),
        ),
        "transform tfrecord": ("CreateTransformJob", transform()),
        "transform images (seed 004)": (
            "CreateTransformJob",
            transform(content_type="application/x-image", split_type="None", batch_strategy="SingleRecord",
                      max_payload_mb=1, max_concurrent_transforms=32, accept="application/json",
                      assemble_with="None"),
        ),
    }  # fmt: skip


def processing_requests() -> dict[str, tuple[str, dict]]:
    resources = processing.Resources(IMAGE, ROLE, "ml.c5.2xlarge", 1, 50, 7200)
    specs = {
        "prepare folder": processing.prepare_data_spec(
            resources, "s3://b-1/raw/digits", "s3://b-1/data", "folder", 8, 4096, 0.1, 7
        ),
        "prepare cifar10": processing.prepare_data_spec(
            resources, "s3://b-1/raw/cifar-10-python.tar.gz", "s3://b-1/data", "cifar10"
        ),
        "evaluate": processing.evaluation_spec(resources, "s3://b-1/bt-out", "s3://b-1/data/eval", "s3://b-1/eval"),
    }
    return {
        f"process {k}": ("CreateProcessingJob", processing.processing_job_request("proc-1", spec, {"Team": "ml"}))
        for k, spec in specs.items()
    }


ALL_REQUESTS = {
    **processing_requests(),
    **{f"train {k}": ("CreateTrainingJob", r) for k, r in training_requests().items()},
    **{f"tune {k}": ("CreateHyperParameterTuningJob", r) for k, r in tuning_requests().items()},
    **hosting_requests(),
}


@pytest.mark.parametrize("case", sorted(ALL_REQUESTS))
def test_every_builder_output_passes_the_service_model(case):
    operation, request = ALL_REQUESTS[case]
    assert check_request(operation, request) == request


def test_no_pattern_our_requests_meet_goes_unchecked():
    for operation, request in ALL_REQUESTS.values():
        check_request(operation, request)
    assert v.unreadable_patterns() == frozenset()


def test_botocore_alone_checks_required_types_and_minimums_but_not_enums_patterns_or_maximums():
    """Why the module walks the shape itself: these all pass botocore's ParamValidator."""
    shape = v.input_shape("CreateTrainingJob")
    for mutate in (
        lambda r: r["AlgorithmSpecification"].update(TrainingInputMode="Stream"),  # enum
        lambda r: r.update(TrainingJobName="bad_name"),  # pattern
        lambda r: r["StoppingCondition"].update(MaxPendingTimeInSeconds=10**9),  # maximum
    ):
        request = copy.deepcopy(ALL_REQUESTS["train distribution single"][1])
        mutate(request)
        assert not ParamValidator().validate(request, shape).has_errors()
        with pytest.raises(RequestError):
            check_request("CreateTrainingJob", request)


def _mutated(case: str, mutate) -> tuple[str, dict]:
    operation, request = ALL_REQUESTS[case]
    request = copy.deepcopy(request)
    mutate(request)
    return operation, request


def _config(request: dict) -> dict:
    return request["HyperParameterTuningJobConfig"]


SHAPE_VIOLATIONS = {
    "missing required": (
        "train distribution single", lambda r: r.pop("RoleArn"), 'Missing required parameter in input: "RoleArn"'
    ),
    "unknown member": (
        "endpoint", lambda r: r.update(Endpoint="x"), 'Unknown parameter in input: "Endpoint"'
    ),
    "wrong type": (
        "transform tfrecord", lambda r: r.update(MaxPayloadInMB="6"), "Invalid type for parameter MaxPayloadInMB"
    ),
    "below minimum": (
        "endpoint config", lambda r: r["ProductionVariants"][0].update(InitialInstanceCount=0),
        "ProductionVariants[0].InitialInstanceCount, value: 0, valid min value: 1",
    ),
    "enum": (
        "train distribution single", lambda r: r["AlgorithmSpecification"].update(TrainingInputMode="Stream"),
        "AlgorithmSpecification.TrainingInputMode 'Stream' is not one of",
    ),
    "instance type enum": (
        "transform tfrecord", lambda r: r["TransformResources"].update(InstanceType="ml.t2.medium"),
        "TransformResources.InstanceType 'ml.t2.medium' is not one of",
    ),
    "pattern": (
        "train distribution single", lambda r: r.update(TrainingJobName="bad_name"),
        "TrainingJobName 'bad_name' does not match the API's pattern",
    ),
    "S3 pattern": (
        "model", lambda r: r["PrimaryContainer"].update(ModelDataUrl="ftp://b-1/m.tar.gz"),
        "PrimaryContainer.ModelDataUrl 'ftp://b-1/m.tar.gz' does not match",
    ),
    "maximum length": (
        "endpoint", lambda r: r.update(EndpointName="e" * 64), "EndpointName is 64 characters long, at most 63",
    ),
    "maximum value": (
        "endpoint config", lambda r: r["ProductionVariants"][0].update(VolumeSizeInGB=1024),
        "ProductionVariants[0].VolumeSizeInGB is 1024, at most 512 allowed",
    ),
    "package ARN pattern": (
        "model from package", lambda r: r["PrimaryContainer"].update(ModelPackageName="not an arn!"),
        "PrimaryContainer.ModelPackageName 'not an arn!' does not match",
    ),
    "approval enum": (
        "model package", lambda r: r.update(ModelApprovalStatus="Maybe"), "ModelApprovalStatus 'Maybe' is not one of"
    ),
    "list maximum": (
        "tune early stopping + warm start",
        lambda r: r["WarmStartConfig"].update(
            ParentHyperParameterTuningJobs=[{"HyperParameterTuningJobName": f"p-{i}"} for i in range(6)]
        ),
        "WarmStartConfig.ParentHyperParameterTuningJobs has 6 items, at most 5 allowed",
    ),
}  # fmt: skip

CROSS_FIELD_VIOLATIONS = {
    "payload over 100 MB": (
        "transform tfrecord", lambda r: r.update(MaxPayloadInMB=101, MaxConcurrentTransforms=1),
        "MaxPayloadInMB is 101, at most 100 allowed (--max-payload)",
    ),
    "payload x concurrency": (
        "transform tfrecord", lambda r: r.update(MaxPayloadInMB=50, MaxConcurrentTransforms=4),
        "MaxPayloadInMB x MaxConcurrentTransforms = 50 x 4 = 200 MB, at most 100 allowed "
        "(--max-payload x --max-concurrent)",
    ),
    "payload default x concurrency": (
        "transform tfrecord", lambda r: (r.pop("MaxPayloadInMB"), r.update(MaxConcurrentTransforms=17)),
        "= 6 x 17 = 102 MB",
    ),
    "spot without max wait": (
        "train horovod spot pipe", lambda r: r["StoppingCondition"].pop("MaxWaitTimeInSeconds"),
        "StoppingCondition.MaxWaitTimeInSeconds is required with managed spot (--max-wait)",
    ),
    "spot wait below max run": (
        "train horovod spot pipe", lambda r: r["StoppingCondition"].update(MaxWaitTimeInSeconds=1800),
        "MaxWaitTimeInSeconds (1800) must be >= MaxRuntimeInSeconds (3600) with managed spot",
    ),
    "max wait without spot": (
        "train distribution single", lambda r: r["StoppingCondition"].update(MaxWaitTimeInSeconds=7200),
        "MaxWaitTimeInSeconds only applies with EnableManagedSpotTraining (--spot)",
    ),
    "tuning definition spot wait": (
        "tune bayesian",
        lambda r: r["TrainingJobDefinition"].update(EnableManagedSpotTraining=True),
        "TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds is required with managed spot",
    ),
    "hyperband without the resource hyperparameter": (
        "tune hyperband from epochs", lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].pop("epochs"),
        "Strategy Hyperband needs HyperbandStrategyConfig.MaxResource or a static resource hyperparameter",
    ),
    "hyperband with early stopping": (
        "tune hyperband from epochs", lambda r: _config(r).update(TrainingJobEarlyStoppingType="Auto"),
        "TrainingJobEarlyStoppingType must be Off with Strategy Hyperband",
    ),
    "hyperband config without hyperband": (
        "tune hyperband min/max", lambda r: _config(r).update(Strategy="Bayesian"),
        "StrategyConfig.HyperbandStrategyConfig is only allowed with Strategy Hyperband",
    ),
    "hyperband min above max": (
        "tune hyperband min/max",
        lambda r: _config(r)["StrategyConfig"]["HyperbandStrategyConfig"].update(MinResource=25),
        "HyperbandStrategyConfig.MinResource (25) must be <= MaxResource (20)",
    ),
    "hyperband resource too large": (
        "tune hyperband from epochs",
        lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(epochs="20001"),
        "Hyperband's resource (MaxResource / epochs) is 20001, at most 20000",
    ),
    "grid with a numeric range": (
        "tune bayesian", lambda r: _config(r).update(Strategy="Grid"),
        "Strategy Grid searches categorical ranges only; ParameterRanges has ContinuousParameterRanges, "
        "IntegerParameterRanges",
    ),
    "logarithmic from zero": (
        "tune bayesian",
        lambda r: _config(r)["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue="0"),
        "ParameterRanges.ContinuousParameterRanges[0]: ScalingType Logarithmic needs MinValue > 0",
    ),
    "reverse logarithmic up to one": (
        "tune random reverse-log",
        lambda r: _config(r)["ParameterRanges"]["ContinuousParameterRanges"][0].update(MaxValue="1.5"),
        "ScalingType ReverseLogarithmic needs 0 <= MinValue and MaxValue < 1",
    ),
    "reverse logarithmic integer": (
        "tune bayesian",
        lambda r: _config(r)["ParameterRanges"]["IntegerParameterRanges"][0].update(ScalingType="ReverseLogarithmic"),
        "IntegerParameterRanges[0]: ScalingType ReverseLogarithmic applies to continuous ranges only",
    ),
    "range min above max": (
        "tune bayesian",
        lambda r: _config(r)["ParameterRanges"]["IntegerParameterRanges"][0].update(MinValue="512"),
        "IntegerParameterRanges[0]: MinValue (512) must not exceed MaxValue (256)",
    ),
    "objective metric not emitted": (
        "tune bayesian",
        lambda r: _config(r)["HyperParameterTuningJobObjective"].update(MetricName="f1"),
        "HyperParameterTuningJobObjective.MetricName 'f1' is not one of "
        "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions",
    ),
    "more parallel than total": (
        "tune bayesian", lambda r: _config(r)["ResourceLimits"].update(MaxParallelTrainingJobs=9),
        "ResourceLimits.MaxParallelTrainingJobs (9) must be <= MaxNumberOfTrainingJobs (8)",
    ),
    "processing input outside /opt/ml/processing": (
        "process evaluate", lambda r: r["ProcessingInputs"][1]["S3Input"].update(LocalPath="/data/records"),
        "ProcessingInputs[1].S3Input.LocalPath '/data/records' must begin with /opt/ml/processing/",
    ),
    "processing output without a local path": (
        "process prepare folder", lambda r: r["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].pop("LocalPath"),
        "ProcessingOutputConfig.Outputs[0].S3Output.LocalPath None must begin with /opt/ml/processing/",
    ),
    "processing inputs sharing a name": (
        "process evaluate", lambda r: r["ProcessingInputs"][1].update(InputName="predictions"),
        "ProcessingInputs: InputName predictions used twice; names must be unique",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SHAPE_VIOLATIONS) + sorted(CROSS_FIELD_VIOLATIONS))
def test_each_violation_is_one_line_naming_the_field(case):
    base, mutate, message = {**SHAPE_VIOLATIONS, **CROSS_FIELD_VIOLATIONS}[case]
    operation, request = _mutated(base, mutate)
    with pytest.raises(RequestError) as raised:
        check_request(operation, request)
    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(f"{operation}: ")
    assert message in text


def test_every_cross_field_rule_has_a_failing_case():
    """Each rule function is hit by at least one case above (a rule without one could be dead code)."""
    hit = set()
    for base, mutate, _ in CROSS_FIELD_VIOLATIONS.values():
        operation, request = _mutated(base, mutate)
        for rule in v.CROSS_FIELD_RULES[operation]:
            if rule(request):
                hit.add(rule.__name__)
    assert hit == {rule.__name__ for rules in v.CROSS_FIELD_RULES.values() for rule in rules}
