"""The SageMaker training contract: every path, env var and hyperparameter, read and validated once.

`load()` builds one frozen `TrainingEnv` from `<root>/input/config/*.json`, the channel directories and the
process environment; everything else in `train_container` receives that object (no `os.environ` elsewhere).
Root is `$SM_BASE_DIR` or `/opt/ml`. No TensorFlow here: the launch scripts import the names below.

Hyperparameters (`input/config/hyperparameters.json`): SageMaker stores every value as a string, and SDK
>= 2.110 JSON-encodes it first (`"\\"0.01\\""`, `"true"`, `"10"`); both encodings are accepted. Dashes in
names are read as underscores (`batch-size` == `batch_size`, seed 004). Unknown names are rejected, except:
  - `sagemaker_*` keys the SDK injects (sagemaker_program, sagemaker_submit_directory, sagemaker_region,
    sagemaker_job_name, sagemaker_container_log_level, ...): accepted and ignored, listed in
    `TrainingEnv.ignored_hyperparameters`; the distribution ones are mapped (see `_SAGEMAKER_KEYS`).
  - `model_dir`: the SDK's TensorFlow estimator injects an S3 URI; the model always goes to `<root>/model`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from train_container.errors import ConfigError

ROOT_ENV = "SM_BASE_DIR"
DEFAULT_ROOT = "/opt/ml"
NUM_GPUS_ENV = "SM_NUM_GPUS"
NUM_CPUS_ENV = "SM_NUM_CPUS"
TF_CONFIG_ENV = "TF_CONFIG"
# Set by mpirun (OpenMPI) for each rank; horovodrun's Gloo launcher sets the HOROVOD_* twins.
MPI_RANK_ENVS = ("OMPI_COMM_WORLD_RANK", "HOROVOD_RANK")
MPI_SIZE_ENVS = ("OMPI_COMM_WORLD_SIZE", "HOROVOD_SIZE")
MPI_LOCAL_RANK_ENVS = ("OMPI_COMM_WORLD_LOCAL_RANK", "HOROVOD_LOCAL_RANK")
MPI_LOCAL_SIZE_ENVS = ("OMPI_COMM_WORLD_LOCAL_SIZE", "HOROVOD_LOCAL_SIZE")
# Set for this process before TensorFlow is imported (see `apply_runtime_env`): tf_keras is our Keras
# (Keras 3 cannot be used with Horovod 0.28), and TF's C++ INFO logs drown the metrics lines.
RUNTIME_ENV_DEFAULTS = MappingProxyType({"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
EVAL_CHANNEL = "eval"
LABELS_FILE = "labels.txt"
INPUT_MODES = ("File", "Pipe", "FastFile")

DISTRIBUTIONS = ("auto", "single", "mirrored", "horovod", "multiworker", "parameter_server")
MODELS = ("cnn", "mobilenet_v2")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
CACHE_MODES = ("auto", "memory", "none")
LR_SCALINGS = ("linear", "none")
MOBILENET_WEIGHTS = ("none", "imagenet")
DEFAULT_IMAGE_SIZE = 32
# Smallest side each model accepts: the cnn's two valid convs + pools reach 0 pixels below 10; Keras's
# MobileNetV2 refuses inputs under 32.
MODEL_MIN_IMAGE_SIDE = MappingProxyType({"cnn": 10, "mobilenet_v2": 32})


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
        "checkpoint_every_epochs": _Spec(int, 1, minimum=0, hint="0 disables checkpoints"),
        "model_version": _Spec(str, "1", check=lambda v: v.isdigit(), hint="digits (TF Serving version)"),
        "source_dir": _Spec(str, None, hint="directory with inference.py/requirements.txt for model/code/"),
        "image_feature_key": _Spec(str, "image/encoded"),
        "label_feature_key": _Spec(str, "image/class/label"),
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
_IGNORED_KEYS = ("model_dir",)


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
    checkpoint_every_epochs: int
    model_version: str
    source_dir: str | None
    image_feature_key: str
    label_feature_key: str
    distribution: str
    processes_per_host: int | None
    custom_mpi_options: str
    cpu_replicas: int


@dataclass(frozen=True)
class Channel:
    name: str
    path: Path
    input_mode: str = "File"
    content_type: str | None = None
    # ShardedByS3Key: each host already received a different subset of the objects.
    sharded_by_s3_key: bool = False

    def fifo(self, epoch: int) -> Path:
        """Pipe mode: SageMaker opens a new FIFO `<channel>_<epoch>` (0-based) under input/data/ per pass."""
        return self.path.parent / f"{self.name}_{epoch}"


@dataclass(frozen=True)
class ResourceConfig:
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    network_interface_name: str = "eth0"

    @property
    def host_rank(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def is_master_host(self) -> bool:
        return self.host_rank == 0


@dataclass(frozen=True)
class ProcessEnv:
    """How this process was started: by mpirun (rank facts) and/or with a TF_CONFIG."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    under_mpi: bool = False
    tf_config: Mapping[str, Any] | None = None
    # Names (not values) of this process's environment: the launcher forwards a subset to mpirun ranks.
    env_names: tuple[str, ...] = ()
    # Names (not values) of the launcher's environment: mpirun's `-x NAME` forwards them to every rank.
    env_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingEnv:
    root: Path
    hyperparameters: Hyperparameters
    channels: Mapping[str, Channel]
    resource: ResourceConfig
    process: ProcessEnv
    num_cpus: int
    num_gpus: int
    memory_bytes: int
    labels: tuple[str, ...]
    ignored_hyperparameters: tuple[str, ...] = ()
    raw_hyperparameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def export_dir(self) -> Path:
        return self.model_dir / self.hyperparameters.model_version

    @property
    def code_dir(self) -> Path:
        return self.model_dir / "code"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        # SageMaker syncs this local path with CheckpointConfig.S3Uri (its default LocalPath).
        return self.root / "checkpoints"

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def channel(self, name: str) -> Channel | None:
        return self.channels.get(name)


def runtime_env(settings: TrainingEnv) -> dict[str, str]:
    """Environment this process needs before TensorFlow is imported (user-set values win)."""
    env = dict(RUNTIME_ENV_DEFAULTS)
    hp = settings.hyperparameters
    if hp.cpu_replicas > 1 and settings.num_gpus == 0 and hp.distribution in ("auto", "mirrored"):
        # TF 2.16's oneDNN graph rewrites break MirroredStrategy over logical CPU devices on a partial
        # batch ("input depth must be evenly divisible by filter depth: 3 vs 32"); plain kernels work.
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


def apply_runtime_env(env: Mapping[str, str] = RUNTIME_ENV_DEFAULTS) -> None:
    for name, value in env.items():
        os.environ.setdefault(name, value)


def root_from_env(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(ROOT_ENV) or DEFAULT_ROOT)


def load(root: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> TrainingEnv:
    """Read and validate everything once. Raises ConfigError with one line naming the bad key/file."""
    environ = dict(os.environ if environ is None else environ)
    root_path = Path(root) if root is not None else root_from_env(environ)
    config_dir = root_path / "input" / "config"
    raw = _read_json(config_dir / "hyperparameters.json", default={})
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_dir / 'hyperparameters.json'} must hold a JSON object")
    hyperparameters, ignored = parse_hyperparameters(raw)
    channels = read_channels(root_path)
    if TRAIN_CHANNEL not in channels:
        raise ConfigError(
            f"no '{TRAIN_CHANNEL}' channel: expected {root_path / 'input' / 'data' / TRAIN_CHANNEL} "
            f"or a '{TRAIN_CHANNEL}' entry in inputdataconfig.json"
        )
    resource = read_resource_config(config_dir / "resourceconfig.json")
    labels = resolve_labels(channels[TRAIN_CHANNEL], hyperparameters.num_classes)
    if hyperparameters.source_dir is not None:
        source = resolve_source_dir(root_path, hyperparameters.source_dir)
        hyperparameters = replace(hyperparameters, source_dir=str(source))
    return TrainingEnv(
        root=root_path,
        hyperparameters=hyperparameters,
        channels=MappingProxyType(channels),
        resource=resource,
        process=read_process_env(environ),
        num_cpus=_count_env(environ, NUM_CPUS_ENV, default=_visible_cpus()),
        num_gpus=_count_env(environ, NUM_GPUS_ENV, default=_visible_gpus()),
        memory_bytes=_memory_limit(),
        labels=labels,
        ignored_hyperparameters=ignored,
        raw_hyperparameters=MappingProxyType(dict(raw)),
    )


# ---------------------------------------------------------------- hyperparameters


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


# ---------------------------------------------------------------- config files and channels


def _read_json(path: Path, default: Any) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def read_resource_config(path: Path) -> ResourceConfig:
    data = _read_json(path, default=None)
    if data is None:
        return ResourceConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    hosts = data.get("hosts", ["algo-1"])
    current = data.get("current_host", hosts[0] if hosts else "algo-1")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ConfigError(f"{path}: 'hosts' must be a non-empty list of host names")
    if current not in hosts:
        raise ConfigError(f"{path}: current_host {current!r} is not in hosts {hosts}")
    iface = data.get("network_interface_name", "eth0")
    if not isinstance(iface, str) or not iface:
        raise ConfigError(f"{path}: 'network_interface_name' must be a non-empty string")
    return ResourceConfig(current_host=current, hosts=tuple(hosts), network_interface_name=iface)


def read_channels(root: Path) -> dict[str, Channel]:
    """Channels from inputdataconfig.json, else (local runs) every directory under input/data/."""
    data_dir = root / "input" / "data"
    path = root / "input" / "config" / "inputdataconfig.json"
    config = _read_json(path, default=None)
    if config is None:
        if not data_dir.is_dir():
            return {}
        return {p.name: Channel(p.name, p) for p in sorted(data_dir.iterdir()) if p.is_dir()}
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a JSON object of channels")
    channels = {}
    for name, spec in config.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: channel '{name}' must be a JSON object")
        mode = spec.get("TrainingInputMode", "File")
        if mode not in INPUT_MODES:
            raise ConfigError(
                f"{path}: channel '{name}' TrainingInputMode must be one of "
                f"{', '.join(INPUT_MODES)}, got {mode!r}"
            )
        channels[name] = Channel(
            name=name,
            path=data_dir / name,
            input_mode=mode,
            content_type=spec.get("ContentType"),
            sharded_by_s3_key=spec.get("S3DistributionType") == "ShardedByS3Key",
        )
    return channels


def resolve_labels(train: Channel, num_classes: int | None) -> tuple[str, ...]:
    """Class names from train/labels.txt (written by prepare_data); else `class_<i>` for num_classes."""
    path = train.path / LABELS_FILE
    labels: tuple[str, ...] = ()
    if train.input_mode != "Pipe" and path.is_file():
        labels = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
        if len(labels) < 2:
            raise ConfigError(f"{path} must list at least 2 class names, one per line")
    if num_classes is None:
        if not labels:
            raise ConfigError(
                f"set the 'num_classes' hyperparameter or provide {path} (one class name per line)"
            )
        return labels
    if labels and len(labels) != num_classes:
        raise ConfigError(f"num_classes={num_classes} but {path} lists {len(labels)} classes")
    return labels or tuple(f"class_{i}" for i in range(num_classes))


def resolve_source_dir(root: Path, value: str) -> Path:
    """Absolute, or relative to the root (e.g. `input/data/code` for a channel carrying the user's code)."""
    path = Path(value)
    path = path if path.is_absolute() else root / path
    if not path.is_dir():
        raise ConfigError(f"hyperparameter 'source_dir': {path} is not a directory")
    return path


# ---------------------------------------------------------------- process environment


def read_process_env(environ: Mapping[str, str]) -> ProcessEnv:
    def first_int(names: tuple[str, ...], default: int) -> int:
        for name in names:
            if environ.get(name, "") != "":
                return _parse_int_env(name, environ[name])
        return default

    size = first_int(MPI_SIZE_ENVS, 1)
    rank = first_int(MPI_RANK_ENVS, 0)
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"MPI rank {rank} is not within world size {size}")
    tf_config = None
    if environ.get(TF_CONFIG_ENV):
        try:
            tf_config = json.loads(environ[TF_CONFIG_ENV])
        except ValueError as exc:
            raise ConfigError(f"environment variable {TF_CONFIG_ENV} is not valid JSON: {exc}") from None
        if not isinstance(tf_config, dict):
            raise ConfigError(f"environment variable {TF_CONFIG_ENV} must be a JSON object")
        tf_config = MappingProxyType(tf_config)
    return ProcessEnv(
        rank=rank,
        size=size,
        local_rank=first_int(MPI_LOCAL_RANK_ENVS, 0),
        local_size=first_int(MPI_LOCAL_SIZE_ENVS, 1),
        under_mpi=any(environ.get(name, "") != "" for name in MPI_SIZE_ENVS),
        tf_config=tf_config,
        env_names=tuple(sorted(environ)),
    )


def _parse_int_env(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {value!r}") from None


def _count_env(environ: Mapping[str, str], name: str, default: int) -> int:
    if environ.get(name, "") == "":
        return default
    count = _parse_int_env(name, environ[name])
    if count < 0:
        raise ConfigError(f"environment variable {name} must be >= 0, got {count}")
    return count


def _visible_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_NVIDIA_DEVICE = re.compile(r"^nvidia\d+$")


def _visible_gpus() -> int:
    # The NVIDIA container runtime exposes exactly the job's GPUs as /dev/nvidia<N>: no TF, no nvidia-smi.
    try:
        return sum(1 for name in os.listdir("/dev") if _NVIDIA_DEVICE.match(name))
    except OSError:
        return 0


_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _memory_limit() -> int:
    """Physical memory, capped by the container's cgroup limit (what `cache=auto` may use)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        total = 0
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text)) if total else int(text)
    return total
