"""The built-in trainer's hyperparameters: names, types, defaults, limits, and how SageMaker's keys map to them.

SageMaker stores every value as a string, and SDK >= 2.110 JSON-encodes it first (`"\\"0.01\\""`, `"true"`,
`"10"`); both encodings are accepted. Dashes in names are read as underscores (`batch-size` == `batch_size`,
seed 004). Unknown names are rejected, except:
  - `sagemaker_*` keys the SDK injects (sagemaker_program, sagemaker_submit_directory, sagemaker_region,
    sagemaker_job_name, sagemaker_container_log_level, ...): accepted and ignored, returned as the ignored
    names; the distribution ones are mapped (see `_SAGEMAKER_KEYS`).
  - `model_dir`: the SDK's TensorFlow estimator injects an S3 URI; the model always goes to `<root>/model`.
  - `_tuning_objective_metric`: SageMaker Automatic Model Tuning adds it to every trial.
With `sagemaker_program` set the job is a user's script (`train_container.mode`) and this table does not apply.
Pure: no files, no environment (`train_container.contract` reads hyperparameters.json and calls this).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from train_container.errors import ConfigError

DISTRIBUTIONS = ("auto", "single", "mirrored", "horovod", "multiworker", "parameter_server")
MODELS = ("cnn", "mobilenet_v2")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
CACHE_MODES = ("auto", "memory", "none")
LR_SCALINGS = ("linear", "none")
MOBILENET_WEIGHTS = ("none", "imagenet")
IMAGE_LAYOUTS = ("hwc", "chw")
DEFAULT_IMAGE_SIZE = 32
# The stored pixels' shape, separate from the model's input size (image_size): 784 floats are 28x28x1 whatever
# size the model takes; only needed when the data itself cannot tell (non-square, no shape features).
_RAW_SHAPE = re.compile(r"([1-9]\d*)x([1-9]\d*)(x[134])?", re.IGNORECASE)
# Smallest side each model accepts: the cnn's two valid convs + pools reach 0 pixels below 10; Keras's
# MobileNetV2 refuses inputs under 32.
MODEL_MIN_IMAGE_SIDE = MappingProxyType({"cnn": 10, "mobilenet_v2": 32})


def model_channels(model: str, mobilenet_weights: str, stored_channels: int | None) -> int:
    """The model's input channels: 1 for grey data (raw/array pixels with one channel), else RGB. ImageNet weights
    were trained on RGB: grey is then repeated into 3 channels. Encoded images and folders (stored_channels None)
    stay RGB: a JPEG set may mix grey and colour files."""
    pretrained = model == "mobilenet_v2" and mobilenet_weights == "imagenet"
    return 1 if stored_channels == 1 and not pretrained else 3


@dataclass(frozen=True)
class _Spec:
    kind: type
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    check: Callable[[Any], bool] | None = None
    hint: str = ""


# name -> spec. Optional ones default to None. See README "Hyperparameters" for the user-facing table.
HYPERPARAMETERS: Mapping[str, _Spec] = MappingProxyType(
    {
        "epochs": _Spec(int, 10, minimum=1),
        "batch_size": _Spec(int, 64, minimum=1, hint="per replica; global batch = batch_size x replicas"),
        "learning_rate": _Spec(float, 0.001, check=lambda v: v > 0, hint="> 0; scaled by lr_scaling"),
        "lr_scaling": _Spec(str, "linear", choices=LR_SCALINGS),
        "warmup_epochs": _Spec(int, 0, minimum=0),
        "optimizer": _Spec(str, "adam", choices=OPTIMIZERS),
        "momentum": _Spec(float, 0.9, check=lambda v: 0 <= v < 1, hint="in [0, 1)"),
        "weight_decay": _Spec(float, 0.0, minimum=0),
        "model": _Spec(str, "cnn", choices=MODELS),
        "mobilenet_weights": _Spec(str, "none", choices=MOBILENET_WEIGHTS),
        "freeze_base": _Spec(bool, True, hint="only with mobilenet_weights=imagenet"),
        "image_size": _Spec(int, None, minimum=8, hint="sets image_height and image_width"),
        "image_height": _Spec(int, None, minimum=8),
        "image_width": _Spec(int, None, minimum=8),
        "num_classes": _Spec(int, None, minimum=2, hint="defaults to the line count of train/labels.txt"),
        "augment": _Spec(bool, True),
        "shuffle_buffer": _Spec(int, 10000, minimum=0),
        "cache": _Spec(str, "auto", choices=CACHE_MODES),
        "steps_per_epoch": _Spec(int, None, minimum=1),
        "validation_steps": _Spec(int, None, minimum=1),
        "seed": _Spec(int, 42, minimum=0),
        "deterministic": _Spec(bool, False, hint="TF's deterministic ops: the same seed and data repeat the run"),
        "checkpoint_every_epochs": _Spec(int, 1, minimum=0, hint="0 disables checkpoints"),
        "model_version": _Spec(str, "1", check=lambda v: v.isdigit(), hint="digits (TF Serving version)"),
        "source_dir": _Spec(str, None, hint="directory with inference.py/requirements.txt for model/code/"),
        "image_feature_key": _Spec(str, None, hint="default: inferred from the records"),
        "label_feature_key": _Spec(str, None, hint="default: inferred from the records"),
        "image_layout": _Spec(str, None, choices=IMAGE_LAYOUTS, hint="order of raw pixel values; default hwc"),
        "raw_shape": _Spec(str, None, check=lambda v: _RAW_SHAPE.fullmatch(v.strip()) is not None,
                           hint="HxW or HxWxC (C 1, 3 or 4) of raw or flattened pixels; default inferred"),
        "distribution": _Spec(str, "auto", choices=DISTRIBUTIONS),
        "processes_per_host": _Spec(int, None, minimum=1),
        "custom_mpi_options": _Spec(str, ""),
        "cpu_replicas": _Spec(int, 1, minimum=1, hint="logical CPU devices for mirrored without GPUs"),
    }
)
HYPERPARAMETER_NAMES = tuple(HYPERPARAMETERS)

# SageMaker SDK distribution keys -> (our hyperparameter, value when the SDK key is true / passthrough).
_SAGEMAKER_KEYS = {
    "sagemaker_mpi_enabled": ("distribution", "horovod"),
    "sagemaker_parameter_server_enabled": ("distribution", "parameter_server"),
    "sagemaker_multi_worker_mirrored_strategy_enabled": ("distribution", "multiworker"),
    "sagemaker_mpi_num_of_processes_per_host": ("processes_per_host", None),
    "sagemaker_mpi_custom_mpi_options": ("custom_mpi_options", None),
}
_UNSUPPORTED_TRUE_KEYS = {
    "sagemaker_distributed_dataparallel_enabled": "SageMaker distributed data parallel (smdistributed) "
    "is not supported by this image; use distribution=horovod or distribution=multiworker",
}
# model_dir: the SDK's TensorFlow estimator injects an S3 URI. _tuning_objective_metric: Automatic Model Tuning
# adds it to every trial's hyperparameters.
_IGNORED_KEYS = ("model_dir", "_tuning_objective_metric")


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int
    batch_size: int
    learning_rate: float
    lr_scaling: str
    warmup_epochs: int
    optimizer: str
    momentum: float
    weight_decay: float
    model: str
    mobilenet_weights: str
    freeze_base: bool
    image_height: int
    image_width: int
    num_classes: int | None
    augment: bool
    shuffle_buffer: int
    cache: str
    steps_per_epoch: int | None
    validation_steps: int | None
    seed: int
    deterministic: bool
    checkpoint_every_epochs: int
    model_version: str
    source_dir: str | None
    image_feature_key: str | None
    label_feature_key: str | None
    image_layout: str | None
    raw_shape: tuple[int, ...] | None  # (H, W) or (H, W, C)
    distribution: str
    processes_per_host: int | None
    custom_mpi_options: str
    cpu_replicas: int
    # Not a hyperparameter: set from the data by data.resolve_input (hyperparameters.model_channels).
    image_channels: int = 3



def decode_value(raw: Any) -> Any:
    """Undo SDK >= 2.110's JSON encoding when present; plain strings pass through unchanged."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_hyperparameters(raw: Mapping[str, Any]) -> tuple[Hyperparameters, tuple[str, ...]]:
    """Typed, validated hyperparameters plus the names accepted but ignored (sorted)."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    ignored: list[str] = []

    def put(name: str, value: Any, source: str) -> None:
        if name in values and values[name] != value:
            raise ConfigError(
                f"hyperparameter '{source}' ({value!r}) conflicts with '{origin[name]}' ({values[name]!r})"
            )
        values[name] = value
        origin[name] = source

    for key in sorted(raw):
        name = key.replace("-", "_")
        value = decode_value(raw[key])
        if name in HYPERPARAMETERS:
            put(name, _coerce(key, value, HYPERPARAMETERS[name]), key)
        elif name in _UNSUPPORTED_TRUE_KEYS:
            if _coerce(key, value, _Spec(bool)):
                raise ConfigError(f"hyperparameter '{key}': {_UNSUPPORTED_TRUE_KEYS[name]}")
            ignored.append(key)
        elif name in _SAGEMAKER_KEYS:
            target, when_true = _SAGEMAKER_KEYS[name]
            if when_true is None:
                put(target, _coerce(key, value, HYPERPARAMETERS[target]), key)
            elif _coerce(key, value, _Spec(bool)):
                if values.get(target) == "auto":  # an explicit `auto` leaves the choice to SageMaker's flag
                    del values[target]
                put(target, when_true, key)
        elif name.startswith("sagemaker_") or name in _IGNORED_KEYS:
            ignored.append(key)
        else:
            raise ConfigError(
                f"unknown hyperparameter '{key}'; known: {', '.join(HYPERPARAMETER_NAMES)} "
                "(and SageMaker's sagemaker_* keys)"
            )

    size = values.pop("image_size", None)
    for axis in ("image_height", "image_width"):
        values.setdefault(axis, None)
        if values[axis] is None:
            values[axis] = size if size is not None else DEFAULT_IMAGE_SIZE
    for name, spec in HYPERPARAMETERS.items():
        if name != "image_size":
            values.setdefault(name, spec.default)
    if values["raw_shape"] is not None:
        values["raw_shape"] = tuple(int(v) for v in values["raw_shape"].strip().lower().split("x"))
    smallest = MODEL_MIN_IMAGE_SIDE[values["model"]]
    if min(values["image_height"], values["image_width"]) < smallest:
        raise ConfigError(
            f"model '{values['model']}' needs images of at least {smallest}x{smallest} pixels, got "
            f"{values['image_height']}x{values['image_width']} (image_size / image_height / image_width)"
        )
    return Hyperparameters(**values), tuple(ignored)


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def _coerce(key: str, value: Any, spec: _Spec) -> Any:
    if value is None and spec.default is None and spec.kind is not bool:
        return None
    try:
        result = _convert(value, spec.kind)
    except (TypeError, ValueError):
        raise ConfigError(
            f"hyperparameter '{key}' must be {_describe(spec)}, got {value!r}"
        ) from None
    if spec.choices is not None and result not in spec.choices:
        raise ConfigError(f"hyperparameter '{key}' must be one of {', '.join(spec.choices)}, got {value!r}")
    if spec.minimum is not None and result < spec.minimum:
        raise ConfigError(f"hyperparameter '{key}' must be >= {spec.minimum:g}, got {value!r}")
    if spec.check is not None and not spec.check(result):
        raise ConfigError(f"hyperparameter '{key}' must be {_describe(spec)}, got {value!r}")
    return result


def _convert(value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(value)
            return int(value)
        return int(str(value).strip())
    if kind is float:
        if isinstance(value, bool):
            raise TypeError(value)
        result = float(str(value).strip()) if isinstance(value, str) else float(value)
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError(value)
        return result
    if isinstance(value, (dict, list)):
        raise TypeError(value)
    return str(value)


def _describe(spec: _Spec) -> str:
    kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[spec.kind]
    return f"{kind} ({spec.hint})" if spec.hint else kind
