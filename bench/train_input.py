"""P2: training steps/s of the project's CNN fed by our reader vs the same model fed from in-memory tensors.

One compiled model (the `train` path's build_model + optimizer + loss), alternately fit for a bounded number
of steps on each input; steps/s is timed from batch-end callbacks after the first few steps, so pipeline
start-up (e.g. the shuffle buffer filling) is out of the steady-state number, as in a long training job.
Augmentation is off. P2 and P2r run with the cache off: every step decodes its images, the harder case. P2c
runs with the default `cache=auto` (here: the decoded images) after one full pass has filled the cache, as every
epoch after a long job's first does.
"""

from __future__ import annotations

import math
import sys
import time

from bench import fixtures
from bench.child import run_child
from bench.config import BenchConfig
from bench.results import Row
from bench.stats import interleave, median, paired_ratio

SKIP_STEPS = 3


def steps_per_second(model, dataset, steps: int, callback_base) -> float:
    stamps: list[float] = []

    class Stamp(callback_base):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(dataset, epochs=1, steps_per_epoch=steps + SKIP_STEPS, callbacks=[Stamp()], verbose=0)
    return (len(stamps) - SKIP_STEPS) / (stamps[-1] - stamps[SKIP_STEPS - 1])


def in_memory(tf, dataset, batch_size: int):
    """The reader's records decoded once into two tensors, then sliced, repeated and batched from RAM."""
    images, labels = [], []
    for image_batch, label_batch in dataset:
        images.append(image_batch)
        labels.append(label_batch)
    images, labels = tf.concat(images, 0), tf.concat(labels, 0)
    memory = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size)
    return memory.prefetch(tf.data.AUTOTUNE), int(images.shape[0])


def compiled_model(settings, runtime):
    """The `train` path's model, optimizer and loss (train_loop's own builders) for these settings."""
    import tf_keras

    from train_container.models import build_model
    from train_container.train_loop import build_optimizer, scaled_learning_rate

    hp = settings.hyperparameters
    with runtime.strategy.scope():
        model = build_model(hp, settings.num_classes)
        model.compile(
            optimizer=build_optimizer(hp, scaled_learning_rate(hp, runtime.replicas)),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
    return model


def measure(config: BenchConfig) -> list[Row]:
    import tensorflow as tf
    import tf_keras

    from train_container.data import cache_plan, list_records, make_dataset
    from train_container.horovod_compat import skip_autograph_for_tf_keras
    from train_container.runtimes import select_runtime

    sizes = config.sizes
    skip_autograph_for_tf_keras()
    tf_keras.utils.set_random_seed(0)
    settings = fixtures.training_settings(
        config, augment=False, cache="none", batch_size=sizes.batch_size, distribution="single",
        steps_per_epoch=sizes.train_steps + SKIP_STEPS,
    )  # fmt: skip
    hp = settings.hyperparameters
    runtime = select_runtime(settings)
    channel = settings.channel("train")
    model = compiled_model(settings, runtime)
    reader = make_dataset(settings, runtime, channel, training=True)
    raw_settings = fixtures.training_settings(
        config, fixtures.RAW, augment=False, cache="none", batch_size=sizes.batch_size, distribution="single",
        steps_per_epoch=sizes.train_steps + SKIP_STEPS,
    )  # fmt: skip
    raw_reader = make_dataset(raw_settings, runtime, raw_settings.channel("train"), training=True)
    eval_settings = fixtures.training_settings(config, batch_size=256, distribution="single", cache="none")
    memory, records = in_memory(tf, make_dataset(eval_settings, runtime, channel, training=False), hp.batch_size)
    callback = tf_keras.callbacks.Callback
    cached_settings = fixtures.training_settings(
        config, augment=False, cache="auto", batch_size=sizes.batch_size, distribution="single",
        steps_per_epoch=sizes.train_steps + SKIP_STEPS,
    )  # fmt: skip
    plan = cache_plan(cached_settings, list_records(channel), training=True)
    cached_reader = make_dataset(cached_settings, runtime, channel, training=True)
    # One full pass (and a step into the next) fills the cache; every later fit's iterator reads it.
    model.fit(cached_reader, epochs=1, steps_per_epoch=math.ceil(records / hp.batch_size) + 1, verbose=0)
    samples = interleave(
        {
            "ours": lambda: steps_per_second(model, reader, sizes.train_steps, callback),
            "reference": lambda: steps_per_second(model, memory, sizes.train_steps, callback),
            "raw": lambda: steps_per_second(model, raw_reader, sizes.train_steps, callback),
            "cached": lambda: steps_per_second(model, cached_reader, sizes.train_steps, callback),
        },
        rounds=sizes.train_rounds,
    )
    note = (
        f"cifar10 CNN, batch {hp.batch_size}, {sizes.train_steps} timed steps x {sizes.train_rounds} rounds "
        f"after {SKIP_STEPS} untimed steps per fit and 1 warm-up fit each; reference = the same {records} "
        "images as uint8 tensors in RAM (from_tensor_slices + repeat + batch + prefetch)"
    )
    return [
        Row(id="P2", what="training steps/s, reader vs in-memory tensors", unit="steps/s",
            ours=median(samples["ours"]), reference=median(samples["reference"]), goal="≥ 0.95",
            goal_min_ratio=0.95, paired_ratio=paired_ratio(samples), note=note),
        Row(id="P2r", what="training steps/s, reader on seed 004's raw CHW records vs in-memory tensors",
            unit="steps/s", ours=median(samples["raw"]), reference=median(samples["reference"]), goal="≥ 0.95",
            goal_min_ratio=0.95, paired_ratio=paired_ratio(samples, "raw"),
            note="the same images as P2, stored as raw CHW bytes (`image`, `label`; image_layout=chw)"),
        Row(id="P2c", what="training steps/s, reader with the default cache=auto vs in-memory tensors",
            unit="steps/s", ours=median(samples["cached"]), reference=median(samples["reference"]), goal="≥ 0.95",
            goal_min_ratio=0.95, paired_ratio=paired_ratio(samples, "cached"),
            note=f"the P2 records; cache=auto chose '{plan}' (the container's memory budget); timed after one "
            "full pass filled the cache"),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
