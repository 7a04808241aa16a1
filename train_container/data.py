"""tf.data input from a channel's TFRecords: (uint8 image [H, W, C], int32 label) batches (C: hp.image_channels).

File and FastFile mode: every TFRecord file under the channel directory (datasets.find_records; FastFile
streams the same paths from S3 lazily), gzip per CompressionType or suffix. Pipe mode: SageMaker writes each
pass over the data into a new FIFO `<channel>_<epoch>` as concatenated TFRecords, so the dataset is built per
epoch and never cached. Which features hold the image and label is decided once from the first train records
(`resolve_input`, datasets.infer_schema) and travels with the model as an asset.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import time
from pathlib import Path

import tensorflow as tf

from train_container import datasets, folder_input, numpy_input
from train_container.contract import TRAIN_CHANNEL, Channel, TrainingEnv
from train_container.datasets import ENCODED, FLOATS, ImageSchema, RecordFiles, SchemaHints
from train_container.errors import DataError
from train_container.hyperparameters import MODEL_MIN_IMAGE_SIDE, model_channels
from train_container.models import to_channels
from train_container.records import FramingError, iter_tfrecords
from train_container.runtime import Runtime

log = logging.getLogger(__name__)

# `cache=auto` keeps in RAM what fits well within the container's memory (the model and TF need the rest): the
# decoded images, so later epochs skip PNG/JPEG decoding, or else the serialized records, which saves the reads.
CACHE_MEMORY_FRACTION = 0.25
NO_CACHE, RECORD_CACHE, DECODED_CACHE = "none", "records", "decoded"
# The mean record size is measured on the first records of the first file, at least this many bytes of them
# (a gzip reader reads ahead ~128 KiB, which this keeps small against the sample).
SAMPLE_BYTES = 4 << 20
_CACHE_HOLDS = {NO_CACHE: "nothing", RECORD_CACHE: "the serialized records", DECODED_CACHE: "the decoded images"}
AUTOTUNE = tf.data.AUTOTUNE
PIPE_WAIT_SECONDS = 60.0
_SIZE_HYPERPARAMETERS = ("image_size", "image_height", "image_width")
# Pipe mode: records read from a FIFO to infer the schema, handed back to the epoch's dataset (a FIFO is
# read once). {fifo: (open file, record iterator positioned after them, the records)}
_PEEKED: dict[Path, tuple] = {}


def list_records(channel: Channel) -> RecordFiles:
    return datasets.find_records(channel.name, channel.path, channel.compression)


def list_shards(channel: Channel) -> list[Path]:
    return list(list_records(channel).paths)


def resolve_input(
    settings: TrainingEnv, epoch: int = 0, announce: bool = True
) -> tuple[TrainingEnv, ImageSchema]:
    """The train channel's schema, and settings whose image size and classes follow the data when not given."""
    hp = settings.hyperparameters
    train = settings.channel(TRAIN_CHANNEL)
    given = {key.replace("-", "_") for key in settings.raw_hyperparameters}
    sized = bool(given & set(_SIZE_HYPERPARAMETERS))
    # The stored pixels' shape comes from the data or raw_shape; image_size only sizes the model (images are resized).
    hints = SchemaHints.given(hp.image_feature_key, hp.label_feature_key, hp.image_layout, hp.raw_shape)
    if train.input_mode == "Pipe":
        records = peek_fifo(train, epoch)
        files = None
    else:
        try:
            files = datasets.find_records(
                train.name, train.path, train.compression, (*datasets.ARRAY_PATTERNS, datasets.FOLDER_PATTERN)
            )
        except DataError:
            # No records: numpy arrays or class folders, else the records' line (it lists all three).
            resolved = numpy_input.resolve(settings, train, hints, sized, announce) or folder_input.resolve(
                settings, train, hints, sized, announce
            )
            if resolved is None:
                raise
            return resolved
        records = datasets.first_records(files)
    samples = datasets.parse_samples(records)
    schema = datasets.infer_schema(samples, hints)
    if schema.shape is not None and not sized and min(schema.shape[:2]) >= MODEL_MIN_IMAGE_SIDE[hp.model]:
        hp = dataclasses.replace(hp, image_height=schema.shape[0], image_width=schema.shape[1])
    stored = schema.shape[2] if schema.shape is not None else None
    hp = dataclasses.replace(hp, image_channels=model_channels(hp.model, hp.mobilenet_weights, stored))
    labels = settings.labels
    if not labels:
        labels = count_classes(files, schema, announce)
    for index, (source, features) in enumerate(samples):
        datasets.check_label(int(features[schema.label_key][1][0]), len(labels), f"{source} record {index}")
    if announce:
        log.info(
            "input: %s; model input %dx%dx%d, %d classes",
            schema.describe(), hp.image_height, hp.image_width, hp.image_channels, len(labels),
        )
    return dataclasses.replace(settings, hyperparameters=hp, labels=labels), schema


def count_classes(files: RecordFiles, schema: ImageSchema, announce: bool) -> tuple[str, ...]:
    """One pass over the label feature only: classes 0..max, named by their ids."""
    spec = {schema.label_key: tf.io.FixedLenFeature([], tf.int64)}
    records = _record_dataset(files).batch(4096)
    labels = records.map(lambda batch: tf.io.parse_example(batch, spec)[schema.label_key], AUTOTUNE)
    low, high, count = labels.reduce(
        (tf.constant(2**62, tf.int64), tf.constant(-1, tf.int64), tf.constant(0, tf.int64)),
        lambda state, batch: (
            tf.minimum(state[0], tf.reduce_min(batch)),
            tf.maximum(state[1], tf.reduce_max(batch)),
            state[2] + tf.size(batch, tf.int64),
        ),
    )
    low, high, count = int(low), int(high), int(count)
    if low < 0:
        raise DataError(f"label feature '{schema.label_key}' holds {low}; labels must be 0..num_classes-1")
    if high < 1:
        raise DataError(f"label feature '{schema.label_key}' holds only class 0 in {count} records; need 2+ classes")
    if announce:
        log.info("num_classes=%d inferred from labels 0..%d in %d train records (no labels.txt)", high + 1, high, count)
    return tuple(str(i) for i in range(high + 1))


def _record_dataset(files: RecordFiles) -> tf.data.Dataset:
    if len(set(files.compressions)) == 1:
        return tf.data.TFRecordDataset([str(p) for p in files.paths], compression_type=files.compression)
    pairs = tf.data.Dataset.from_tensor_slices(([str(p) for p in files.paths], list(files.compressions)))
    return pairs.flat_map(lambda path, kind: tf.data.TFRecordDataset(path, compression_type=kind))


def estimated_record_count(files: RecordFiles) -> int:
    """Records in all files, from their sizes and the mean size of the first records of the first file (read
    as stored: a gzip file's sample is measured in compressed bytes), so no shard beyond it is read."""
    with open(files.paths[0], "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if files.compressions[0] == datasets.GZIP else raw
        count = 0
        for _ in iter_tfrecords(stream, verify=False):
            count += 1
            if raw.tell() >= SAMPLE_BYTES:
                break
        consumed = raw.tell()
    total = sum(path.stat().st_size for path in files.paths)
    return max(count, round(total * count / consumed)) if consumed else 0


def cache_plan(settings: TrainingEnv, files: RecordFiles, training: bool) -> str:
    """What the channel's dataset keeps in RAM after the first pass (`cache` hyperparameter): `memory` asks for
    the decoded images; `auto` takes them when they (with a shuffle buffer of decoded images while training)
    fit the budget, else the serialized records when those fit, else nothing."""
    hp = settings.hyperparameters
    if hp.cache == "none":
        return NO_CACHE
    if hp.cache == "memory":
        return DECODED_CACHE
    budget = settings.memory_bytes * CACHE_MEMORY_FRACTION
    images = estimated_record_count(files)
    held = images + (min(hp.shuffle_buffer, images) if training else 0)
    if held * hp.image_height * hp.image_width * hp.image_channels <= budget:
        return DECODED_CACHE
    return RECORD_CACHE if sum(p.stat().st_size for p in files.paths) <= budget else NO_CACHE


def make_dataset(
    settings: TrainingEnv,
    runtime: Runtime,
    channel: Channel,
    training: bool,
    epoch: int = 0,
    schema: ImageSchema | None = None,
) -> tf.data.Dataset:
    """Batched dataset for one channel; `epoch` picks the FIFO in Pipe mode and is ignored otherwise.

    `schema` comes from `resolve_input` (train_loop does it once); without it, it is inferred here.
    """
    if schema is None:
        settings, schema = resolve_input(settings, epoch, announce=False)
    hp = settings.hyperparameters
    if schema.encoding == datasets.NUMPY:
        return _finish(numpy_input.batches(settings, runtime, channel, training, schema), hp, training)
    if schema.encoding == datasets.FOLDER:
        return _finish(folder_input.batches(settings, runtime, channel, training, schema), hp, training)
    plan = NO_CACHE
    if channel.input_mode == "Pipe":
        records = pipe_records(channel, epoch)  # a new FIFO every epoch: nothing to cache
    else:
        files = list_records(channel)
        records = file_records(files, runtime.shard_index, runtime.shard_count, training, hp.seed)
        plan = cache_plan(settings, files, training)
        log.info("channel '%s': cache=%s keeps %s in memory after the first pass", channel.name, hp.cache,
                 _CACHE_HOLDS[plan])  # fmt: skip
        if plan == RECORD_CACHE:
            records = records.cache()
    # tf.distribute splits each batch across its replicas, so batch globally; Horovod's default
    # strategy has one replica per process and gets batch_size as is.
    batch_size = hp.batch_size * runtime.strategy.num_replicas_in_sync
    # Parsing and augmenting whole batches beats per-image dataset ops (~2x on small images).
    parse = batch_parser(
        schema, hp.image_height, hp.image_width, settings.num_classes, channel.name, hp.image_channels
    )
    if plan == DECODED_CACHE:
        # Decoded once, in batches as below, then kept image by image: later epochs shuffle and batch from RAM.
        # Order in the results does not matter while training; evaluation keeps it reproducible.
        examples = records.batch(batch_size).map(parse, num_parallel_calls=AUTOTUNE, deterministic=not training)
        examples = examples.unbatch().cache()
    else:
        examples = records  # serialized: shuffling them is cheap, and they are what a record cache holds
    if training:
        if hp.shuffle_buffer > 0:
            examples = examples.shuffle(hp.shuffle_buffer, seed=hp.seed, reshuffle_each_iteration=True)
        if hp.steps_per_epoch is not None:
            examples = examples.repeat()
    elif hp.validation_steps is not None:
        examples = examples.repeat()
    if plan == DECODED_CACHE:
        return _finish(examples.batch(batch_size), hp, training)
    dataset = examples.batch(batch_size).map(parse, num_parallel_calls=AUTOTUNE, deterministic=not training)
    return _finish(dataset, hp, training)


def _finish(dataset: tf.data.Dataset, hp, training: bool) -> tf.data.Dataset:
    if training and hp.augment:
        dataset = dataset.map(batch_augmenter(hp.image_height, hp.image_width), num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # Sharding is done above by file per process; tf.distribute must not shard a second time.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(AUTOTUNE)


def file_records(
    files: RecordFiles, shard_index: int, shard_count: int, training: bool, seed: int
) -> tf.data.Dataset:
    """This process's share of the serialized records: whole files per process, files read in parallel."""
    count = len(files.paths)
    pairs = tf.data.Dataset.from_tensor_slices(([str(p) for p in files.paths], list(files.compressions)))
    by_record = shard_count > 1 and count < shard_count
    if shard_count > 1 and not by_record:
        pairs = pairs.shard(shard_count, shard_index)
    if training:
        pairs = pairs.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    records = pairs.interleave(
        lambda path, compression: tf.data.TFRecordDataset(path, compression_type=compression),
        cycle_length=min(count, 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=not training,
    )
    if by_record:
        # Fewer files than processes: every process reads everything and keeps its slice (slower, correct).
        records = records.shard(shard_count, shard_index)
    return records


def _wait_for(channel: Channel, epoch: int) -> Path:
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
    return fifo


def _open_fifo(channel: Channel, fifo: Path):
    # Sequential Python read: TFRecordDataset's positional reads fail on a FIFO. Parsing and decoding
    # still run in parallel in tf.data; this only splits frames.
    raw = open(fifo, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by the reader that finishes the pass
    compression = datasets.GZIP if channel.compression else None
    return raw, iter_tfrecords(datasets.open_stream(raw, compression))


def peek_fifo(channel: Channel, epoch: int) -> list[tuple[str, bytes]]:
    fifo = _wait_for(channel, epoch)
    if fifo not in _PEEKED:
        raw, records = _open_fifo(channel, fifo)
        taken = []
        try:
            for record in records:
                taken.append(record)
                if len(taken) >= datasets.SAMPLE_RECORDS:
                    break
        except (FramingError, OSError, EOFError) as exc:
            raw.close()
            raise DataError(f"channel '{channel.name}' ({fifo}): {exc}") from None
        if not taken:
            raw.close()
            raise DataError(f"channel '{channel.name}' ({fifo}) holds no records")
        _PEEKED[fifo] = (raw, records, taken)
    return [(fifo.name, record) for record in _PEEKED[fifo][2]]


def pipe_records(channel: Channel, epoch: int) -> tf.data.Dataset:
    fifo = _wait_for(channel, epoch)

    def records():
        peeked = _PEEKED.pop(fifo, None)
        raw, rest = peeked[:2] if peeked else _open_fifo(channel, fifo)
        with raw:
            try:
                if peeked:
                    yield from peeked[2]
                yield from rest
            except (FramingError, OSError, EOFError) as exc:
                raise DataError(f"channel '{channel.name}' ({fifo}): {exc}") from None

    return tf.data.Dataset.from_generator(records, output_signature=tf.TensorSpec([], tf.string))


def batch_parser(
    schema: ImageSchema, height: int, width: int, num_classes: int, channel: str = "train", channels: int = 3
):
    """Serialized Examples -> (uint8 [N, height, width, channels], int32 [N]) as the schema says."""
    image_feature = (
        tf.io.FixedLenFeature([], tf.string)
        if schema.encoding in (ENCODED, datasets.RAW)
        else tf.io.FixedLenFeature([schema.length], tf.float32 if schema.encoding == FLOATS else tf.int64)
    )
    features = {schema.image_key: image_feature, schema.label_key: tf.io.FixedLenFeature([], tf.int64)}

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        return _fit(image, height, width, channels)

    def pixels(values):
        if schema.encoding == datasets.RAW:
            values = tf.io.decode_raw(values, tf.uint8, fixed_length=schema.length)
        elif schema.encoding == FLOATS:
            values = tf.cast(tf.clip_by_value(tf.round(values * schema.scale), 0, 255), tf.uint8)
        else:
            values = tf.cast(tf.clip_by_value(values, 0, 255), tf.uint8)
        h, w, c = schema.shape
        if schema.layout == "CHW":
            images = tf.transpose(tf.reshape(values, [-1, c, h, w]), [0, 2, 3, 1])
        else:
            images = tf.reshape(values, [-1, h, w, c])
        images = to_channels(images, channels)
        if (h, w) != (height, width):
            images = tf.cast(tf.clip_by_value(tf.image.resize(images, [height, width]), 0, 255), tf.uint8)
        return tf.ensure_shape(images, [None, height, width, channels])

    def parse(serialized):
        examples = tf.io.parse_example(serialized, features)
        labels = examples[schema.label_key]
        outside = tf.logical_or(labels < 0, labels >= num_classes)
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(outside)),
            [f"channel '{channel}': label outside 0..{num_classes - 1} (num_classes={num_classes}):",
             tf.boolean_mask(labels, outside)],
            summarize=3,
        )
        with tf.control_dependencies([check]):
            labels = tf.cast(labels, tf.int32)
        if schema.encoding == ENCODED:
            images = tf.map_fn(
                decode,
                examples[schema.image_key],
                fn_output_signature=tf.TensorSpec([height, width, channels], tf.uint8),
                parallel_iterations=16,
            )
        else:
            images = pixels(examples[schema.image_key])
        return images, labels

    return parse


def _fit(image: tf.Tensor, height: int, width: int, channels: int) -> tf.Tensor:
    same = tf.logical_and(tf.shape(image)[0] == height, tf.shape(image)[1] == width)
    image = tf.cond(
        same,
        lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.image.resize(image, [height, width]), 0, 255), tf.uint8),
    )
    return tf.ensure_shape(image, [height, width, channels])


def batch_augmenter(height: int, width: int):
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
