"""The public reader for user scripts: the built-in trainer's TFRecord input pipeline as a `tf.data.Dataset`.

    from train_container import reader

    train = reader.image_dataset("training", batch_size=64, training=True)   # (uint8 [N,H,W,3], int32 [N])
    model.fit(train, epochs=10)

Stable API (semver: these names and keyword arguments only grow; the rest of `train_container` may change):
  - `image_dataset(channel, *, batch_size, ...)`: batches of (uint8 images [N, H, W, 3], int32 labels [N]), the
    image and label features found the way the built-in trainer finds them (or named by the caller);
  - `record_dataset(channel, ...)`: this process's serialized records, for a script that parses its own features;
  - `image_schema(channel, ...)`: which features hold the image and the label, and how pixels are stored.
`channel` is a channel name (`training`, the name behind `SM_CHANNEL_TRAINING`; its input mode and compression come
from inputdataconfig.json) or a directory. File and FastFile mode read every TFRecord file under it, several files in
parallel; Pipe mode reads the FIFO of pass `epoch`. `shard_index`/`shard_count` give each process whole files
(`hvd.rank()`, `hvd.size()`). Bad data raises `DataError` with one line naming the file or feature.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from train_container import contract, data, datasets
from train_container.datasets import ImageSchema, SchemaHints
from train_container.errors import DataError

__all__ = ["DataError", "ImageSchema", "image_dataset", "image_schema", "record_dataset"]


def resolve_channel(channel: str | os.PathLike, root: str | os.PathLike | None = None) -> contract.Channel:
    """A channel name from inputdataconfig.json (or input/data/), else a directory (read in File mode)."""
    path = Path(channel)
    if len(path.parts) == 1:
        channels = contract.read_channels(Path(root) if root is not None else contract.root_from_env())
        if path.name in channels:
            return channels[path.name]
        if not path.is_dir():
            known = ", ".join(sorted(channels)) or "none"
            raise DataError(f"no channel '{channel}' in this job (channels: {known}) and no directory of that name")
    return contract.Channel(name=path.name, path=path)


def image_schema(
    channel: str | os.PathLike,
    *,
    image_feature_key: str | None = None,
    label_feature_key: str | None = None,
    image_layout: str | None = None,
    raw_shape: tuple[int, ...] | None = None,
    epoch: int = 0,
) -> ImageSchema:
    """Which features hold the image and the label, decided from the channel's first records."""
    return _schema(resolve_channel(channel), image_feature_key, label_feature_key, image_layout, raw_shape, epoch)[0]


def record_dataset(
    channel: str | os.PathLike,
    *,
    training: bool = False,
    shard_index: int = 0,
    shard_count: int = 1,
    seed: int = 42,
    epoch: int = 0,
) -> tf.data.Dataset:
    """Serialized records (tf.string scalars): this process's files, shuffled by file when `training`."""
    return _records(resolve_channel(channel), training, shard_index, shard_count, seed, epoch)


def image_dataset(
    channel: str | os.PathLike,
    *,
    batch_size: int,
    training: bool = False,
    image_size: int | tuple[int, int] | None = None,
    num_classes: int | None = None,
    image_feature_key: str | None = None,
    label_feature_key: str | None = None,
    image_layout: str | None = None,
    raw_shape: tuple[int, ...] | None = None,
    shuffle_buffer: int = 10000,
    augment: bool = False,
    seed: int = 42,
    shard_index: int = 0,
    shard_count: int = 1,
    epoch: int = 0,
) -> tf.data.Dataset:
    """Batches of (uint8 [N, H, W, 3], int32 [N]), prefetched; parsed and decoded a whole batch at a time.

    `image_size` (side or (height, width)) resizes; default: the records' own size (encoded images: the first one's).
    `raw_shape` ((H, W) or (H, W, C)) is how raw pixels are stored, only needed when the records cannot tell.
    `num_classes` bounds the labels (a label outside 0..num_classes-1 fails the step); default: labels.txt in the
    channel, else the largest label + 1 (one pass over the labels; Pipe mode needs it given). `training` shuffles
    (files, then records within `shuffle_buffer`) and, with `augment`, flips and shifts images as the built-in
    trainer does.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index must be in 0..shard_count-1, got {shard_index} of {shard_count}")
    resolved = resolve_channel(channel)
    if resolved.input_mode == "Pipe" and num_classes is None:
        raise ValueError(f"channel '{resolved.name}' is in Pipe mode: pass num_classes (a FIFO is read once)")
    height, width = _size(image_size)
    schema, samples = _schema(resolved, image_feature_key, label_feature_key, image_layout, raw_shape, epoch)
    if height is None:
        height, width = schema.shape[:2] if schema.shape is not None else _first_image_size(samples, schema)
    classes = num_classes if num_classes is not None else _count_classes(resolved, schema)
    records = _records(resolved, training, shard_index, shard_count, seed, epoch)
    if training and shuffle_buffer > 0:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    parse = data.batch_parser(schema, height, width, classes, resolved.name)
    dataset = records.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if training and augment:
        dataset = dataset.map(data.batch_augmenter(height, width), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _size(image_size: int | tuple[int, int] | None) -> tuple[int | None, int | None]:
    if image_size is None:
        return None, None
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(height, width) < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return int(height), int(width)


def _schema(channel, image_key, label_key, layout, raw_shape, epoch) -> tuple[ImageSchema, list]:
    """The schema and the parsed sample records it was decided from (Pipe mode: kept for the pass itself)."""
    hints = SchemaHints.given(image_key, label_key, layout, raw_shape)
    if channel.input_mode == "Pipe":
        records = data.peek_fifo(channel, epoch)
    else:
        records = datasets.first_records(data.list_records(channel))
    samples = datasets.parse_samples(records)
    return datasets.infer_schema(samples, hints), samples


def _first_image_size(samples, schema: ImageSchema) -> tuple[int, int]:
    """Encoded images carry their size in their header: the first sample's is the default output size."""
    encoded = samples[0][1][schema.image_key][1][0]
    shape = tf.io.decode_image(encoded, channels=3, expand_animations=False).shape
    return int(shape[0]), int(shape[1])


def _records(channel, training, shard_index, shard_count, seed, epoch) -> tf.data.Dataset:
    if channel.input_mode == "Pipe":
        return data.pipe_records(channel, epoch)  # SageMaker already splits a Pipe channel between hosts
    return data.file_records(data.list_records(channel), shard_index, shard_count, training, seed)


def _count_classes(channel: contract.Channel, schema: ImageSchema) -> int:
    labels = contract.resolve_labels(channel, None)
    return len(labels) if labels else len(data.count_classes(data.list_records(channel), schema, announce=False))
