"""A SageMaker Pipelines definition for our images: prepare -> train -> model -> transform -> evaluate ->
condition on accuracy -> register (or fail).

The definition is built here as JSON (the pipeline definition schema, Version 2020-12-01), not with the SDK's
pipeline classes: those live in sagemaker-mlops (SDK v3), which is not pinned and pulls in sagemaker-train and
mlflow, whose gunicorn pin conflicts with the serving image's (requirements/dev-constraints.txt). A step's
`Arguments` are the body of the API call SageMaker makes for it, minus the job's name, so every step reuses the
request builders of `launch train|process|transform|register`; values known only at run time are the
definition's functions: `{"Get": "Parameters.X"}`, `{"Get": "Steps.S.<DescribeS response path>"}`,
`{"Get": "Execution.PipelineExecutionId"}`, `{"Std:Join": ...}` and `{"Std:JsonGet": ...}` on a property file.
`validation.check_pipeline_definition` checks the result against botocore's service model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from scripts.launch import api_requests as rq
from scripts.launch import processing

VERSION = "2020-12-01"
PREPARE, TRAIN, MODEL, TRANSFORM, EVALUATE = "PrepareData", "Train", "CreateModel", "BatchTransform", "Evaluate"
CHECK, REGISTER, FAIL = "CheckAccuracy", "RegisterModel", "AccuracyTooLow"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
# Where scripts.evaluate puts the accuracy in evaluation.json (evaluate.model_quality).
ACCURACY_PATH = "multiclass_classification_metrics.accuracy.value"
# Placeholders that the builders' S3 checks accept; every one is replaced by a function below.
_LATER = "s3://byoc-pipeline-placeholder/later"


def get(path: str) -> dict:
    return {"Get": path}


def join(*values, on: str = "/") -> dict:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def parameter(name: str) -> dict:
    return get(f"Parameters.{name}")


EXECUTION_ID = get("Execution.PipelineExecutionId")


@dataclass(frozen=True)
class PipelineSpec:
    workspace: str  # s3://bucket/prefix: every execution writes under <workspace>/<execution id>/
    raw_input: str  # S3 URI of the images (or the CIFAR-10 tarball) prepare_data reads
    train_image: str
    serve_image: str
    role_arn: str
    model_package_group: str
    source: str = "folder"
    validation_fraction: float = 0.1
    shard_multiple: int = 8
    hyperparameters: Mapping[str, str] | None = None  # includes the distribution ones (any distribution)
    input_mode: str = "File"
    volume_size_gb: int = 30
    max_run_seconds: int = 24 * 3600
    processing_instance_type: str = "ml.m5.xlarge"
    training_instance_type: str = "ml.m5.xlarge"
    training_instance_count: int = 1
    transform_instance_type: str = "ml.m5.xlarge"
    accuracy_threshold: float = 0.95
    approval: str = "PendingManualApproval"


def parameters(spec: PipelineSpec) -> list[dict]:
    """What a user changes per execution (`StartPipelineExecution` PipelineParameters)."""
    return [
        {"Name": "InputData", "Type": "String", "DefaultValue": spec.raw_input},
        {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": spec.processing_instance_type},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": spec.training_instance_type},
        {"Name": "TrainingInstanceCount", "Type": "Integer", "DefaultValue": spec.training_instance_count},
        {"Name": "TransformInstanceType", "Type": "String", "DefaultValue": spec.transform_instance_type},
        {"Name": "AccuracyThreshold", "Type": "Float", "DefaultValue": spec.accuracy_threshold},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": spec.approval},
    ]


def _output_of(step: str, output_name: str) -> dict:
    return get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{output_name}'].S3Output.S3Uri")


def _split(name: str) -> dict:
    return join(_output_of(PREPARE, processing.PREPARE_OUTPUT_NAME), name)


def _processing_arguments(request: dict) -> dict:
    arguments = {k: v for k, v in request.items() if k not in ("ProcessingJobName", "Tags")}
    arguments["ProcessingResources"]["ClusterConfig"]["InstanceType"] = parameter("ProcessingInstanceType")
    return arguments


def definition(spec: PipelineSpec) -> dict:
    workspace = spec.workspace.rstrip("/")

    def run_path(*parts: str) -> dict:
        return join(workspace, EXECUTION_ID, *parts)

    resources = processing.Resources(spec.train_image, spec.role_arn, spec.processing_instance_type)

    prepare = _processing_arguments(
        processing.processing_job_request(
            "p",
            processing.prepare_data_spec(
                resources, spec.raw_input, _LATER, spec.source, spec.shard_multiple,
                validation_fraction=spec.validation_fraction,
                # BatchTransform sends every object under eval/ as a record: no labels.txt there.
                labels_in=("train", "validation"),
            ),
            {},
        )
    )  # fmt: skip
    prepare["ProcessingInputs"][0]["S3Input"]["S3Uri"] = parameter("InputData")
    prepare["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = run_path("data")

    training = rq.check_training_spec(
        rq.TrainingSpec(
            image=spec.train_image, role_arn=spec.role_arn, instance_type=spec.training_instance_type,
            instance_count=spec.training_instance_count, volume_size_gb=spec.volume_size_gb,
            channels={name: _LATER for name in rq.CHANNELS}, input_mode=spec.input_mode, output_path=_LATER,
            hyperparameters=dict(spec.hyperparameters or {"distribution": "single"}),
            max_run_seconds=spec.max_run_seconds,
        )
    )  # fmt: skip
    train = {k: v for k, v in rq.training_job_request("t", training, {}).items() if k != "TrainingJobName"}
    for channel in train["InputDataConfig"]:
        channel["DataSource"]["S3DataSource"]["S3Uri"] = _split(channel["ChannelName"])
    train["OutputDataConfig"]["S3OutputPath"] = run_path("model")
    train["ResourceConfig"]["InstanceType"] = parameter("TrainingInstanceType")
    train["ResourceConfig"]["InstanceCount"] = parameter("TrainingInstanceCount")
    artifact = get(f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts")

    model = rq.model_request("m", spec.serve_image, _LATER, spec.role_arn, {})
    model.pop("ModelName")
    model["PrimaryContainer"]["ModelDataUrl"] = artifact

    transform = rq.transform_job_request(
        "bt",
        rq.TransformSpec(
            model_name="m", input_s3_uri=_LATER, output_s3_uri=_LATER, content_type=rq.TFRECORD_CONTENT_TYPE,
            split_type="TFRecord", batch_strategy="MultiRecord", max_payload_mb=6, max_concurrent_transforms=4,
            instance_type=spec.transform_instance_type, instance_count=1,
        ),
        {},
    )  # fmt: skip
    transform.pop("TransformJobName")
    transform["ModelName"] = get(f"Steps.{MODEL}.ModelName")
    transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = _split("eval")
    transform["TransformOutput"]["S3OutputPath"] = run_path("predictions")
    transform["TransformResources"]["InstanceType"] = parameter("TransformInstanceType")

    evaluate = _processing_arguments(
        processing.processing_job_request(
            "e", processing.evaluation_spec(resources, _LATER, _LATER, _LATER, _LATER), {}
        )
    )
    predictions, records, labels = evaluate["ProcessingInputs"]
    predictions["S3Input"]["S3Uri"] = get(f"Steps.{TRANSFORM}.TransformOutput.S3OutputPath")
    records["S3Input"]["S3Uri"] = _split("eval")
    labels["S3Input"]["S3Uri"] = _split(processing.LABELS_FILE)
    evaluate["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = run_path("evaluation")

    package = rq.model_package_request(
        spec.model_package_group, spec.serve_image, _LATER, spec.approval, _LATER, "trained by the BYOC pipeline"
    )
    package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = artifact
    package["ModelApprovalStatus"] = parameter("ModelApprovalStatus")
    package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] = join(
        _output_of(EVALUATE, processing.EVALUATION_OUTPUT_NAME), processing.EVALUATION_FILE
    )

    accuracy = {
        "Std:JsonGet": {
            "PropertyFile": get(f"Steps.{EVALUATE}.PropertyFiles.{EVALUATION_PROPERTY_FILE}"),
            "Path": ACCURACY_PATH,
        }
    }
    check = {
        "Conditions": [
            {"Type": "GreaterThanOrEqualTo", "LeftValue": accuracy, "RightValue": parameter("AccuracyThreshold")}
        ],
        "IfSteps": [{"Name": REGISTER, "Type": "RegisterModel", "Arguments": package}],
        "ElseSteps": [
            {
                "Name": FAIL,
                "Type": "Fail",
                "Arguments": {"ErrorMessage": join("accuracy below", parameter("AccuracyThreshold"), on=" ")},
            }
        ],
    }
    return {
        "Version": VERSION,
        "Metadata": {},
        "Parameters": parameters(spec),
        "PipelineExperimentConfig": {
            "ExperimentName": get("Execution.PipelineName"),
            "TrialName": EXECUTION_ID,
        },
        "Steps": [
            {"Name": PREPARE, "Type": "Processing", "Arguments": prepare},
            {"Name": TRAIN, "Type": "Training", "Arguments": train},
            {"Name": MODEL, "Type": "Model", "Arguments": model},
            {"Name": TRANSFORM, "Type": "Transform", "Arguments": transform},
            {
                "Name": EVALUATE,
                "Type": "Processing",
                "Arguments": evaluate,
                "PropertyFiles": [
                    {
                        "PropertyFileName": EVALUATION_PROPERTY_FILE,
                        "OutputName": processing.EVALUATION_OUTPUT_NAME,
                        "FilePath": processing.EVALUATION_FILE,
                    }
                ],
            },
            {"Name": CHECK, "Type": "Condition", "Arguments": check},
        ],
    }


def upsert_requests(name: str, definition_json: dict, role_arn: str, description: str, tags: Mapping[str, str]):
    """CreatePipeline (for a new pipeline) and UpdatePipeline (for an existing one) carrying the definition."""
    body = json.dumps(definition_json, separators=(",", ":"))
    create = {"PipelineName": name, "PipelineDefinition": body, "PipelineDescription": description, "RoleArn": role_arn}
    if tags:
        create["Tags"] = rq.tags_list(tags)
    update = {k: v for k, v in create.items() if k != "Tags"}
    return create, update


def start_request(name: str, values: Mapping[str, str]) -> dict:
    request = {"PipelineName": name}
    if values:
        request["PipelineParameters"] = [{"Name": k, "Value": v} for k, v in values.items()]
    return request
