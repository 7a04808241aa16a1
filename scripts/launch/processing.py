"""SageMaker Processing jobs that run our data preparation and evaluation inside our training image.

Processing runs `ContainerEntrypoint + ContainerArguments` in the image (replacing its ENTRYPOINT), after it has
copied every ProcessingInput's S3 prefix to its LocalPath; when the program exits 0 it uploads every
ProcessingOutput's LocalPath to S3. Both paths live under /opt/ml/processing. The training image installs
`scripts.prepare_data` and `scripts.evaluate` (docker/train.Dockerfile), so the programs are the same code a
user runs on a laptop, and their exit codes and one-line errors become the job's outcome.

Pure builders: arguments in, the CreateProcessingJob request (wire shape) out; `validation.check_request`
checks it before `sagemaker_calls` sends it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from scripts.config import ConfigError, check_s3_uri, split_s3_uri
from scripts.launch.api_requests import check_resources, tags_list
from scripts.launch.local_mode import SCHEME, check_uri

ROOT = "/opt/ml/processing"
PREPARE_INPUT = f"{ROOT}/input/raw"
PREPARE_OUTPUT = f"{ROOT}/output/data"
EVALUATE_PREDICTIONS = f"{ROOT}/input/predictions"
EVALUATE_RECORDS = f"{ROOT}/input/records"
EVALUATE_LABELS = f"{ROOT}/input/labels"
EVALUATE_OUTPUT = f"{ROOT}/output/evaluation"
# Names the pipeline's property file and `launch register --evaluation` refer to.
EVALUATION_FILE = "evaluation.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
LABELS_FILE = "labels.txt"  # prepare_data writes one per split
PREPARE_OUTPUT_NAME = "data"
EVALUATION_OUTPUT_NAME = "evaluation"
PREPARE_SOURCES = ("cifar10", "cinic10", "folder")
PYTHON = "python3"


@dataclass(frozen=True)
class Location:
    """One ProcessingInput or ProcessingOutput: an S3 prefix and where the container sees it."""

    name: str
    s3_uri: str
    local_path: str


@dataclass(frozen=True)
class Resources:
    image: str
    role_arn: str
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_run_seconds: int = 3600


@dataclass(frozen=True)
class ProcessingSpec:
    resources: Resources
    entrypoint: tuple[str, ...]
    arguments: tuple[str, ...]
    inputs: tuple[Location, ...]
    outputs: tuple[Location, ...]
    environment: Mapping[str, str] = field(default_factory=dict)


def _check_uri(value: str, what: str) -> str:
    """An S3 URI, or a file:// folder for `--local` (the AWS form of such a request fails its S3Uri pattern)."""
    return check_uri(value, what, local=value.startswith(SCHEME))


def processing_job_request(name: str, spec: ProcessingSpec, tags: Mapping[str, str]) -> dict:
    resources = spec.resources
    check_resources(resources.instance_count, resources.volume_size_gb, resources.max_run_seconds)
    app = {"ImageUri": resources.image, "ContainerEntrypoint": list(spec.entrypoint)}
    if spec.arguments:
        app["ContainerArguments"] = list(spec.arguments)
    request = {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            {
                "InputName": item.name,
                "S3Input": {
                    "S3Uri": item.s3_uri,
                    "LocalPath": item.local_path,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    # Our programs read the whole data set on one instance.
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            }
            for item in spec.inputs
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": item.name,
                    "S3Output": {"S3Uri": item.s3_uri, "LocalPath": item.local_path, "S3UploadMode": "EndOfJob"},
                }
                for item in spec.outputs
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": resources.instance_count,
                "InstanceType": resources.instance_type,
                "VolumeSizeInGB": resources.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": resources.max_run_seconds},
        "AppSpecification": app,
        "RoleArn": resources.role_arn,
    }
    if spec.environment:
        request["Environment"] = dict(spec.environment)
    if tags:
        request["Tags"] = tags_list(tags)
    return request


def prepare_data_spec(
    resources: Resources,
    input_s3_uri: str,
    output_s3_uri: str,
    source: str = "folder",
    shard_multiple: int = 8,
    records_per_shard: int = 4096,
    validation_fraction: float = 0.0,
    seed: int = 0,
    labels_in: tuple[str, ...] = (),
) -> ProcessingSpec:
    """`python3 -m scripts.prepare_data` over the S3 input; the shards land in `output_s3_uri/<split>/`.

    cifar10 reads one tarball: the input is that object, and the program gets its path inside the container."""
    if source not in PREPARE_SOURCES:
        raise ConfigError(f"unknown source {source!r} (expected one of {', '.join(PREPARE_SOURCES)})")
    if shard_multiple < 1 or records_per_shard < 1:
        raise ConfigError("--shard-multiple and --records-per-shard must be >= 1")
    if not 0 <= validation_fraction < 1:
        raise ConfigError("--validation-fraction must be in [0, 1)")
    local_input = PREPARE_INPUT
    if source == "cifar10":
        key = (
            input_s3_uri.removeprefix(SCHEME)
            if input_s3_uri.startswith(SCHEME)
            else split_s3_uri(check_s3_uri(input_s3_uri, "--input"))[1]
        )
        if not key or key.endswith("/"):
            raise ConfigError("--source cifar10 needs --input naming the tarball (s3://.../cifar-10-python.tar.gz)")
        local_input = f"{PREPARE_INPUT}/{posixpath.basename(key)}"
    arguments = (
        "--source", source, "--input", local_input, "--output", PREPARE_OUTPUT,
        "--shard-multiple", str(shard_multiple), "--records-per-shard", str(records_per_shard),
        "--validation-fraction", str(validation_fraction), "--seed", str(seed),
        *(arg for split in labels_in for arg in ("--labels-in", split)),
    )  # fmt: skip
    return ProcessingSpec(
        resources=resources,
        entrypoint=(PYTHON, "-m", "scripts.prepare_data"),
        arguments=arguments,
        inputs=(Location("raw", _check_uri(input_s3_uri, "--input"), PREPARE_INPUT),),
        outputs=(Location(PREPARE_OUTPUT_NAME, _check_uri(output_s3_uri, "--output"), PREPARE_OUTPUT),),
    )


def evaluation_spec(
    resources: Resources,
    predictions_s3_uri: str,
    records_s3_uri: str,
    output_s3_uri: str,
    labels_s3_uri: str | None = None,
) -> ProcessingSpec:
    """`python3 -m scripts.evaluate` over a batch transform's `*.out` files and the TFRecord shards they came
    from; the class names come from `labels_s3_uri` (a labels.txt object), else from the labels.txt in the
    shards' folder (prepare_data's split). Writes evaluation.json (SageMaker's model-quality layout) and the
    confusion-matrix PNG to `output_s3_uri`."""
    inputs = [
        Location("predictions", _check_uri(predictions_s3_uri, "--predictions"), EVALUATE_PREDICTIONS),
        Location("records", _check_uri(records_s3_uri, "--tfrecords"), EVALUATE_RECORDS),
    ]
    class_names = f"{EVALUATE_RECORDS}/{LABELS_FILE}"
    if labels_s3_uri:
        inputs.append(Location("labels", _check_uri(labels_s3_uri, "--class-names"), EVALUATE_LABELS))
        class_names = f"{EVALUATE_LABELS}/{LABELS_FILE}"
    arguments = (
        "--predictions", EVALUATE_PREDICTIONS, "--tfrecords", EVALUATE_RECORDS, "--class-names", class_names,
        "--plot", f"{EVALUATE_OUTPUT}/{CONFUSION_MATRIX_FILE}", "--json", f"{EVALUATE_OUTPUT}/{EVALUATION_FILE}",
    )  # fmt: skip
    return ProcessingSpec(
        resources=resources,
        entrypoint=(PYTHON, "-m", "scripts.evaluate"),
        arguments=arguments,
        inputs=tuple(inputs),
        outputs=(Location(EVALUATION_OUTPUT_NAME, _check_uri(output_s3_uri, "--output"), EVALUATE_OUTPUT),),
    )
