"""`--local`: run the very request a launcher would send, on this machine's Docker, through the SageMaker SDK's
own local engine (sagemaker-core's LocalSagemakerClient: the v2 local mode, docker compose, /opt/ml laid out
as SageMaker does), so a user tries a job before paying for it.

The request is built and checked exactly as for AWS; local folders are given as `file:///abs/path` wherever an
S3 URI goes (the local engine reads and writes them) and stand in as S3 URIs for the check. What the engine then
runs differs only where local mode requires it: instance type `local`, FullyReplicated channels (one local host
holds every shard), and a TFRecord transform unsplit (the engine splits Line and RecordIO only; our server answers a
whole shard with one line per record, as TFRecord splitting with MultiRecord would).
"""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import Callable

from scripts.config import ConfigError, check_s3_uri

SCHEME = "file://"
# Local mode runs no AWS job, so no execution role is needed; the request still names one.
ROLE_ARN = "arn:aws:iam::111111111111:role/local-mode"
_URI_KEYS = ("S3Uri", "S3OutputPath", "ModelDataUrl")
SERVING_PORT = 8080  # the SDK's local endpoint and transform port (its `local.serving_port` default)
SERVING_URL = f"http://localhost:{SERVING_PORT}"
# The engine stops its serving container by killing docker compose; the container itself goes a few seconds
# later (TF Serving's shutdown), and until then the next local transform or endpoint fails to bind the port.
PORT_RELEASE_SECONDS = 60.0
_STAND_IN = "s3://local-folder"


def check_uri(value: str, what: str, local: bool) -> str:
    """An S3 URI; with `local` also a file:// absolute folder."""
    if local and value.startswith(SCHEME) and value.removeprefix(SCHEME).startswith("/"):
        return value
    return check_s3_uri(value, what + (" (or file:///abs/path with --local)" if local else ""))


def _rewrite(value, change: Callable[[str, object], object]):
    if isinstance(value, dict):
        return {key: change(key, _rewrite(item, change)) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, change) for item in value]
    return value


def checked_form(request: dict) -> dict:
    """The request as AWS would check it: file:// folders stand in as S3 URIs."""

    def change(key: str, value):
        if key in _URI_KEYS and isinstance(value, str) and value.startswith(SCHEME):
            return _STAND_IN + value.removeprefix(SCHEME)
        return value

    return _rewrite(copy.deepcopy(request), change)


def local_form(request: dict) -> dict:
    """The request the local engine runs."""

    def change(key: str, value):
        if key == "InstanceType":
            return "local"
        if key == "S3DataDistributionType":
            return "FullyReplicated"  # the only one local mode takes
        if key == "SplitType" and value == "TFRecord":
            return "None"  # the engine raises on TFRecord (see the module docstring)
        if key == "PrimaryContainer":
            return {"Environment": {}, **value}  # the local endpoint reads it unconditionally
        return value

    return _rewrite(copy.deepcopy(request), change)


def run(operation: str, request: dict, region: str) -> dict:
    """Runs `request` (CreateTrainingJob | CreateProcessingJob | CreateTransformJob, already checked; a
    transform's model made by create_model) to its end; returns the local
    Describe answer. The engine raises if the container fails."""
    import boto3
    from sagemaker.core.local.local_session import LocalSagemakerClient, LocalSession

    kinds = {
        "CreateTrainingJob": ("create_training_job", "describe_training_job", "TrainingJobName"),
        "CreateProcessingJob": ("create_processing_job", "describe_processing_job", "ProcessingJobName"),
        "CreateTransformJob": ("create_transform_job", "describe_transform_job", "TransformJobName"),
    }
    if operation not in kinds:
        raise ConfigError(f"--local does not run {operation}")
    create, describe, key = kinds[operation]
    serves = operation == "CreateTransformJob"
    if serves:
        wait_for_serving_port()
    client = LocalSagemakerClient(LocalSession(boto_session=boto3.Session(region_name=region)))
    getattr(client, create)(**local_form(request))
    if serves:
        wait_for_serving_port()  # its container is on its way out: the next step may serve
    return getattr(client, describe)(**{key: request[key]})


def serving_port_in_use(port: int = SERVING_PORT) -> bool:
    """Something answers on the port, or it cannot be bound (Docker's proxy holds a published port)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as probe:
        # SO_REUSEADDR: connections the container served linger in TIME_WAIT for a minute; only a listener counts.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def wait_for_serving_port(timeout: float = PORT_RELEASE_SECONDS, port: int = SERVING_PORT) -> None:
    """Until the SDK's local serving port is free; one line naming it when something keeps it."""
    deadline = time.monotonic() + timeout
    while serving_port_in_use(port):
        if time.monotonic() > deadline:
            raise ConfigError(
                f"port {port} is still in use after {timeout:.0f} s: the SDK's local mode serves there "
                f"(stop what holds it, e.g. `docker ps --filter publish={port}`)"
            )
        time.sleep(0.5)


def _client(region: str):
    import boto3
    from sagemaker.core.local.local_session import LocalSagemakerClient, LocalSession

    return LocalSagemakerClient(LocalSession(boto_session=boto3.Session(region_name=region)))


def create_model(request: dict, region: str) -> dict:
    """A local model (what a local transform or endpoint serves); returns its Describe answer."""
    client = _client(region)
    client.create_model(**local_form(request))
    return client.describe_model(ModelName=request["ModelName"])


def serve(model: dict, config: dict, endpoint: dict, region: str) -> Callable[[], None]:
    """Model -> endpoint config -> endpoint on this machine (the SDK's local endpoint: `IMAGE serve` with the
    model unpacked at /opt/ml/model, InService once /ping answers on SERVING_URL). Returns what stops it; the
    endpoint lives only as long as this process."""
    import boto3
    from sagemaker.core.local.local_session import LocalSagemakerClient, LocalSession

    wait_for_serving_port()
    client = LocalSagemakerClient(LocalSession(boto_session=boto3.Session(region_name=region)))
    client.create_model(**local_form(model))
    client.create_endpoint_config(**local_form(config))
    client.create_endpoint(**local_form(endpoint))

    def stop() -> None:
        client.delete_endpoint(EndpointName=endpoint["EndpointName"])
        client.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
        client.delete_model(ModelName=model["ModelName"])
        wait_for_serving_port()

    return stop
