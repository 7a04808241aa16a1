"""Send the built requests, each checked by `validation.check_request` first, and watch what they started.

Training, tuning and transform jobs go through SageMaker Python SDK v3 resources (sagemaker-core): requests
are built in wire shape (PascalCase, `api_requests`) and converted with sagemaker-core's own shape codec into
the snake_case arguments its `Resource.create(...)` methods validate with pydantic, so the bytes on the wire
are the dicts the tests check. `sagemaker-train`'s ModelTrainer is not used: it depends on mlflow, which pins
gunicorn<24 against our serving pin (requirements/constraints.txt).

Hosting (Model, EndpointConfig, Endpoint), describes and waits go through boto3 instead: every sagemaker-core
create() re-reads the resource with Describe*, and moto (our only stand-in for AWS) answers
DescribeModel/DescribeEndpointConfig/DescribeEndpoint with empty `VpcConfig`/`DataCaptureConfig` objects that
sagemaker-core's strict pydantic shapes reject. Invocation does not describe, so it stays on sagemaker-core.
"""

from __future__ import annotations

from collections.abc import Callable

from scripts.launch.validation import check_pipeline_definition, check_request

_REQUEST_SHAPES = {
    "TrainingJob": ("CreateTrainingJob", "CreateTrainingJobRequest"),
    "TransformJob": ("CreateTransformJob", "CreateTransformJobRequest"),
    "HyperParameterTuningJob": ("CreateHyperParameterTuningJob", "CreateHyperParameterTuningJobRequest"),
}


def _create(resource: str, request: dict, region: str):
    from sagemaker.core import resources
    from sagemaker.core.utils.code_injection.codec import transform

    operation, shape = _REQUEST_SHAPES[resource]
    check_request(operation, request)
    return getattr(resources, resource).create(**transform(request, shape), region=region)


def create_training_job(request: dict, region: str):
    return _create("TrainingJob", request, region)


def create_tuning_job(request: dict, region: str):
    return _create("HyperParameterTuningJob", request, region)


def create_processing_job(request: dict, region: str) -> str:
    """Through boto3, like hosting: `--wait` describes the job itself (watch.py). Returns the job's ARN."""
    check_request("CreateProcessingJob", request)
    return client(region).create_processing_job(**request)["ProcessingJobArn"]


def client(region: str, service: str = "sagemaker"):
    import boto3

    return boto3.client(service, region_name=region)


def deploy(model: dict, config: dict, endpoint: dict, region: str, emit: Callable[[str], None]) -> None:
    """Model -> endpoint config -> endpoint; on failure deletes what this call created, and says so."""
    check_request("CreateModel", model)
    check_request("CreateEndpointConfig", config)
    check_request("CreateEndpoint", endpoint)
    sagemaker = client(region)
    created: list[tuple[str, str]] = []
    try:
        sagemaker.create_model(**model)
        created.append(("model", model["ModelName"]))
        emit(f"created model {model['ModelName']}")
        sagemaker.create_endpoint_config(**config)
        created.append(("endpoint_config", config["EndpointConfigName"]))
        emit(f"created endpoint config {config['EndpointConfigName']}")
        sagemaker.create_endpoint(**endpoint)
        emit(f"created endpoint {endpoint['EndpointName']}")
    except Exception:
        for kind, name in reversed(created):
            _delete(sagemaker, kind, name)
            emit(f"rolled back: deleted {kind.replace('_', ' ')} {name}")
        raise


def create_transform_job(request: dict, region: str, emit: Callable[[str], None], model: dict | None = None):
    """Optionally creates the model first; a model created here is deleted again if the job is refused."""
    if model is not None:
        check_request("CreateModel", model)
    check_request("CreateTransformJob", request)
    sagemaker = client(region)
    if model is not None:
        sagemaker.create_model(**model)
        emit(f"created model {model['ModelName']}")
    try:
        return _create("TransformJob", request, region)
    except Exception:
        if model is not None:
            _delete(sagemaker, "model", model["ModelName"])
            emit(f"rolled back: deleted model {model['ModelName']}")
        raise


def invoke(endpoint_name: str, body: bytes, content_type: str, accept: str, region: str) -> bytes:
    from sagemaker.core.resources import Endpoint

    endpoint = Endpoint(endpoint_name=endpoint_name)._set_client_context(region=region)
    payload = endpoint.invoke(body=body, content_type=content_type, accept=accept).body
    return payload.read() if hasattr(payload, "read") else payload


def cleanup(endpoint_name: str, region: str, keep_model: bool, emit: Callable[[str], None]) -> None:
    """Deletes the endpoint, its config and (unless kept) the models its variants serve."""
    sagemaker = client(region)
    config_name = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    models = [variant["ModelName"] for variant in config["ProductionVariants"]]
    _delete(sagemaker, "endpoint", endpoint_name)
    emit(f"deleted endpoint {endpoint_name}")
    _delete(sagemaker, "endpoint_config", config_name)
    emit(f"deleted endpoint config {config_name}")
    if not keep_model:
        for model in models:
            _delete(sagemaker, "model", model)
            emit(f"deleted model {model}")


def _delete(sagemaker, kind: str, name: str) -> None:
    key = {"model": "ModelName", "endpoint_config": "EndpointConfigName", "endpoint": "EndpointName"}[kind]
    getattr(sagemaker, f"delete_{kind}")(**{key: name})


def register(group: dict, package: dict, region: str, emit: Callable[[str], None]) -> str:
    """Creates the model package group if missing, then a package version in it; returns its ARN."""
    check_request("CreateModelPackageGroup", group)
    check_request("CreateModelPackage", package)
    sagemaker = client(region)
    _ensure_model_package_group(sagemaker, group, emit)
    arn = sagemaker.create_model_package(**package)["ModelPackageArn"]
    emit(f"registered {arn} ({package['ModelApprovalStatus']})")
    return arn


def _ensure_model_package_group(sagemaker, group: dict, emit: Callable[[str], None]) -> None:
    name = group["ModelPackageGroupName"]
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=name)
    except sagemaker.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        sagemaker.create_model_package_group(**group)
        emit(f"created model package group {name}")


def upsert_pipeline(
    definition: dict, create: dict, update: dict, group: dict, region: str, emit: Callable[[str], None]
) -> str:
    """CreatePipeline, or UpdatePipeline when it exists (the SDK's `Pipeline.upsert`); the model package group
    its RegisterModel step writes to is created first if missing. Returns the pipeline's ARN."""
    check_pipeline_definition(definition)
    check_request("CreatePipeline", create)
    check_request("UpdatePipeline", update)
    check_request("CreateModelPackageGroup", group)
    sagemaker = client(region)
    _ensure_model_package_group(sagemaker, group, emit)
    name = create["PipelineName"]
    try:
        sagemaker.describe_pipeline(PipelineName=name)
    except sagemaker.exceptions.ClientError as error:
        # AWS answers ResourceNotFound; moto a ValidationException.
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        arn = sagemaker.create_pipeline(**create)["PipelineArn"]
        emit(f"created pipeline {name}")
    else:
        arn = sagemaker.update_pipeline(**update)["PipelineArn"]
        emit(f"updated pipeline {name}")
    return arn


def start_pipeline(request: dict, region: str) -> str:
    check_request("StartPipelineExecution", request)
    return client(region).start_pipeline_execution(**request)["PipelineExecutionArn"]
