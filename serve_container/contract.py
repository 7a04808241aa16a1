"""The serving contract: every environment variable the container reads, validated once into `Settings`.

Names shared with the SageMaker TensorFlow Serving DLC keep the DLC's spelling and meaning; our own knobs use
the `BYOC_` prefix. Nothing else in this package reads `os.environ`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
ACCEPT_TYPES = ("application/json", "application/jsonlines", "text/csv")
MB = 1024 * 1024
# SageMaker kills the container 30 s after SIGTERM; keep our own drain well inside that.
SIGTERM_BUDGET_SECONDS = 30


class SettingsError(ValueError):
    """A bad environment value; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    port: int = 8080
    workers: int = 1
    threads: int = 4
    gunicorn_timeout_seconds: int = 60
    graceful_timeout_seconds: int = 20
    grpc_deadline_seconds: float = 55.0
    model_name: str = "model"
    model_dir: Path = Path("/opt/ml/model")
    tfs_grpc_port: int = 9000
    tfs_binary: str = "tensorflow_model_server"
    tfs_startup_timeout_seconds: float = 180.0
    tfs_max_restarts: int = 5
    enable_batching: bool = False
    max_batch_size: int = 8
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 1
    max_enqueued_batches: int = 1
    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 0
    batch_strategy: str = "MULTI_RECORD"
    max_image_pixels: int = 25_000_000
    tfrecord_image_key: str = "image/encoded"
    default_accept: str = "application/json"
    top_k: int = 0
    predict_chunk_size: int = 64
    ping_cache_seconds: float = 1.0
    log_level: str = "INFO"
    enable_hooks: bool = True
    install_requirements_at_start: bool = False
    run_dir: Path = Path("/tmp/byoc-serve")

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MB

    @property
    def chunk_size(self) -> int:
        """Records per Predict call: TF Serving's batching refuses a request over max_batch_size."""
        limits = [size for size in (self.predict_chunk_size, self.enable_batching and self.max_batch_size) if size]
        return min(limits) if limits else 0

    @property
    def code_dir(self) -> Path:
        return self.model_dir / "code"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.tfs_grpc_port}"


class _Reader:
    def __init__(self, environ: Mapping[str, str]):
        self.env = environ

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name}={value!r} is not an integer") from None
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise SettingsError(f"{name}={number} must be {bound}")
        return number

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name}={value!r} is not a number") from None
        if not low <= number <= high:
            raise SettingsError(f"{name}={number} must be between {low} and {high}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise SettingsError(f"{name}={value!r} must be 'true' or 'false'")

    def choice(self, name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")
        return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every serving variable; raise SettingsError naming the first bad one."""
    env = _Reader(os.environ if environ is None else environ)
    cpus = os.cpu_count() or 1
    is_batch_transform = env.boolean("SAGEMAKER_BATCH", False)

    model_name = env.raw("SAGEMAKER_TFS_DEFAULT_MODEL_NAME") or "model"
    if not MODEL_NAME_PATTERN.match(model_name):
        raise SettingsError(
            f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME={model_name!r} must match {MODEL_NAME_PATTERN.pattern}"
        )
    workers = env.integer("SAGEMAKER_GUNICORN_WORKERS", 1, 1, 64)
    threads = env.integer("SAGEMAKER_GUNICORN_THREADS", 4, 1, 256)
    timeout = env.integer("SAGEMAKER_GUNICORN_TIMEOUT_SECONDS", 60, 2, 3600)
    deadline = env.number("BYOC_GRPC_DEADLINE_SECONDS", max(1.0, timeout - 5.0), 0.1, 3600)
    if deadline >= timeout:
        raise SettingsError(
            f"BYOC_GRPC_DEADLINE_SECONDS={deadline} must be below "
            f"SAGEMAKER_GUNICORN_TIMEOUT_SECONDS={timeout} so a slow model answers 504 "
            "instead of gunicorn killing the worker"
        )
    graceful = env.integer("BYOC_GRACEFUL_TIMEOUT_SECONDS", 20, 1, SIGTERM_BUDGET_SECONDS - 10)
    port = env.integer("SAGEMAKER_BIND_TO_PORT", 8080, 1, 65535)
    grpc_port = env.integer("BYOC_TFS_GRPC_PORT", 9000, 1, 65535)
    if grpc_port == port:
        raise SettingsError(f"BYOC_TFS_GRPC_PORT={grpc_port} must differ from SAGEMAKER_BIND_TO_PORT")
    default_accept = env.choice("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json", ACCEPT_TYPES)

    return Settings(
        port=port,
        workers=workers,
        threads=threads,
        gunicorn_timeout_seconds=timeout,
        graceful_timeout_seconds=graceful,
        grpc_deadline_seconds=deadline,
        model_name=model_name,
        model_dir=Path(env.raw("BYOC_MODEL_DIR") or "/opt/ml/model"),
        tfs_grpc_port=grpc_port,
        tfs_binary=env.raw("BYOC_TFS_BINARY") or "tensorflow_model_server",
        tfs_startup_timeout_seconds=env.number("BYOC_TFS_STARTUP_TIMEOUT_SECONDS", 180.0, 1.0, 3600.0),
        tfs_max_restarts=env.integer("BYOC_TFS_MAX_RESTARTS", 5, 0, 1000),
        enable_batching=env.boolean("SAGEMAKER_TFS_ENABLE_BATCHING", False),
        max_batch_size=env.integer("SAGEMAKER_TFS_MAX_BATCH_SIZE", 8, 1, 1_000_000),
        batch_timeout_micros=env.integer("SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS", 1000, 0, 60_000_000),
        num_batch_threads=env.integer("SAGEMAKER_TFS_NUM_BATCH_THREADS", cpus, 1, 1024),
        # Batch transform bounds concurrency itself, so the queue may be deep there (as the DLC does).
        max_enqueued_batches=env.integer(
            "SAGEMAKER_TFS_MAX_ENQUEUED_BATCHES",
            100_000_000 if is_batch_transform else cpus,
            1,
            1_000_000_000,
        ),
        intra_op_parallelism=env.integer("SAGEMAKER_TFS_INTRA_OP_PARALLELISM", 0, 0, 1024),
        inter_op_parallelism=env.integer("SAGEMAKER_TFS_INTER_OP_PARALLELISM", 0, 0, 1024),
        max_payload_mb=env.integer("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, 1, 100),
        max_concurrent_transforms=env.integer(
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", workers * threads, 1, 10_000
        ),
        batch_strategy=env.choice("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD", BATCH_STRATEGIES, upper=True),
        max_image_pixels=env.integer("BYOC_MAX_IMAGE_PIXELS", 25_000_000, 1, 1_000_000_000),
        tfrecord_image_key=env.raw("BYOC_TFRECORD_IMAGE_KEY") or "image/encoded",
        default_accept=default_accept,
        top_k=env.integer("BYOC_TOP_K", 0, 0, 1000),
        # Big batches go to TF Serving in chunks so decoding the next overlaps inference of the last; 0 = one call.
        predict_chunk_size=env.integer("BYOC_PREDICT_CHUNK_SIZE", 64, 0, 1_000_000),
        ping_cache_seconds=env.number("BYOC_PING_CACHE_SECONDS", 1.0, 0.0, 60.0),
        log_level=env.choice("BYOC_LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        enable_hooks=env.boolean("BYOC_ENABLE_HOOKS", True),
        install_requirements_at_start=env.boolean("BYOC_INSTALL_REQUIREMENTS_AT_START", False),
        run_dir=Path(env.raw("BYOC_SERVE_RUN_DIR") or "/tmp/byoc-serve"),
    )
