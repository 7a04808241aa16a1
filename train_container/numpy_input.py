"""tf.data input from a channel of numpy arrays (seed 001's MNIST `train_data.npy` + `train_labels.npy`, or an
`.npz`): (uint8 image [N, H, W, C], int32 label) batches like the TFRecord reader's (C: hp.image_channels).

`.npy` files are memory-mapped: each batch gathers its rows by index, so a large array is never copied whole.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from train_container import datasets
from train_container.contract import VALIDATION_CHANNEL, Channel, TrainingEnv
from train_container.datasets import ImageSchema, SchemaHints
from train_container.errors import DataError
from train_container.hyperparameters import MODEL_MIN_IMAGE_SIDE, model_channels
from train_container.models import to_channels
from train_container.runtime import Runtime

log = logging.getLogger(__name__)


def load_arrays(channel: Channel, files: datasets.ArrayFiles | None = None):
    """(images, int64 labels, source name) of a numpy channel, memory-mapped for `.npy`; None without arrays."""
    files = files or datasets.find_arrays(channel.name, channel.path, channel.array_prefix)
    if files is None:
        return None
    try:
        if files.image_key is None:
            images, labels = np.load(files.images, mmap_mode="r"), np.load(files.labels, mmap_mode="r")
        else:
            with np.load(files.images) as archive:
                images, labels = archive[files.image_key], archive[files.label_key]
    except (OSError, ValueError) as exc:
        raise DataError(f"{files.images}: cannot read the arrays ({exc})") from None
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise DataError(f"{files.images.name} has {len(images)} images but {files.labels.name} {len(labels)} labels")
    if labels.dtype.kind not in "uif":
        raise DataError(f"{files.labels.name}: labels of dtype {labels.dtype} are not class ids")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        example = labels[labels != np.round(labels)][0]
        raise DataError(f"{files.labels.name}: labels must be whole class ids, got e.g. {example}")
    return images, labels.astype(np.int64), files.images.name


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        datasets.check_label(int(labels[bad[0]]), num_classes, f"{source} item {int(bad[0])}")


def resolve(settings: TrainingEnv, train: Channel, hints: SchemaHints, sized: bool, announce: bool):
    """(settings, schema) for a numpy train channel, or None when it holds no arrays."""
    files = datasets.find_arrays(train.name, train.path)
    if files is None:
        return None
    hp = settings.hyperparameters
    images, labels, source = load_arrays(train, files)
    datasets.reject_record_hints(hints, f"channel '{train.name}' holds numpy arrays ({source})", layout=False)
    schema = datasets.array_schema(images, source, hints)
    if not sized and min(schema.shape[:2]) >= MODEL_MIN_IMAGE_SIDE[hp.model]:
        hp = dataclasses.replace(hp, image_height=schema.shape[0], image_width=schema.shape[1])
    hp = dataclasses.replace(hp, image_channels=model_channels(hp.model, hp.mobilenet_weights, schema.shape[2]))
    names = settings.labels
    if not names:
        if labels.min() < 0:
            raise DataError(f"{source}: label {int(labels.min())} is negative; labels must be 0..num_classes-1")
        names = tuple(str(i) for i in range(int(labels.max()) + 1))
        if len(names) < 2:
            raise DataError(f"{source}: labels hold only class 0; need 2+ classes")
        if announce:
            log.info("num_classes=%d inferred from labels 0..%d in %s (no labels.txt)", len(names), len(names) - 1,
                     source)  # fmt: skip
    check_labels(labels, len(names), source)
    if announce:
        log.info(
            "input: numpy %s %s %s (%dx%dx%d%s), %d classes; model input %dx%dx%d",
            source, images.shape, images.dtype, *schema.shape, ", x255" if schema.scale != 1 else "",
            len(names), hp.image_height, hp.image_width, hp.image_channels,
        )  # fmt: skip
    channels = dict(settings.channels)
    if files.held_out is not None:
        split = f"{files.held_out}_data.npy + {files.held_out}_labels.npy in channel '{train.name}'"
        if VALIDATION_CHANNEL in channels:
            if announce:
                log.info("validation: channel '%s'; %s not used", VALIDATION_CHANNEL, split)
        else:
            channels[VALIDATION_CHANNEL] = dataclasses.replace(train, array_prefix=files.held_out)
            if announce:
                log.info("validation: %s (no '%s' channel)", split, VALIDATION_CHANNEL)
    return dataclasses.replace(settings, hyperparameters=hp, labels=names, channels=channels), schema


def batches(settings: TrainingEnv, runtime: Runtime, channel: Channel, training: bool, schema: ImageSchema):
    """Batches gathered from the (memory-mapped) arrays by index: only the batch is copied, never the array."""
    hp = settings.hyperparameters
    arrays = load_arrays(channel)
    if arrays is None:
        raise DataError(f"channel '{channel.name}' has no numpy arrays like the train channel's under {channel.path}")
    images, labels, source = arrays
    check_labels(labels, settings.num_classes, source)
    h, w, c = schema.shape
    if images.shape[1:] not in ((h * w * c,), (h, w), (h, w, c), (c, h, w)):
        raise DataError(f"{source}: images of shape {images.shape[1:]} differ from the train channel's {h}x{w}x{c}")

    def gather(index):
        index = np.asarray(index)
        values = np.asarray(images[index])
        if values.dtype.kind == "f":
            values = np.rint(values * schema.scale)
        values = np.clip(values, 0, 255).astype(np.uint8)
        if schema.layout == "CHW":
            values = values.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
        return values.reshape(-1, h, w, c), labels[index].astype(np.int32)

    indices = tf.data.Dataset.range(len(images))
    if runtime.shard_count > 1:
        indices = indices.shard(runtime.shard_count, runtime.shard_index)
    if training:
        indices = indices.shuffle(len(images), seed=hp.seed, reshuffle_each_iteration=True)
        if hp.steps_per_epoch is not None:
            indices = indices.repeat()
    elif hp.validation_steps is not None:
        indices = indices.repeat()
    batch_size = hp.batch_size * runtime.strategy.num_replicas_in_sync

    def load(index):
        pixels, batch_labels = tf.numpy_function(gather, [index], (tf.uint8, tf.int32), stateful=False)
        pixels = to_channels(tf.ensure_shape(pixels, [None, h, w, c]), hp.image_channels)
        if (h, w) != (hp.image_height, hp.image_width):
            resized = tf.image.resize(pixels, [hp.image_height, hp.image_width])
            pixels = tf.cast(tf.clip_by_value(resized, 0, 255), tf.uint8)
        pixels = tf.ensure_shape(pixels, [None, hp.image_height, hp.image_width, hp.image_channels])
        return pixels, tf.ensure_shape(batch_labels, [None])

    return indices.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
