"""The SageMaker training contract: every path, env var and hyperparameter, read and validated once.

`load()` builds one frozen `TrainingEnv` from `<root>/input/config/*.json`, the channel directories and the
process environment; everything else in `train_container` receives that object (no `os.environ` elsewhere).
Root is `$SM_BASE_DIR` or `/opt/ml`. No TensorFlow here: the launch scripts import the names below.

Hyperparameters: `read_raw_hyperparameters` reads the file; `train_container.hyperparameters` types and validates
them (the table, SageMaker's keys, the encodings).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from train_container.errors import ConfigError
from train_container.hyperparameters import Hyperparameters, parse_hyperparameters

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
# `estimator.fit("s3://...")` (one unnamed input) creates the channel `training`: read as the train channel.
TRAIN_CHANNEL_ALIAS = "training"
# Set by SageMaker in every training container; checkpoints live in a subfolder named after it.
JOB_NAME_ENV = "TRAINING_JOB_NAME"
_JOB_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")
VALIDATION_CHANNEL = "validation"
EVAL_CHANNEL = "eval"
LABELS_FILE = "labels.txt"
INPUT_MODES = ("File", "Pipe", "FastFile")

@dataclass(frozen=True)
class Channel:
    name: str
    path: Path
    input_mode: str = "File"
    content_type: str | None = None
    # ShardedByS3Key: each host already received a different subset of the objects.
    sharded_by_s3_key: bool = False
    # inputdataconfig CompressionType: "Gzip" or None (SageMaker's "None").
    compression: str | None = None
    # numpy channels: which `<prefix>_data.npy` pair of the directory to read (None: find_arrays decides). Set for
    # the validation split the trainer takes from the train channel's own `eval_*` pair (numpy_input.resolve).
    array_prefix: str | None = None

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
    job_name: str | None = None

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
        # SageMaker syncs <root>/checkpoints with CheckpointConfig.S3Uri (its default LocalPath). Tuning trials
        # may share one S3 URI: a subfolder per job keeps them from resuming each other's checkpoints, while a
        # spot restart (same job name) still finds its own.
        base = self.root / "checkpoints"
        return base / self.job_name if self.job_name else base

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
    raw = read_raw_hyperparameters(root_path)
    hyperparameters, ignored = parse_hyperparameters(raw)
    channels = read_channels(root_path)
    if TRAIN_CHANNEL not in channels and TRAIN_CHANNEL_ALIAS in channels:
        channels[TRAIN_CHANNEL] = channels.pop(TRAIN_CHANNEL_ALIAS)  # keeps its name: paths and FIFOs unchanged
    if TRAIN_CHANNEL not in channels:
        raise ConfigError(
            f"no '{TRAIN_CHANNEL}' channel (nor '{TRAIN_CHANNEL_ALIAS}'): expected "
            f"{root_path / 'input' / 'data' / TRAIN_CHANNEL} or a '{TRAIN_CHANNEL}' entry in inputdataconfig.json"
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
        num_cpus=count_env(environ, NUM_CPUS_ENV, default=visible_cpus()),
        num_gpus=count_env(environ, NUM_GPUS_ENV, default=visible_gpus()),
        memory_bytes=_memory_limit(),
        labels=labels,
        ignored_hyperparameters=ignored,
        raw_hyperparameters=MappingProxyType(dict(raw)),
        job_name=read_job_name(environ),
    )


def read_job_name(environ: Mapping[str, str]) -> str | None:
    """TRAINING_JOB_NAME (SageMaker's job names: 1-63 letters, digits and dashes); None outside SageMaker."""
    name = environ.get(JOB_NAME_ENV, "")
    if not name:
        return None
    if not _JOB_NAME.match(name):
        raise ConfigError(f"environment variable {JOB_NAME_ENV} is not a SageMaker job name: {name!r}")
    return name


# ---------------------------------------------------------------- hyperparameters file


def read_raw_hyperparameters(root: Path) -> dict[str, Any]:
    """`input/config/hyperparameters.json` as SageMaker wrote it (values still strings); {} when absent."""
    path = Path(root) / "input" / "config" / "hyperparameters.json"
    raw = read_json(path, default={})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return raw


# ---------------------------------------------------------------- config files and channels


def read_json(path: Path, default: Any) -> Any:
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
    data = read_json(path, default=None)
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
    config = read_json(path, default=None)
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
            compression=_compression(path, name, spec.get("CompressionType")),
        )
    return channels


def _compression(path: Path, channel: str, value: Any) -> str | None:
    if value in (None, "None"):
        return None
    if value != "Gzip":
        raise ConfigError(f"{path}: channel '{channel}' CompressionType must be None or Gzip, got {value!r}")
    return value


def resolve_labels(train: Channel, num_classes: int | None) -> tuple[str, ...]:
    """Class names from train/labels.txt (written by prepare_data); else `class_<i>` for num_classes."""
    path = train.path / LABELS_FILE
    labels: tuple[str, ...] = ()
    if train.input_mode != "Pipe" and path.is_file():
        labels = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
        if len(labels) < 2:
            raise ConfigError(f"{path} must list at least 2 class names, one per line")
    if num_classes is None:
        if not labels and train.input_mode == "Pipe":
            raise ConfigError(
                "set the 'num_classes' hyperparameter: a Pipe-mode channel cannot be read twice to count "
                "the classes (or provide labels.txt in a File-mode train channel)"
            )
        # Empty: counted from the records' labels before training (data.resolve_input).
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


def count_env(environ: Mapping[str, str], name: str, default: int) -> int:
    if environ.get(name, "") == "":
        return default
    count = _parse_int_env(name, environ[name])
    if count < 0:
        raise ConfigError(f"environment variable {name} must be >= 0, got {count}")
    return count


def visible_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_NVIDIA_DEVICE = re.compile(r"^nvidia\d+$")


def visible_gpus() -> int:
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
