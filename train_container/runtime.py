"""The distribution seam: which strategy, which rank, how to scale, what to wrap.

`select_runtime(settings)` returns one frozen `Runtime`; the train loop only reads it. Single-process
runtimes (single device, MirroredStrategy) live here; the multi-process ones (Horovod, MultiWorkerMirrored,
parameter server) come from `train_container.distributed.runtimes`, imported only when chosen.

`size` counts data-parallel processes (file shards are split by process); `replicas` counts model replicas
in total (global batch = batch_size x replicas; with lr_scaling=linear, LR x replicas).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from train_container.contract import TrainingEnv
from train_container.errors import ConfigError

MULTI_PROCESS = ("horovod", "multiworker", "parameter_server")


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Runtime:
    name: str
    strategy: Any  # tf.distribute.Strategy
    rank: int = 0
    size: int = 1
    replicas: int = 1
    is_chief: bool = True
    shard_index: int = 0
    shard_count: int = 1
    wrap_optimizer: Callable[[Any], Any] = _identity
    callbacks: tuple[Any, ...] = ()
    # Makes every process adopt the chief's value (e.g. the resume epoch: only the chief may hold a checkpoint,
    # and ranks that disagree on the epoch count would wait on each other's allreduce forever).
    from_chief: Callable[[Any], Any] = _identity
    # Where checkpoint and SavedModel file I/O runs (None: TF's default). TF places each variable's save/restore
    # op on the variable's device; under parameter_server that is a ps task, on another host, which would write
    # into *its* filesystem. Pinning the I/O to this process is TF's documented fix.
    io_device: str | None = None


def resolve_distribution(settings: TrainingEnv) -> str:
    """`auto` -> horovod under a multi-rank mpirun, mirrored with >1 GPU or cpu_replicas > 1, else single."""
    hp = settings.hyperparameters
    if hp.distribution != "auto":
        return hp.distribution
    if settings.process.under_mpi and settings.process.size > 1:
        return "horovod"
    if settings.num_gpus > 1 or hp.cpu_replicas > 1:
        return "mirrored"
    return "single"


def select_runtime(settings: TrainingEnv) -> Runtime:
    name = resolve_distribution(settings)
    if name == "single":
        return _single(settings)
    if name == "mirrored":
        return _mirrored(settings)
    if name in MULTI_PROCESS:
        from train_container.distributed import runtimes

        return getattr(runtimes, name)(settings)
    raise ConfigError(f"hyperparameter 'distribution': unknown value {name!r}")


def _single(settings: TrainingEnv) -> Runtime:
    import tensorflow as tf

    device = "/gpu:0" if settings.num_gpus and tf.config.list_physical_devices("GPU") else "/cpu:0"
    return Runtime(name="single", strategy=tf.distribute.OneDeviceStrategy(device))


def _mirrored(settings: TrainingEnv) -> Runtime:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        strategy = tf.distribute.MirroredStrategy()
    else:
        devices = split_cpu(settings.hyperparameters.cpu_replicas)
        # Without NCCL, all-reduce on CPU devices goes through one device; that is the only option here.
        strategy = tf.distribute.MirroredStrategy(
            devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return Runtime(name="mirrored", strategy=strategy, replicas=strategy.num_replicas_in_sync)


def split_cpu(count: int) -> list[str]:
    """Expose `count` logical CPU devices (must run before TF initialises its runtime)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    if count > 1:
        # RuntimeError = TF already initialised (e.g. a second call in one process): keep what exists.
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < count:
        raise ConfigError(
            f"cpu_replicas={count} but TensorFlow was initialised with {len(devices)} CPU device(s)"
        )
    return devices[:count]
