"""tf.data input from a channel's TFRecord shards: (uint8 image [H, W, 3], int32 label) batches.

File and FastFile mode: every `*.tfrecord` under the channel directory (FastFile streams the same paths
from S3 lazily). Pipe mode: SageMaker writes each pass over the data into a new FIFO `<channel>_<epoch>`
as concatenated TFRecords, so the dataset is built per epoch and never cached.
"""

from __future__ import annotations

import time
from pathlib import Path

import tensorflow as tf

from train_container.contract import Channel, TrainingEnv
from train_container.errors import DataError
from train_container.records import SHARD_SUFFIX, FramingError, iter_tfrecords
from train_container.runtime import Runtime

# `cache=auto` keeps the serialized records in RAM when they fit well within the container's memory
# (the model, TF and the shuffle buffer need the rest): it saves the file reads of later epochs.
CACHE_MEMORY_FRACTION = 0.25
AUTOTUNE = tf.data.AUTOTUNE
PIPE_WAIT_SECONDS = 60.0


def list_shards(channel: Channel) -> list[Path]:
    if not channel.path.is_dir():
        raise DataError(f"channel '{channel.name}' directory {channel.path} does not exist")
    shards = sorted(p for p in channel.path.rglob(f"*{SHARD_SUFFIX}") if p.is_file())
    if not shards:
        raise DataError(f"channel '{channel.name}' has no *{SHARD_SUFFIX} files under {channel.path}")
    return shards


def should_cache(settings: TrainingEnv, shards: list[Path]) -> bool:
    mode = settings.hyperparameters.cache
    if mode != "auto":
        return mode == "memory"
    size = sum(p.stat().st_size for p in shards)
    return size <= settings.memory_bytes * CACHE_MEMORY_FRACTION


def make_dataset(
    settings: TrainingEnv, runtime: Runtime, channel: Channel, training: bool, epoch: int = 0
) -> tf.data.Dataset:
    """Batched dataset for one channel; `epoch` picks the FIFO in Pipe mode and is ignored otherwise."""
    hp = settings.hyperparameters
    if channel.input_mode == "Pipe":
        records = _pipe_records(channel, epoch)
    else:
        shards = list_shards(channel)
        records = _file_records(shards, runtime, training, hp.seed)
        if should_cache(settings, shards):
            records = records.cache()
    if training:
        if hp.shuffle_buffer > 0:
            # Shuffling serialized records is cheap, and they are what the cache holds.
            records = records.shuffle(hp.shuffle_buffer, seed=hp.seed, reshuffle_each_iteration=True)
        if hp.steps_per_epoch is not None:
            records = records.repeat()
    elif hp.validation_steps is not None:
        records = records.repeat()
    # tf.distribute splits each batch across its replicas, so batch globally; Horovod's default
    # strategy has one replica per process and gets batch_size as is.
    batch_size = hp.batch_size * runtime.strategy.num_replicas_in_sync
    # Parsing and augmenting whole batches beats per-image dataset ops (~2x on small images).
    parse = _batch_parser(hp.image_feature_key, hp.label_feature_key, hp.image_height, hp.image_width)
    # Order in the results does not matter while training; evaluation keeps it reproducible.
    dataset = records.batch(batch_size).map(parse, num_parallel_calls=AUTOTUNE, deterministic=not training)
    if training and hp.augment:
        dataset = dataset.map(_batch_augmenter(hp.image_height, hp.image_width), num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # Sharding is done above by file per process; tf.distribute must not shard a second time.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(AUTOTUNE)


def _file_records(shards: list[Path], runtime: Runtime, training: bool, seed: int) -> tf.data.Dataset:
    files = tf.data.Dataset.from_tensor_slices([str(p) for p in shards])
    by_record = runtime.shard_count > 1 and len(shards) < runtime.shard_count
    if runtime.shard_count > 1 and not by_record:
        files = files.shard(runtime.shard_count, runtime.shard_index)
    if training:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(shards), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=not training,
    )
    if by_record:
        # Fewer files than processes: every process reads everything and keeps its slice (slower, correct).
        records = records.shard(runtime.shard_count, runtime.shard_index)
    return records


def _pipe_records(channel: Channel, epoch: int) -> tf.data.Dataset:
    fifo = channel.fifo(epoch)
    # SageMaker creates `<channel>_<n+1>` only once pass n is consumed, so the FIFO may lag a little.
    deadline = time.monotonic() + PIPE_WAIT_SECONDS
    while not fifo.exists():
        if time.monotonic() > deadline:
            raise DataError(
                f"channel '{channel.name}' is in Pipe mode but {fifo} did not appear within "
                f"{PIPE_WAIT_SECONDS:g} s"
            )
        time.sleep(0.1)

    def records():
        # Sequential Python read: TFRecordDataset's positional reads fail on a FIFO. Parsing and
        # decoding still run in parallel in tf.data; this only splits frames.
        with open(fifo, "rb", buffering=1 << 20) as stream:
            try:
                yield from iter_tfrecords(stream)
            except FramingError as exc:
                raise DataError(f"channel '{channel.name}' ({fifo}): {exc}") from None

    return tf.data.Dataset.from_generator(records, output_signature=tf.TensorSpec([], tf.string))


def _batch_parser(image_key: str, label_key: str, height: int, width: int):
    features = {
        image_key: tf.io.FixedLenFeature([], tf.string),
        label_key: tf.io.FixedLenFeature([], tf.int64),
    }

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return _fit(image, height, width)

    def parse(serialized):
        examples = tf.io.parse_example(serialized, features)
        images = tf.map_fn(
            decode,
            examples[image_key],
            fn_output_signature=tf.TensorSpec([height, width, 3], tf.uint8),
            parallel_iterations=16,
        )
        return images, tf.cast(examples[label_key], tf.int32)

    return parse


def _fit(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    same = tf.logical_and(tf.shape(image)[0] == height, tf.shape(image)[1] == width)
    image = tf.cond(
        same,
        lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.image.resize(image, [height, width]), 0, 255), tf.uint8),
    )
    return tf.ensure_shape(image, [height, width, 3])


def _batch_augmenter(height: int, width: int):
    """Keras cifar10 example: random horizontal flips and shifts up to ~1/8 of a side, zero-filled."""
    max_dy, max_dx = max(1, height // 8), max(1, width // 8)

    def augment(images, labels):
        count = tf.shape(images)[0]
        flip = tf.random.uniform([count]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
        dx = tf.cast(tf.random.uniform([count], -max_dx, max_dx + 1, dtype=tf.int32), tf.float32)
        dy = tf.cast(tf.random.uniform([count], -max_dy, max_dy + 1, dtype=tf.int32), tf.float32)
        one, zero = tf.ones([count]), tf.zeros([count])
        # Per-image integer translation in one op: output(x, y) = input(x + dx, y + dy).
        transforms = tf.stack([one, zero, dx, zero, one, dy, zero, zero], axis=1)
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=[height, width],
            fill_value=0.0,
            interpolation="NEAREST",
            fill_mode="CONSTANT",
        )
        return images, labels

    return augment
