"""The scripts package's one contract: environment, validated values and the DLC base image table.

Every CLI builds a frozen `Settings` from its flags plus the environment here, and validates user values
with the `check_*` helpers; nothing else in `scripts/` reads `os.environ`. boto3 itself honours
`AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), which is how tests point everything at moto.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGES_FILE = REPO_ROOT / "docker" / "base_images.json"

ENV_REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENV_ROLE = "SAGEMAKER_ROLE_ARN"
# Overrides the registry host we push to (tests run a local docker-registry; ECR is the default).
ENV_REGISTRY = "BYOC_REGISTRY"

DEVICES = ("cpu", "gpu")
IMAGE_KINDS = ("training", "inference")

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_S3_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
_ECR_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)(?::(?P<tag>[\w][\w.-]{0,127})|@sha256:[0-9a-f]{64})$"
)
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class ConfigError(ValueError):
    """A user-facing value is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    region: str
    role_arn: str | None
    registry_override: str | None  # push to this registry host instead of ECR's (tests: a local registry)


def load_settings(
    region: str | None = None,
    role_arn: str | None = None,
    *,
    require_role: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Flags win over the environment; a missing region (or role, when required) is an error, not a guess."""
    env = os.environ if environ is None else environ
    region = region or next((env[name] for name in ENV_REGION if env.get(name)), None)
    if not region:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION")
    role_arn = role_arn or env.get(ENV_ROLE) or None
    if require_role and not role_arn:
        raise ConfigError(f"no execution role: pass --role or set {ENV_ROLE}")
    return Settings(
        region=check_region(region),
        role_arn=check_role_arn(role_arn) if role_arn else None,
        registry_override=env.get(ENV_REGISTRY) or None,
    )


def quiet_tensorflow() -> None:
    """Before a CLI imports TensorFlow: keep its C++ start-up banner out of the one-line output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def check_region(value: str) -> str:
    if not _REGION_RE.match(value):
        raise ConfigError(f"malformed AWS region {value!r} (expected e.g. us-east-1)")
    return value


def check_role_arn(value: str) -> str:
    if not _ROLE_RE.match(value):
        raise ConfigError(f"malformed IAM role ARN {value!r} (expected arn:aws:iam::<account>:role/<name>)")
    return value


def check_s3_uri(value: str, what: str = "S3 URI") -> str:
    match = _S3_RE.match(value)
    if not match or ".." in match["bucket"]:
        raise ConfigError(f"malformed {what} {value!r} (expected s3://<bucket>/<prefix>)")
    return value


def split_s3_uri(value: str) -> tuple[str, str]:
    match = _S3_RE.match(check_s3_uri(value))
    return match["bucket"], match["key"] or ""


def check_ecr_image_uri(value: str) -> str:
    """SageMaker only runs images from ECR; a Docker Hub or local reference fails late and obscurely."""
    if not _ECR_RE.match(value):
        raise ConfigError(
            f"not an ECR image URI {value!r} (expected <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)"
        )
    return value


def check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value):
        raise ConfigError(f"malformed {what} {value!r} (1-63 letters, digits and hyphens)")
    return value


def check_instance_type(value: str, usage: str) -> str:
    """`usage` is training | hosting | transform | processing: SageMaker accepts different families for each."""
    allowed = _instance_types(usage)
    if value not in allowed:
        raise ConfigError(f"unknown {usage} instance type {value!r} (e.g. {sorted(allowed)[0]})")
    return value


@cache
def _instance_types(usage: str) -> frozenset[str]:
    # botocore ships the API's own enum of instance types, so the list stays as current as boto itself.
    import botocore.session

    shape = {
        "training": "TrainingInstanceType",
        "hosting": "ProductionVariantInstanceType",
        "transform": "TransformInstanceType",
        "processing": "ProcessingInstanceType",
    }[usage]
    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(shape).enum)


def dlc_base_image(kind: str, device: str, region: str, table_file: Path = BASE_IMAGES_FILE) -> str:
    """URI of the AWS Deep Learning Container we build on, from the one table in docker/base_images.json."""
    if kind not in IMAGE_KINDS:
        raise ConfigError(f"unknown image kind {kind!r} (expected one of {', '.join(IMAGE_KINDS)})")
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r} (expected one of {', '.join(DEVICES)})")
    check_region(region)
    table = _load_table(table_file)
    try:
        account = table["accounts"].get(region, table["default_account"])
        domain = table["domains"].get(region, table["domains"]["default"])
        image = table["images"][kind]
        return f"{account}.dkr.ecr.{region}.{domain}/{image['repository']}:{image[device]}"
    except (KeyError, AttributeError) as error:
        raise ConfigError(f"the DLC base image table {table_file} lacks {error}") from error


@cache
def _load_table(table_file: Path) -> dict:
    try:
        return json.loads(table_file.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the DLC base image table {table_file}: {error}") from error
