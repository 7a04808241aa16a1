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

from serve_container.errors import SettingsError

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
ACCEPT_TYPES = ("application/json", "application/jsonlines", "text/csv")
MB = 1024 * 1024
PAYLOAD_CEILING_MB = 1024  # asynchronous inference's maximum payload
# SageMaker kills the container 30 s after SIGTERM; keep our own drain well inside that.
SIGTERM_BUDGET_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every value is set by load_settings, the one place that states the defaults."""

    port: int
    workers: int
    threads: int
    gunicorn_timeout_seconds: int
    graceful_timeout_seconds: int
    grpc_deadline_seconds: float
    model_name: str
    default_model_explicit: bool  # SAGEMAKER_TFS_DEFAULT_MODEL_NAME was set: it must name a model
    model_dir: Path
    multi_model: bool
    mme_memory_reserve_mb: int
    mme_page_size: int
    mme_load_timeout_seconds: float
    tfs_grpc_port: int
    tfs_rest_port: int
    tfs_binary: str
    tfs_startup_timeout_seconds: float
    tfs_max_restarts: int
    enable_batching: bool
    max_batch_size: int
    batch_timeout_micros: int
    num_batch_threads: int
    max_enqueued_batches: int
    intra_op_parallelism: int
    inter_op_parallelism: int
    omp_num_threads: str  # OMP_NUM_THREADS for TF Serving and the workers (OpenMP / OpenBLAS pools)
    max_payload_mb: int
    max_concurrent_transforms: int
    batch_strategy: str
    max_image_pixels: int
    tfrecord_image_key: str | None  # None: the model's assets/input_schema.json says
    default_accept: str
    top_k: int
    predict_chunk_size: int
    ping_cache_seconds: float
    log_level: str
    enable_hooks: bool
    install_requirements_at_start: bool
    run_dir: Path

    @property
    def max_payload_bytes(self) -> int:
        # 0 is the API's "no payload limit" (batch transform streaming); asynchronous inference's 1 GB still bounds it.
        return (self.max_payload_mb or PAYLOAD_CEILING_MB) * MB

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

    @property
    def rest_base(self) -> str:
        return f"http://127.0.0.1:{self.tfs_rest_port}"


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


def _internal_ports(env: _Reader, public_port: int) -> tuple[int, int]:
    """TF Serving's gRPC and REST ports. SAGEMAKER_SAFE_PORT_RANGE ("low-high") is where SageMaker lets a
    container listen when several share a network namespace (multi-container endpoints, inference pipelines):
    both ports come from its start unless BYOC_TFS_GRPC_PORT / BYOC_TFS_REST_PORT say otherwise."""
    low, high, default_grpc, default_rest = 1, 65535, 9000, 8501
    safe = env.raw("SAGEMAKER_SAFE_PORT_RANGE")
    if safe is not None:
        match = re.fullmatch(r"([0-9]{1,5})-([0-9]{1,5})", safe)
        if not match or not 1 <= int(match.group(1)) < int(match.group(2)) <= 65535:
            raise SettingsError(f"SAGEMAKER_SAFE_PORT_RANGE={safe!r} must be 'low-high' with low < high <= 65535")
        low, high = int(match.group(1)), int(match.group(2))
        default_grpc, default_rest = low, low + 1
    where = f" (inside SAGEMAKER_SAFE_PORT_RANGE={safe})" if safe is not None else ""
    grpc_port = env.integer("BYOC_TFS_GRPC_PORT", default_grpc, low, high)
    rest_port = env.integer("BYOC_TFS_REST_PORT", default_rest, low, high)
    if grpc_port == rest_port:
        raise SettingsError(f"BYOC_TFS_REST_PORT={rest_port} must differ from BYOC_TFS_GRPC_PORT{where}")
    for name, value in (("BYOC_TFS_GRPC_PORT", grpc_port), ("BYOC_TFS_REST_PORT", rest_port)):
        if value == public_port:
            raise SettingsError(f"{name}={value} must differ from SAGEMAKER_BIND_TO_PORT{where}")
    return grpc_port, rest_port


TRANSFORM_PAYLOAD_BUDGET_MB = 100  # Batch Transform: MaxPayloadInMB x MaxConcurrentTransforms <= 100


def _concurrent_transforms(in_flight: int, max_payload_mb: int) -> int:
    """GET /execution-parameters' MaxConcurrentTransforms: as many requests as the workers serve at once, within
    Batch Transform's payload budget for the MaxPayloadInMB answered beside it (0 MB: no limit, no budget)."""
    if not max_payload_mb:
        return in_flight
    return max(1, min(in_flight, TRANSFORM_PAYLOAD_BUDGET_MB // max_payload_mb))


def _omp_threads(env: _Reader) -> str:
    value = env.raw("OMP_NUM_THREADS") or "1"
    # OpenMP's own syntax: a thread count, or one per nesting level ("4,2").
    if not re.fullmatch(r"[1-9][0-9]{0,3}(,[1-9][0-9]{0,3})*", value):
        raise SettingsError(f"OMP_NUM_THREADS={value!r} must be a positive thread count (or counts per level: 4,2)")
    return value


# glibc malloc in the gunicorn workers: request-sized buffers (a 256x32x32x3 batch is 0.8 MB, and a request copies
# it several times on its way into a PredictRequest) stay on the heap and are reused, instead of an mmap + munmap
# each whose fresh pages fault in on every request (measured: 12 -> 9 ms of CPU per 256-record request). Freed
# memory up to the trim threshold stays mapped. A value the container is given wins.
GUNICORN_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(16 * MB), "MALLOC_TRIM_THRESHOLD_": str(64 * MB)}


def child_environment(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment TF Serving starts with: ours plus the thread settings decided here."""
    env = dict(os.environ if environ is None else environ)
    env["OMP_NUM_THREADS"] = settings.omp_num_threads
    return env


def gunicorn_environment(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment gunicorn starts with: TF Serving's plus the malloc tuning above."""
    env = child_environment(settings, environ)
    for name, value in GUNICORN_MALLOC.items():
        env.setdefault(name, value)
    return env


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every serving variable; raise SettingsError naming the first bad one."""
    env = _Reader(os.environ if environ is None else environ)
    cpus = os.cpu_count() or 1
    is_batch_transform = env.boolean("SAGEMAKER_BATCH", False)

    explicit_name = env.raw("SAGEMAKER_TFS_DEFAULT_MODEL_NAME")
    model_name = explicit_name or "model"
    if not MODEL_NAME_PATTERN.match(model_name):
        raise SettingsError(
            f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME={model_name!r} must match {MODEL_NAME_PATTERN.pattern}"
        )
    workers = env.integer("SAGEMAKER_GUNICORN_WORKERS", 1, 1, 64)
    # Each thread is one request in flight, and a request mostly waits for TF Serving (bench P3: 0.8 of 3 ms is
    # ours), so threads are cheap and too few leave TF Serving idle while clients queue: at 8 clients, 4 threads
    # gave 0.66 of direct gRPC's req/s, 8 and 16 gave 0.77-0.78 (bench P4). The DLC's gevent workers have no bound.
    threads = env.integer("SAGEMAKER_GUNICORN_THREADS", 16, 1, 256)
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
    max_payload_mb = env.integer("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, 0, PAYLOAD_CEILING_MB)
    grpc_port, rest_port = _internal_ports(env, port)
    default_accept = env.choice("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json", ACCEPT_TYPES)
    multi_model = env.boolean("SAGEMAKER_MULTI_MODEL", False)
    # A multi-model endpoint's models arrive under /opt/ml/models/<name>/model; its shared code/ is there too.
    default_model_dir = "/opt/ml/models" if multi_model else "/opt/ml/model"

    return Settings(
        port=port,
        workers=workers,
        threads=threads,
        gunicorn_timeout_seconds=timeout,
        graceful_timeout_seconds=graceful,
        grpc_deadline_seconds=deadline,
        model_name=model_name,
        default_model_explicit=explicit_name is not None,
        model_dir=Path(env.raw("BYOC_MODEL_DIR") or default_model_dir),
        multi_model=multi_model,
        # Memory left free after a multi-model load (for requests and TF Serving's own use); short -> 507.
        mme_memory_reserve_mb=env.integer("BYOC_MME_MEMORY_RESERVE_MB", 128, 0, 10_000_000),
        mme_page_size=env.integer("BYOC_MME_PAGE_SIZE", 100, 1, 10_000),
        mme_load_timeout_seconds=env.number("BYOC_MME_LOAD_TIMEOUT_SECONDS", 600.0, 1.0, 3600.0),
        tfs_grpc_port=grpc_port,
        tfs_rest_port=rest_port,
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
        # 1, as the DLC sets it: OpenMP otherwise starts a thread per core in TF Serving and in every worker,
        # on top of TF's own intra-op pool, and users saw their CPUs oversubscribed. Tunable as usual.
        omp_num_threads=_omp_threads(env),
        max_payload_mb=max_payload_mb,
        max_concurrent_transforms=env.integer(
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", _concurrent_transforms(workers * threads, max_payload_mb), 1, 10_000
        ),
        batch_strategy=env.choice("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD", BATCH_STRATEGIES, upper=True),
        max_image_pixels=env.integer("BYOC_MAX_IMAGE_PIXELS", 25_000_000, 1, 1_000_000_000),
        tfrecord_image_key=env.raw("BYOC_TFRECORD_IMAGE_KEY") or None,
        default_accept=default_accept,
        top_k=env.integer("BYOC_TOP_K", 0, 0, 1000),
        # Bigger batches go to TF Serving in chunks (bounded inference memory; decoding the next overlaps inference
        # of the last); 0 = one call. Not smaller: each call has a fixed cost on both sides, and 4 calls of 64 cost
        # more than the overlap saves (bench P5 side by side: 0.72-0.76 of in-process at 64, 0.78-0.82 in one call).
        predict_chunk_size=env.integer("BYOC_PREDICT_CHUNK_SIZE", 256, 0, 1_000_000),
        ping_cache_seconds=env.number("BYOC_PING_CACHE_SECONDS", 1.0, 0.0, 60.0),
        log_level=env.choice("BYOC_LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        enable_hooks=env.boolean("BYOC_ENABLE_HOOKS", True),
        install_requirements_at_start=env.boolean("BYOC_INSTALL_REQUIREMENTS_AT_START", False),
        run_dir=Path(env.raw("BYOC_SERVE_RUN_DIR") or "/tmp/byoc-serve"),
    )
