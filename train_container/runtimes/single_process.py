"""Runtimes of one process: one device, or MirroredStrategy over local GPUs or logical CPU devices."""

from __future__ import annotations

import contextlib

from train_container.contract import TrainingEnv
from train_container.errors import ConfigError
from train_container.runtime import Runtime


def single(settings: TrainingEnv) -> Runtime:
    import tensorflow as tf

    device = "/gpu:0" if settings.num_gpus and tf.config.list_physical_devices("GPU") else "/cpu:0"
    return Runtime(name="single", strategy=tf.distribute.OneDeviceStrategy(device))


def mirrored(settings: TrainingEnv) -> Runtime:
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
