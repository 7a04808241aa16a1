"""Build, restore, fit, evaluate, export: one pass over the settings with the chosen runtime."""

from __future__ import annotations

import logging

import tensorflow as tf
import tf_keras

from train_container import metrics
from train_container.checkpoints import Checkpointer, EpochCheckpoint
from train_container.contract import (
    EVAL_CHANNEL,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    TrainingEnv,
)
from train_container.data import make_dataset, resolve_input
from train_container.export import check_writable, export_model
from train_container.horovod_compat import skip_autograph_for_tf_keras
from train_container.hyperparameters import Hyperparameters
from train_container.models import build_model
from train_container.runtime import Runtime
from train_container.stopping import StopRequest

log = logging.getLogger(__name__)


def run(settings: TrainingEnv, runtime: Runtime, stop: StopRequest | None = None) -> dict[str, float]:
    """Train to `epochs` (resuming from the newest checkpoint); returns the eval metrics, if any."""
    # The schema (and the image size and class count when they follow the data) before anything is built.
    # Pipe mode peeks at the first FIFO (`<channel>_0`), the one a fresh job's first pass arrives in.
    settings, schema = resolve_input(settings, epoch=0, announce=runtime.is_chief)
    hp = settings.hyperparameters
    if runtime.is_chief:
        for directory in (settings.model_dir, settings.checkpoint_dir):
            check_writable(directory)
    # Not Horovod-specific: without it the first fit() of any process spends ~20 s converting tf_keras.
    skip_autograph_for_tf_keras()
    seed_ops(hp)
    train = settings.channel(TRAIN_CHANNEL)
    validation = settings.channel(VALIDATION_CHANNEL)
    learning_rate = scaled_learning_rate(hp, runtime.replicas)
    with runtime.strategy.scope():
        model = build_model(hp, settings.num_classes)
        model.compile(
            optimizer=runtime.wrap_optimizer(build_optimizer(hp, learning_rate)),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        checkpointer = Checkpointer(settings.checkpoint_dir, model, runtime)
        start = runtime.from_chief(checkpointer.restore())
    log.info(
        "runtime=%s replicas=%d rank=%d/%d lr=%g start_epoch=%d of %d",
        runtime.name, runtime.replicas, runtime.rank, runtime.size, learning_rate, start + 1, hp.epochs,
    )
    callbacks = [
        EpochCheckpoint(checkpointer, hp.checkpoint_every_epochs, stop),
        *runtime.callbacks,
        metrics.epoch_logger(runtime.is_chief),
    ]
    if hp.warmup_epochs:
        schedule = warmup_schedule(learning_rate, hp.warmup_epochs)
        callbacks.append(tf_keras.callbacks.LearningRateScheduler(schedule))
    callbacks = runtime.adapt_callbacks(callbacks)
    for first, last in epoch_plan(start, hp.epochs, per_epoch=train.input_mode == "Pipe"):
        validation_data = None
        if validation is not None:
            validation_data = make_dataset(settings, runtime, validation, False, first, schema)
        model.fit(
            make_dataset(settings, runtime, train, True, first, schema),
            validation_data=validation_data,
            initial_epoch=first,
            epochs=last,
            steps_per_epoch=hp.steps_per_epoch,
            validation_steps=hp.validation_steps,
            callbacks=callbacks,
            verbose=0,
        )
    results = evaluate(model, settings, runtime, schema)
    if runtime.is_chief:
        path = export_model(model, settings, runtime.io_device, schema)
        log.info("exported SavedModel to %s", path)
    elif runtime.collective_save:
        from train_container.distributed.collective_save import export_as_non_chief

        export_as_non_chief(model, settings)
    return results


def evaluate(model: tf_keras.Model, settings: TrainingEnv, runtime: Runtime, schema=None) -> dict[str, float]:
    channel = settings.channel(EVAL_CHANNEL)
    if channel is None:
        return {}
    dataset = make_dataset(settings, runtime, channel, training=False, schema=schema)
    steps = settings.hyperparameters.validation_steps
    results = model.evaluate(dataset, steps=steps, return_dict=True, verbose=0)
    if runtime.is_chief:
        print(metrics.format_eval_line(results), flush=True)
    return {f"eval_{name}": float(value) for name, value in results.items()}


def epoch_plan(start: int, epochs: int, per_epoch: bool) -> list[tuple[int, int]]:
    """(initial_epoch, epochs) per `fit` call. One call keeps dataset caches warm; Pipe mode needs a
    fresh dataset (a new FIFO) each epoch, so one call per epoch."""
    if start >= epochs:
        return []
    if per_epoch:
        return [(epoch, epoch + 1) for epoch in range(start, epochs)]
    return [(start, epochs)]


def scaled_learning_rate(hp: Hyperparameters, replicas: int) -> float:
    """Linear scaling (Goyal et al.): the global batch grows with replicas, so does the step size."""
    return hp.learning_rate * (replicas if hp.lr_scaling == "linear" else 1)


def warmup_schedule(learning_rate: float, warmup_epochs: int):
    """Ramp linearly to `learning_rate` over the first `warmup_epochs` epochs, then hold it."""

    def schedule(epoch: int, current: float) -> float:
        return learning_rate * min(1.0, (epoch + 1) / warmup_epochs)

    return schedule


def seed_ops(hp: Hyperparameters) -> None:
    """Python, NumPy and TF seeds; with `deterministic`, TF's deterministic kernels too (for the whole process)."""
    tf_keras.utils.set_random_seed(hp.seed)
    if hp.deterministic:
        # The seed alone does not repeat a run: multi-threaded kernels and tf.data's parallel stages reorder
        # floating-point sums (on the dataset tests' data, epoch-1 losses of one seed spread over 0.75-0.94).
        tf.config.experimental.enable_op_determinism()
        log.info("deterministic ops: seed %d, the same data and replicas repeat this run bit for bit", hp.seed)


def build_optimizer(hp: Hyperparameters, learning_rate: float) -> tf_keras.optimizers.Optimizer:
    decay = hp.weight_decay or None
    if hp.optimizer == "sgd":
        return tf_keras.optimizers.SGD(learning_rate, momentum=hp.momentum, weight_decay=decay)
    if hp.optimizer == "rmsprop":
        return tf_keras.optimizers.RMSprop(learning_rate, weight_decay=decay)
    return tf_keras.optimizers.Adam(learning_rate, weight_decay=decay)
