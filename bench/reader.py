"""P1: images/s of our TFRecord reader (augmentation off) vs a bare parse + decode tf.data pipeline.
P1r: the same on seed 004's raw CHW bytes layout (schema inferred, `image_layout=chw`) vs a bare decode_raw.

Both read the same shards with the same batch size and parallelism knobs (AUTOTUNE), interleaved round by
round in one process. Ours runs as training does (file shuffle, shuffle buffer, non-deterministic order);
the main row turns the reader's cache off so every pass reads the files, like the reference. P1b shows the
default `cache=auto` on passes after the first (whatever the reader caches comes from RAM).
"""

from __future__ import annotations

import sys

from bench import fixtures
from bench.child import run_child
from bench.config import BenchConfig
from bench.results import Row
from bench.stats import interleave, median, paired_ratio


def bare_pipeline(tf, shards: list[str], batch_size: int):
    features = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(serialized):
        example = tf.io.parse_single_example(serialized, features)
        return tf.io.decode_png(example["image/encoded"], channels=3), example["image/class/label"]

    records = tf.data.TFRecordDataset(shards, num_parallel_reads=tf.data.AUTOTUNE)
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def bare_raw_pipeline(tf, shards: list[str], batch_size: int, shape: tuple[int, int, int]):
    """seed 004's records as a user would read them by hand: decode_raw, CHW -> HWC."""
    height, width, channels = shape
    features = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(serialized):
        example = tf.io.parse_single_example(serialized, features)
        pixels = tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), [channels, height, width])
        return tf.transpose(pixels, [1, 2, 0]), example["label"]

    records = tf.data.TFRecordDataset(shards, num_parallel_reads=tf.data.AUTOTUNE)
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def images_per_second(dataset) -> float:
    import time

    started = time.perf_counter()
    count = 0
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - started)


def measure(config: BenchConfig) -> list[Row]:
    import tensorflow as tf

    from train_container.data import list_shards, make_dataset, resolve_input
    from train_container.runtimes import select_runtime

    sizes = config.sizes
    common = {"augment": False, "batch_size": sizes.batch_size, "distribution": "single"}
    settings = fixtures.training_settings(config, cache="none", **common)
    runtime = select_runtime(settings)
    channel = settings.channel("train")
    shards = [str(p) for p in list_shards(channel)]
    ours = make_dataset(settings, runtime, channel, training=True)
    reference = bare_pipeline(tf, shards, sizes.batch_size)
    cached_settings = fixtures.training_settings(config, cache="auto", **common)
    cached = make_dataset(cached_settings, runtime, cached_settings.channel("train"), training=True)
    samples = interleave(
        {
            "ours": lambda: images_per_second(ours),
            "reference": lambda: images_per_second(reference),
            "cached": lambda: images_per_second(cached),
        },
        rounds=sizes.reader_rounds,
    )
    records = sum(1 for _ in tf.data.TFRecordDataset(shards))
    note = (
        f"{records} digits records (32x32 PNG) in {len(shards)} shard links, batch {sizes.batch_size}, "
        f"{sizes.reader_rounds} rounds after 1 warm-up pass each; reference = TFRecordDataset + "
        "parse_single_example + decode_png + batch + prefetch"
    )
    raw_settings, schema = resolve_input(
        fixtures.training_settings(config, fixtures.RAW, cache="none", **common), announce=False
    )
    raw_channel = raw_settings.channel("train")
    raw = make_dataset(raw_settings, runtime, raw_channel, training=True, schema=schema)
    raw_shards = [str(p) for p in list_shards(raw_channel)]
    raw_reference = bare_raw_pipeline(tf, raw_shards, sizes.batch_size, schema.shape)
    raw_samples = interleave(
        {"ours": lambda: images_per_second(raw), "reference": lambda: images_per_second(raw_reference)},
        rounds=sizes.reader_rounds,
    )
    raw_note = (
        f"the same records as seed 004 writes CIFAR (`image` raw CHW bytes, `label`) in {len(raw_shards)} shard "
        "links, schema inferred with image_layout=chw; reference = TFRecordDataset + parse_single_example + "
        "decode_raw + reshape + transpose + batch + prefetch"
    )
    return [
        Row(id="P1", what="reader images/s (augment off, cache off)", unit="img/s",
            ours=median(samples["ours"]), reference=median(samples["reference"]), goal="≥ 0.95",
            goal_min_ratio=0.95, paired_ratio=paired_ratio(samples), note=note),
        Row(id="P1b", what="reader images/s, default cache=auto (passes after the first)", unit="img/s",
            ours=median(samples["cached"]), reference=median(samples["reference"]),
            paired_ratio=paired_ratio(samples, "cached")),
        Row(id="P1r", what="reader images/s, raw CHW bytes layout (cache off)", unit="img/s",
            ours=median(raw_samples["ours"]), reference=median(raw_samples["reference"]), goal="≥ 0.95",
            goal_min_ratio=0.95, paired_ratio=paired_ratio(raw_samples), note=raw_note),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_child(measure))
