"""Send the built requests through SageMaker Python SDK v3 resources (sagemaker-core).

Requests are built in wire shape (PascalCase, `api_requests`) and converted with sagemaker-core's own
shape codec into the snake_case arguments its `Resource.create(...)` methods validate with pydantic, so
the bytes on the wire are the dicts the tests check. `sagemaker-train`'s ModelTrainer is not used: it
depends on mlflow, which pins gunicorn<24 against our serving pin (requirements/constraints.txt).

Hosting (Model, EndpointConfig, Endpoint: create, describe, delete) goes through boto3 instead: every
sagemaker-core create() re-reads the resource with Describe*, and moto (our only stand-in for AWS) answers
DescribeModel/DescribeEndpointConfig/DescribeEndpoint with empty `VpcConfig`/`DataCaptureConfig` objects that
sagemaker-core's strict pydantic shapes reject. Invocation does not describe, so it stays on sagemaker-core.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TERMINAL_TRAINING = ("Completed", "Failed", "Stopped")
_REQUEST_SHAPES = {
    "TrainingJob": "CreateTrainingJobRequest",
    "TransformJob": "CreateTransformJobRequest",
    "HyperParameterTuningJob": "CreateHyperParameterTuningJobRequest",
}


def _create(resource: str, request: dict, region: str):
    from sagemaker.core import resources
    from sagemaker.core.utils.code_injection.codec import transform

    kwargs = transform(request, _REQUEST_SHAPES[resource])
    return getattr(resources, resource).create(**kwargs, region=region)


def create_training_job(request: dict, region: str):
    return _create("TrainingJob", request, region)


def create_tuning_job(request: dict, region: str):
    return _create("HyperParameterTuningJob", request, region)


def wait_for_training(
    name: str, region: str, emit: Callable[[str], None], poll_seconds: float = 30.0
) -> tuple[str, str | None]:
    """Streams status transitions until the job ends; returns (status, failure reason)."""
    from sagemaker.core.resources import TrainingJob

    job = TrainingJob.get(training_job_name=name, region=region)
    last = None
    while True:
        current = (job.training_job_status, job.secondary_status)
        if current != last:
            emit(f"{name}: {current[0]} / {current[1]}")
            last = current
        if job.training_job_status in TERMINAL_TRAINING:
            reason = job.failure_reason if isinstance(job.failure_reason, str) else None
            return job.training_job_status, reason
        time.sleep(poll_seconds)
        job.refresh()


def _hosting_client(region: str):
    import boto3

    return boto3.client("sagemaker", region_name=region)


def deploy(model: dict, config: dict, endpoint: dict, region: str, emit: Callable[[str], None]) -> None:
    """Model -> endpoint config -> endpoint; on failure deletes what this call created, and says so."""
    client = _hosting_client(region)
    created: list[tuple[str, str]] = []
    try:
        client.create_model(**model)
        created.append(("model", model["ModelName"]))
        emit(f"created model {model['ModelName']}")
        client.create_endpoint_config(**config)
        created.append(("endpoint_config", config["EndpointConfigName"]))
        emit(f"created endpoint config {config['EndpointConfigName']}")
        client.create_endpoint(**endpoint)
        emit(f"created endpoint {endpoint['EndpointName']}")
    except Exception:
        for kind, name in reversed(created):
            _delete(client, kind, name)
            emit(f"rolled back: deleted {kind.replace('_', ' ')} {name}")
        raise


def create_transform_job(request: dict, region: str, emit: Callable[[str], None], model: dict | None = None):
    """Optionally creates the model first; a model created here is deleted again if the job is refused."""
    client = _hosting_client(region)
    if model is not None:
        client.create_model(**model)
        emit(f"created model {model['ModelName']}")
    try:
        return _create("TransformJob", request, region)
    except Exception:
        if model is not None:
            _delete(client, "model", model["ModelName"])
            emit(f"rolled back: deleted model {model['ModelName']}")
        raise


def invoke(endpoint_name: str, body: bytes, content_type: str, accept: str, region: str) -> bytes:
    from sagemaker.core.resources import Endpoint

    endpoint = Endpoint(endpoint_name=endpoint_name)._set_client_context(region=region)
    payload = endpoint.invoke(body=body, content_type=content_type, accept=accept).body
    return payload.read() if hasattr(payload, "read") else payload


def cleanup(endpoint_name: str, region: str, keep_model: bool, emit: Callable[[str], None]) -> None:
    """Deletes the endpoint, its config and (unless kept) the models its variants serve."""
    client = _hosting_client(region)
    config_name = client.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
    config = client.describe_endpoint_config(EndpointConfigName=config_name)
    models = [variant["ModelName"] for variant in config["ProductionVariants"]]
    _delete(client, "endpoint", endpoint_name)
    emit(f"deleted endpoint {endpoint_name}")
    _delete(client, "endpoint_config", config_name)
    emit(f"deleted endpoint config {config_name}")
    if not keep_model:
        for model in models:
            _delete(client, "model", model)
            emit(f"deleted model {model}")


def _delete(client, kind: str, name: str) -> None:
    key = {"model": "ModelName", "endpoint_config": "EndpointConfigName", "endpoint": "EndpointName"}[kind]
    getattr(client, f"delete_{kind}")(**{key: name})
