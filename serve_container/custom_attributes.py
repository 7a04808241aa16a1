"""Routing from the `X-Amzn-SageMaker-Custom-Attributes` header (DLC-compatible `tfs-*` keys)."""

from __future__ import annotations

import dataclasses
import functools
import re

from serve_container.contract import MODEL_NAME_PATTERN
from serve_container.errors import BadRequest

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
_ATTRIBUTE = re.compile(r"^\s*(tfs-[a-z\-]+)=([^,]*)\s*$")
_VERSION = re.compile(r"^[0-9]{1,18}$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
SUPPORTED_METHODS = ("predict", "classify", "regress")
_KEYS = ("tfs-model-name", "tfs-model-version", "tfs-method", "tfs-signature-name")


@dataclasses.dataclass(frozen=True)
class Route:
    model_name: str
    version: int | None = None
    method: str = "predict"
    signature_name: str | None = None


def parse_route(header: str | None, default_model: str) -> Route:
    """Validate every `tfs-*` attribute; other attributes belong to the user and pass untouched."""
    if not header:  # most requests: the model's defaults, the same Route every time
        return _default_route(default_model)
    found: dict[str, str] = {}
    for part in (header or "").split(","):
        if not part.strip().startswith("tfs-"):
            continue
        match = _ATTRIBUTE.match(part)
        if not match or match.group(1) not in _KEYS:
            raise BadRequest(f"invalid custom attribute {part.strip()!r}; known: {', '.join(_KEYS)}")
        found[match.group(1)] = match.group(2).strip()
    name = found.get("tfs-model-name", default_model)
    if not MODEL_NAME_PATTERN.match(name):
        raise BadRequest(f"tfs-model-name={name!r} is not a valid model name")
    version = found.get("tfs-model-version")
    if version is not None and not _VERSION.match(version):
        raise BadRequest(f"tfs-model-version={version!r} must be a number")
    method = found.get("tfs-method", "predict")
    if method not in SUPPORTED_METHODS:
        raise BadRequest(f"tfs-method={method!r} is not supported; use {', '.join(SUPPORTED_METHODS)}")
    signature = found.get("tfs-signature-name")
    if signature is not None and not _SIGNATURE.match(signature):
        raise BadRequest(f"tfs-signature-name={signature!r} is not a valid signature name")
    return Route(name, int(version) if version is not None else None, method, signature)


@functools.lru_cache(maxsize=1024)
def _default_route(model: str) -> Route:
    return parse_route("tfs-method=predict", model)
