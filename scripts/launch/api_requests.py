"""Pure builders: validated arguments in, SageMaker API request dicts (the wire shape) out.

Each function returns exactly the body of one SageMaker API call (CreateTrainingJob, CreateModel, ...), so
tests compare it field by field and `sagemaker_calls` only has to send it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from scripts.config import ConfigError
from train_container import contract as training_contract
from train_container import hyperparameters as training_hyperparameters
from train_container.metrics import METRIC_DEFINITIONS, OBJECTIVE_METRIC

TFRECORD_CONTENT_TYPE = "application/x-tfrecord"
CHANNELS = (
    training_contract.TRAIN_CHANNEL,
    training_contract.VALIDATION_CHANNEL,
    training_contract.EVAL_CHANNEL,
)
INPUT_MODES = training_contract.INPUT_MODES
DISTRIBUTIONS = tuple(d for d in training_hyperparameters.DISTRIBUTIONS if d != "auto")
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
SPLIT_TYPES = ("TFRecord", "Line", "None")
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
ASSEMBLE_WITH = ("Line", "None")
TUNING_STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
RANGE_KINDS = ("continuous", "integer", "categorical")
SCALINGS = {"auto": "Auto", "linear": "Linear", "log": "Logarithmic", "reverse-log": "ReverseLogarithmic"}


def name_from_base(base: str, now: dt.datetime | None = None, max_length: int = 63) -> str:
    """`<base>-YYYY-mm-dd-HH-MM-SS-mmm`, as the SageMaker SDK names jobs.

    Tuning job names are limited to 32 characters, so short limits get a `yymmdd-HHMMSS` stamp."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if max_length >= 48:
        stamp = now.strftime("%Y-%m-%d-%H-%M-%S-") + f"{now.microsecond // 1000:03d}"
    else:
        stamp = now.strftime("%y%m%d-%H%M%S")
    return f"{base[: max_length - len(stamp) - 1].rstrip('-')}-{stamp}"


def tags_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def distribution_hyperparameters(
    distribution: str, processes_per_host: int | None, custom_mpi_options: str | None
) -> dict[str, str]:
    """The hyperparameters the training contract reads to pick its strategy (train_container.contract)."""
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(
            f"unknown distribution {distribution!r} (expected one of {', '.join(DISTRIBUTIONS)})"
        )
    if processes_per_host is not None and distribution != "horovod":
        raise ConfigError("--processes-per-host only applies to --distribution horovod")
    if custom_mpi_options and distribution != "horovod":
        raise ConfigError("--custom-mpi-options only applies to --distribution horovod")
    values = {"distribution": distribution}
    if processes_per_host is not None:
        values["processes_per_host"] = str(processes_per_host)
    if custom_mpi_options:
        values["custom_mpi_options"] = custom_mpi_options
    return values


def check_hyperparameters(values: Mapping[str, str]) -> dict[str, str]:
    """Reject what the container would reject, before paying for an instance to find out."""
    from train_container.errors import ConfigError as TrainingConfigError

    try:
        training_hyperparameters.parse_hyperparameters(values)
    except TrainingConfigError as error:
        raise ConfigError(str(error)) from error
    return dict(values)


@dataclass(frozen=True)
class TrainingSpec:
    image: str
    role_arn: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    channels: Mapping[str, str]  # channel name -> S3 prefix
    input_mode: str
    output_path: str
    hyperparameters: Mapping[str, str]  # user hyperparameters + distribution ones, all strings
    max_run_seconds: int
    checkpoint_s3_uri: str | None = None
    spot: bool = False
    max_wait_seconds: int | None = None
    environment: Mapping[str, str] | None = None


def check_resources(instance_count: int, volume_size_gb: int, max_run_seconds: int) -> None:
    """Instances, their volume and the run time of a training or processing job."""
    if instance_count < 1 or volume_size_gb < 1 or max_run_seconds < 1:
        raise ConfigError("instance count, volume size and max run time must be positive")


def check_training_spec(spec: TrainingSpec) -> TrainingSpec:
    if spec.input_mode not in INPUT_MODES:
        raise ConfigError(
            f"unknown input mode {spec.input_mode!r} (expected one of {', '.join(INPUT_MODES)})"
        )
    if training_contract.TRAIN_CHANNEL not in spec.channels:
        raise ConfigError("the train channel is required (--train s3://...)")
    unknown = set(spec.channels) - set(CHANNELS)
    if unknown:
        raise ConfigError(f"unknown channel(s) {', '.join(sorted(unknown))} (expected {', '.join(CHANNELS)})")
    check_resources(spec.instance_count, spec.volume_size_gb, spec.max_run_seconds)
    # Our policy, not the API's (its spot rules are in scripts.launch.validation): without checkpoints an
    # interrupted spot job starts over from epoch 1.
    if spec.spot and not spec.checkpoint_s3_uri:
        raise ConfigError("managed spot needs --checkpoint-s3 so an interrupted job resumes")
    return spec


def _channel(name: str, s3_uri: str, input_mode: str) -> dict:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": s3_uri,
                # Each host gets its own subset of shards (the reader also shards per worker).
                "S3DataDistributionType": "ShardedByS3Key"
                if name == training_contract.TRAIN_CHANNEL
                else "FullyReplicated",
            }
        },
        "ContentType": TFRECORD_CONTENT_TYPE,
        "CompressionType": "None",
        "InputMode": input_mode,
    }


def _training_definition(spec: TrainingSpec) -> dict:
    """The parts shared by CreateTrainingJob and a tuning job's TrainingJobDefinition."""
    definition = {
        "AlgorithmSpecification": {
            "TrainingImage": spec.image,
            "TrainingInputMode": spec.input_mode,
            "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
        },
        "RoleArn": spec.role_arn,
        "InputDataConfig": [_channel(name, uri, spec.input_mode) for name, uri in spec.channels.items()],
        "OutputDataConfig": {"S3OutputPath": spec.output_path},
        "ResourceConfig": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
            "VolumeSizeInGB": spec.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_run_seconds},
        "EnableManagedSpotTraining": spec.spot,
    }
    if spec.max_wait_seconds is not None:
        definition["StoppingCondition"]["MaxWaitTimeInSeconds"] = spec.max_wait_seconds
    if spec.checkpoint_s3_uri:
        definition["CheckpointConfig"] = {"S3Uri": spec.checkpoint_s3_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}
    return definition


def training_job_request(name: str, spec: TrainingSpec, tags: Mapping[str, str]) -> dict:
    request = {"TrainingJobName": name, "HyperParameters": dict(spec.hyperparameters)}
    request.update(_training_definition(spec))
    if spec.environment:
        request["Environment"] = dict(spec.environment)
    if tags:
        request["Tags"] = tags_list(tags)
    return request


@dataclass(frozen=True)
class ParameterRange:
    name: str
    kind: str  # continuous | integer | categorical
    values: tuple[str, ...]  # (min, max) or the categories
    scaling: str = "auto"


def parse_range(text: str) -> ParameterRange:
    """NAME=continuous:MIN:MAX[:SCALE] | NAME=integer:MIN:MAX[:SCALE] | NAME=categorical:A,B,...

    e.g. learning_rate=continuous:0.0001:0.1:log, batch_size=integer:32:256, optimizer=categorical:adam,sgd"""
    name, sep, rest = text.partition("=")
    kind, _, bounds = rest.partition(":")
    if not sep or kind not in RANGE_KINDS or not bounds:
        raise ConfigError(f"malformed --range {text!r} (expected name=continuous|integer|categorical:...)")
    if name not in training_hyperparameters.HYPERPARAMETER_NAMES:
        raise ConfigError(f"--range {name!r} is not a training hyperparameter")
    if kind == "categorical":
        return ParameterRange(name, kind, tuple(bounds.split(",")))
    parts = bounds.split(":")
    scaling = parts[2] if len(parts) == 3 else "auto"
    if len(parts) not in (2, 3) or scaling not in SCALINGS:
        raise ConfigError(f"malformed --range {text!r} (expected {kind}:min:max[:{'|'.join(SCALINGS)}])")
    cast = float if kind == "continuous" else int
    try:
        low, high = cast(parts[0]), cast(parts[1])
    except ValueError as error:
        raise ConfigError(f"malformed --range {text!r}: bounds must be {cast.__name__}s") from error
    if not low < high:
        raise ConfigError(f"--range {name}: min must be below max")
    return ParameterRange(name, kind, (parts[0], parts[1]), scaling)


def parameter_ranges(ranges: list[ParameterRange]) -> dict:
    result = {"ContinuousParameterRanges": [], "IntegerParameterRanges": [], "CategoricalParameterRanges": []}
    for r in ranges:
        if r.kind == "categorical":
            result["CategoricalParameterRanges"].append({"Name": r.name, "Values": list(r.values)})
        else:
            key = "ContinuousParameterRanges" if r.kind == "continuous" else "IntegerParameterRanges"
            result[key].append(
                {
                    "Name": r.name,
                    "MinValue": r.values[0],
                    "MaxValue": r.values[1],
                    "ScalingType": SCALINGS[r.scaling],
                }
            )
    return {key: value for key, value in result.items() if value}


OBJECTIVE_TYPES = ("Maximize", "Minimize")
EARLY_STOPPING_TYPES = ("Off", "Auto")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
DEFAULT_MAX_JOBS = 10


def objective_type(metric: str, override: str | None = None) -> str:
    """Losses and errors go down, everything else (accuracy) up; `override` wins when given."""
    if override is not None:
        if override not in OBJECTIVE_TYPES:
            raise ConfigError(f"unknown objective type {override!r} (expected {', '.join(OBJECTIVE_TYPES)})")
        return override
    return "Minimize" if "loss" in metric or "error" in metric else "Maximize"


@dataclass(frozen=True)
class TuningSpec:
    ranges: tuple[ParameterRange, ...]
    strategy: str = "Bayesian"
    max_jobs: int | None = None  # None: DEFAULT_MAX_JOBS, or the grid's size for Grid (left to SageMaker)
    max_parallel: int = 2
    objective: str = OBJECTIVE_METRIC
    objective_type: str | None = None  # None: from the metric's name (objective_type())
    early_stopping: str = "Off"
    warm_start_parents: tuple[str, ...] = ()
    warm_start_type: str = "IdenticalDataAndAlgorithm"
    hyperband_min_resource: int | None = None
    hyperband_max_resource: int | None = None


def tuning_job_request(name: str, spec: TrainingSpec, tuning: TuningSpec, tags: Mapping[str, str]) -> dict:
    """CreateHyperParameterTuningJob; the API's own rules (Hyperband, Grid, scaling, limits) are checked by
    scripts.launch.validation on the result, so this only assembles it."""
    if not tuning.ranges:
        raise ConfigError("tuning needs at least one --range")
    if tuning.strategy not in TUNING_STRATEGIES:
        raise ConfigError(
            f"unknown tuning strategy {tuning.strategy!r} (expected {', '.join(TUNING_STRATEGIES)})"
        )
    if tuning.early_stopping not in EARLY_STOPPING_TYPES:
        raise ConfigError(f"unknown early stopping {tuning.early_stopping!r} (expected Off or Auto)")
    tuned = {r.name for r in tuning.ranges}
    definition = {"StaticHyperParameters": {k: v for k, v in spec.hyperparameters.items() if k not in tuned}}
    definition.update(_training_definition(spec))
    limits = {}
    if tuning.max_jobs is not None or tuning.strategy != "Grid":
        limits["MaxNumberOfTrainingJobs"] = tuning.max_jobs or DEFAULT_MAX_JOBS
    limits["MaxParallelTrainingJobs"] = tuning.max_parallel
    config = {
        "Strategy": tuning.strategy,
        "HyperParameterTuningJobObjective": {
            "Type": objective_type(tuning.objective, tuning.objective_type),
            "MetricName": tuning.objective,
        },
        "ResourceLimits": limits,
        "ParameterRanges": parameter_ranges(list(tuning.ranges)),
        "TrainingJobEarlyStoppingType": tuning.early_stopping,
    }
    hyperband = {
        key: value
        for key, value in (
            ("MinResource", tuning.hyperband_min_resource),
            ("MaxResource", tuning.hyperband_max_resource),
        )
        if value is not None
    }
    if hyperband:
        config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
    }
    if tuning.warm_start_parents:
        if tuning.warm_start_type not in WARM_START_TYPES:
            raise ConfigError(
                f"unknown warm start type {tuning.warm_start_type!r} (expected {', '.join(WARM_START_TYPES)})"
            )
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": parent} for parent in tuning.warm_start_parents
            ],
            "WarmStartType": tuning.warm_start_type,
        }
    if tags:
        request["Tags"] = tags_list(tags)
    return request


def serving_environment(
    workers: int | None,
    timeout_seconds: int | None,
    enable_batching: bool,
    max_batch_size: int | None,
    batch_timeout_micros: int | None,
    extra: Mapping[str, str],
) -> dict[str, str]:
    """DLC-compatible variables the serving contract reads; checked with that contract before sending."""
    env = dict(extra)
    if workers is not None:
        env["SAGEMAKER_GUNICORN_WORKERS"] = str(workers)
    if timeout_seconds is not None:
        env["SAGEMAKER_GUNICORN_TIMEOUT_SECONDS"] = str(timeout_seconds)
    if enable_batching:
        env["SAGEMAKER_TFS_ENABLE_BATCHING"] = "true"
    if max_batch_size is not None or batch_timeout_micros is not None:
        if not enable_batching:
            raise ConfigError("--max-batch-size/--batch-timeout-micros need --enable-batching")
        if max_batch_size is not None:
            env["SAGEMAKER_TFS_MAX_BATCH_SIZE"] = str(max_batch_size)
        if batch_timeout_micros is not None:
            env["SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS"] = str(batch_timeout_micros)
    return check_serving_environment(env)


def check_serving_environment(env: dict[str, str]) -> dict[str, str]:
    from serve_container.contract import load_settings
    from serve_container.errors import SettingsError

    try:
        load_settings(environ=env)
    except SettingsError as error:
        raise ConfigError(str(error)) from error
    return env


def model_request(
    name: str, image: str, model_data: str, role_arn: str, environment: Mapping[str, str]
) -> dict:
    container = {"Image": image, "ModelDataUrl": model_data, "Mode": "SingleModel"}
    if environment:
        container["Environment"] = dict(environment)
    return {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": role_arn}


def endpoint_config_request(name: str, model_name: str, instance_type: str, instance_count: int) -> dict:
    if instance_count < 1:
        raise ConfigError("--instance-count must be at least 1")
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InstanceType": instance_type,
                "InitialInstanceCount": instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
    }


def endpoint_request(name: str, config_name: str, tags: Mapping[str, str]) -> dict:
    request = {"EndpointName": name, "EndpointConfigName": config_name}
    if tags:
        request["Tags"] = tags_list(tags)
    return request


@dataclass(frozen=True)
class TransformSpec:
    model_name: str
    input_s3_uri: str
    output_s3_uri: str
    content_type: str
    split_type: str
    batch_strategy: str
    max_payload_mb: int
    max_concurrent_transforms: int
    instance_type: str
    instance_count: int
    accept: str = "application/jsonlines"
    assemble_with: str = "Line"


def transform_job_request(name: str, spec: TransformSpec, tags: Mapping[str, str]) -> dict:
    if spec.split_type not in SPLIT_TYPES:
        raise ConfigError(f"unknown split type {spec.split_type!r} (expected {', '.join(SPLIT_TYPES)})")
    if spec.batch_strategy not in BATCH_STRATEGIES:
        raise ConfigError(
            f"unknown batch strategy {spec.batch_strategy!r} (expected {', '.join(BATCH_STRATEGIES)})"
        )
    if spec.assemble_with not in ASSEMBLE_WITH:
        raise ConfigError(
            f"unknown assemble-with {spec.assemble_with!r} (expected {', '.join(ASSEMBLE_WITH)})"
        )
    if spec.split_type == "None" and spec.batch_strategy == "MultiRecord":
        # Without a split there is one record per object: MultiRecord would only add latency.
        raise ConfigError("--batch-strategy MultiRecord needs --split-type TFRecord or Line")
    request = {
        "TransformJobName": name,
        "ModelName": spec.model_name,
        "MaxConcurrentTransforms": spec.max_concurrent_transforms,
        "MaxPayloadInMB": spec.max_payload_mb,
        "BatchStrategy": spec.batch_strategy,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_s3_uri}},
            "ContentType": spec.content_type,
            "CompressionType": "None",
            "SplitType": spec.split_type,
        },
        "TransformOutput": {
            "S3OutputPath": spec.output_s3_uri,
            "Accept": spec.accept,
            "AssembleWith": spec.assemble_with,
        },
        "TransformResources": {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count},
    }
    if tags:
        request["Tags"] = tags_list(tags)
    return request


def content_type_for(path_name: str, head: bytes) -> str:
    """Images by magic number (extensions lie), TFRecord by extension (it has no magic)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return "application/x-image"
    if path_name.endswith((".tfrecord", ".tfrecords")):
        return TFRECORD_CONTENT_TYPE
    raise ConfigError(f"cannot tell the content type of {path_name!r}: expected PNG, JPEG or *.tfrecord")


# Content types our serving image answers (serve_container handlers): what a model package declares.
SERVING_CONTENT_TYPES = ("application/x-image", "application/x-tfrecord", "application/json", "application/jsonlines")
SERVING_RESPONSE_TYPES = ("application/json", "application/jsonlines")
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


def model_package_group_request(group: str, description: str, tags: Mapping[str, str]) -> dict:
    request = {"ModelPackageGroupName": group, "ModelPackageGroupDescription": description}
    if tags:
        request["Tags"] = tags_list(tags)
    return request


def model_package_request(
    group: str,
    image: str,
    model_data: str,
    approval: str,
    evaluation_s3_uri: str | None,
    description: str | None = None,
) -> dict:
    """CreateModelPackage: a version in `group` serving `model_data` with our serving image; the evaluation
    report (scripts.evaluate's JSON) is attached as the package's ModelQuality statistics."""
    if approval not in APPROVAL_STATUSES:
        raise ConfigError(f"unknown approval status {approval!r} (expected {', '.join(APPROVAL_STATUSES)})")
    request = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {
            "Containers": [{"Image": image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": list(SERVING_CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(SERVING_RESPONSE_TYPES),
        },
        "ModelApprovalStatus": approval,
    }
    if description:
        request["ModelPackageDescription"] = description
    if evaluation_s3_uri:
        request["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_s3_uri}}
        }
    return request


def model_from_package_request(name: str, package_arn: str, role_arn: str, environment: Mapping[str, str]) -> dict:
    """CreateModel from a registered model package: image and artifact come from the package."""
    container = {"ModelPackageName": package_arn}
    if environment:
        container["Environment"] = dict(environment)
    return {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": role_arn}
