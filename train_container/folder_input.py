"""tf.data input from a channel of class folders (`<class>/*.png|jpg|jpeg`, seed 003's layout): classes are the
folder names in sorted order, read and decoded by tf.data per file. `prepare_data` into TFRecords stays the fast
path for large datasets (one sequential read per shard instead of one open per image)."""

from __future__ import annotations

import dataclasses
import logging

import tensorflow as tf

from train_container import datasets
from train_container.contract import LABELS_FILE, Channel, TrainingEnv
from train_container.datasets import FOLDER, ImageSchema, SchemaHints
from train_container.errors import DataError
from train_container.hyperparameters import MODEL_MIN_IMAGE_SIDE
from train_container.runtime import Runtime

log = logging.getLogger(__name__)


def resolve(settings: TrainingEnv, train: Channel, hints: SchemaHints, sized: bool, announce: bool):
    """(settings, schema) for a class-folder train channel, or None when it has no class folders."""
    folder = datasets.find_image_folder(train.name, train.path)
    if folder is None:
        return None
    datasets.reject_record_hints(hints, f"channel '{train.name}' holds class folders", layout=True)
    labels_file = train.path / LABELS_FILE
    given = settings.labels
    if given and labels_file.is_file() and given != folder.classes:
        raise DataError(
            f"{labels_file} lists {', '.join(given)} but the class folders are {', '.join(folder.classes)}"
        )
    if given and len(given) != len(folder.classes):
        raise DataError(
            f"num_classes={len(given)} but channel '{train.name}' has {len(folder.classes)} class folders "
            f"({', '.join(folder.classes)})"
        )
    hp = settings.hyperparameters
    first = folder.files[0]
    try:
        height, width = tf.io.decode_image(tf.io.read_file(str(first)), channels=3, expand_animations=False).shape[:2]
    except tf.errors.OpError as exc:
        raise DataError(f"{first}: not a readable image ({exc.message.splitlines()[0]})") from None
    if not sized and min(height, width) >= MODEL_MIN_IMAGE_SIDE[hp.model]:
        hp = dataclasses.replace(hp, image_height=int(height), image_width=int(width))
    formats = sorted({p.suffix.lower().lstrip(".") for p in folder.files})
    schema = ImageSchema(datasets.FOLDER_PATTERN, "folder name", FOLDER, formats=tuple(formats))
    if announce:
        log.info(
            "input: class folders of channel '%s': %d classes from the folder names (%s), %d %s files; "
            "model input %dx%dx3",
            train.name, len(folder.classes), ", ".join(folder.classes), len(folder.files), "/".join(formats),
            hp.image_height, hp.image_width,
        )  # fmt: skip
    return dataclasses.replace(settings, hyperparameters=hp, labels=folder.classes), schema


def batches(settings: TrainingEnv, runtime: Runtime, channel: Channel, training: bool, schema: ImageSchema):
    hp = settings.hyperparameters
    folder = datasets.find_image_folder(channel.name, channel.path, classes=settings.labels)
    if folder is None:
        raise DataError(f"channel '{channel.name}' has no class folders like the train channel's under {channel.path}")
    height, width = hp.image_height, hp.image_width
    files = tf.data.Dataset.from_tensor_slices(([str(p) for p in folder.files], list(folder.labels)))
    if runtime.shard_count > 1:
        files = files.shard(runtime.shard_count, runtime.shard_index)
    if training:
        files = files.shuffle(len(folder.files), seed=hp.seed, reshuffle_each_iteration=True)
        if hp.steps_per_epoch is not None:
            files = files.repeat()
    elif hp.validation_steps is not None:
        files = files.repeat()

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        same = tf.logical_and(tf.shape(image)[0] == height, tf.shape(image)[1] == width)
        image = tf.cond(
            same,
            lambda: image,
            lambda: tf.cast(tf.clip_by_value(tf.image.resize(image, [height, width]), 0, 255), tf.uint8),
        )
        return tf.ensure_shape(image, [height, width, 3]), tf.cast(label, tf.int32)

    batch_size = hp.batch_size * runtime.strategy.num_replicas_in_sync
    images = files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    return images.batch(batch_size)
