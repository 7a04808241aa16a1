"""The tf.data reader against records written directly with tf.io.TFRecordWriter (not our encoder)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from train_container import contract, data
from train_container.errors import DataError
from train_container.runtime import Runtime

SIZE = 12  # the smallest side the cnn accepts is 10 (contract.MODEL_MIN_IMAGE_SIDE)


def png(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def example(encoded: bytes, label: int, image_key="image/encoded", label_key="image/class/label") -> bytes:
    feature = {
        image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def pixels_for(index: int, size: int = SIZE) -> np.ndarray:
    """A distinct image per index, so records can be matched back after shuffling."""
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    pixels[..., 0] = index % 256
    pixels[..., 1] = index // 256
    pixels[0, 0, 2] = 7
    return pixels


def write_shards(directory, count: int, shards: int, split: str = "train", **keys) -> dict[int, int]:
    """Records i = 0..count-1 with label i % 3, round-robin over shards; returns {index: label}."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"{split}-{s:05d}-of-{shards:05d}.tfrecord" for s in range(shards)]
    writers = [tf.io.TFRecordWriter(str(directory / name)) for name in names]
    for i in range(count):
        writers[i % shards].write(example(png(pixels_for(i)), i % 3, **keys))
    for writer in writers:
        writer.close()
    return {i: i % 3 for i in range(count)}


def settings_for(sm_root, **hyperparameters):
    values = {"image_size": SIZE, "augment": False, "shuffle_buffer": 0, "batch_size": 4, "cache": "none"}
    values.update(hyperparameters)
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps({k: json.dumps(v) for k, v in values.items()})
    )
    return contract.load(sm_root, environ={})


def single(shard_index: int = 0, shard_count: int = 1) -> Runtime:
    return Runtime(
        "single", tf.distribute.get_strategy(), shard_index=shard_index, shard_count=shard_count
    )


def collect(dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def index_of(image: np.ndarray) -> int:
    return int(image[1, 1, 0]) + 256 * int(image[1, 1, 1])


def test_round_trip_shapes_dtypes_and_labels(sm_root):
    expected = write_shards(sm_root / "input" / "data" / "train", count=22, shards=4)
    settings = settings_for(sm_root)
    dataset = data.make_dataset(settings, single(), settings.channel("train"), training=False)
    assert dataset.element_spec[0].dtype == tf.uint8 and dataset.element_spec[1].dtype == tf.int32
    images, labels = collect(dataset)
    assert images.shape == (22, SIZE, SIZE, 3)
    seen = {index_of(image): int(label) for image, label in zip(images, labels, strict=True)}
    assert seen == expected
    first = next(iter(dataset))[0].numpy()
    np.testing.assert_array_equal(first[0], pixels_for(index_of(first[0])))


def test_training_batches_are_global_and_all_records_appear(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=30, shards=3)
    settings = settings_for(sm_root, shuffle_buffer=100, augment=True, batch_size=8)
    dataset = data.make_dataset(settings, single(), settings.channel("train"), training=True)
    sizes = [int(b[0].shape[0]) for b in dataset]
    assert sorted(sizes) == [6, 8, 8, 8]  # training batches may arrive out of order


def test_augmentation_keeps_shape_and_flips_or_shifts(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=16, shards=1)
    plain = settings_for(sm_root, batch_size=16)
    hp = dataclasses.replace(plain.hyperparameters, augment=True)
    augmented = dataclasses.replace(plain, hyperparameters=hp)
    a, _ = collect(data.make_dataset(plain, single(), plain.channel("train"), training=True))
    b, _ = collect(data.make_dataset(augmented, single(), augmented.channel("train"), training=True))
    assert b.shape == a.shape and b.dtype == np.uint8
    assert not np.array_equal(a, b)
    for original, moved in zip(a, b, strict=True):  # same order: no shuffle (shuffle_buffer=0)
        # A flip/shift only moves pixels or fills zeros, and keeps most of the image.
        assert set(np.unique(moved)) <= set(np.unique(original)) | {0}
        if (original.sum(axis=-1) > 0).all():  # image 0 is black: nothing to measure
            assert (moved.sum(axis=-1) > 0).mean() >= (1 - 1 / 8) ** 2 - 1e-6


def test_images_of_another_size_are_resized(sm_root):
    train = sm_root / "input" / "data" / "train"
    train.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(train / "train-00000-of-00001.tfrecord")) as writer:
        writer.write(example(png(np.full((20, 12, 3), 200, np.uint8), "JPEG"), 1))
        writer.write(example(png(np.full((8, 8), 50, np.uint8)), 2))  # greyscale PNG
    settings = settings_for(sm_root)
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), training=False))
    assert images.shape == (2, SIZE, SIZE, 3) and list(labels) == [1, 2]
    assert abs(int(images[0].mean()) - 200) <= 3 and int(images[1].mean()) == 50


def test_custom_feature_keys(sm_root):
    write_shards(sm_root / "input" / "data" / "train", 5, 1, image_key="img", label_key="y")
    settings = settings_for(sm_root, image_feature_key="img", label_feature_key="y")
    _, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), training=False))
    assert sorted(labels) == sorted(i % 3 for i in range(5))


def test_each_worker_reads_a_disjoint_set_of_files(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=40, shards=4)
    settings = settings_for(sm_root)
    seen = []
    for index in range(2):
        images, _ = collect(data.make_dataset(settings, single(index, 2), settings.channel("train"), False))
        seen.append({index_of(image) for image in images})
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(40))
    assert len(seen[0]) == len(seen[1]) == 20


def test_fewer_files_than_workers_falls_back_to_record_sharding(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=9, shards=1)
    settings = settings_for(sm_root)
    seen = []
    for index in range(3):
        images, _ = collect(data.make_dataset(settings, single(index, 3), settings.channel("train"), False))
        seen.append({index_of(image) for image in images})
    assert [len(s) for s in seen] == [3, 3, 3] and set().union(*seen) == set(range(9))


def test_channel_without_tfrecords_is_a_data_error(sm_root):
    settings = settings_for(sm_root)
    with pytest.raises(DataError, match=r"channel 'train' has no \*\.tfrecord files under .*input/data/train"):
        data.make_dataset(settings, single(), settings.channel("train"), training=True)


def test_cache_decision(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=4, shards=1)
    shards = data.list_shards(settings_for(sm_root).channel("train"))
    size = shards[0].stat().st_size
    auto = settings_for(sm_root, cache="auto")
    roomy = dataclasses.replace(auto, memory_bytes=size * 100)
    tight = dataclasses.replace(auto, memory_bytes=size * 3)
    assert data.should_cache(roomy, shards) and not data.should_cache(tight, shards)
    assert data.should_cache(settings_for(sm_root, cache="memory"), shards)
    assert not data.should_cache(settings_for(sm_root, cache="none"), shards)


def test_pipe_mode_reads_concatenated_records_from_the_epoch_fifo(sm_root):
    config = sm_root / "input" / "config" / "inputdataconfig.json"
    config.write_text('{"train": {"TrainingInputMode": "Pipe"}}')
    (sm_root / "input" / "data" / "train" / "labels.txt").unlink()
    settings = settings_for(sm_root, num_classes=3)
    staging = sm_root / "staging"
    write_shards(staging, count=10, shards=2)
    payload = b"".join(p.read_bytes() for p in sorted(staging.glob("*.tfrecord")))
    fifo = settings.channel("train").fifo(1)
    os.mkfifo(fifo)

    def feed():  # what SageMaker's pipe agent does: open, stream, close (EOF ends the epoch)
        with open(fifo, "wb") as pipe:
            pipe.write(payload)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, epoch=1))
    feeder.join(timeout=10)
    assert {index_of(image) for image in images} == set(range(10))
    assert sorted(labels) == sorted(i % 3 for i in range(10))


def test_pipe_mode_gives_up_when_the_fifo_never_appears(sm_root, monkeypatch):
    config = sm_root / "input" / "config" / "inputdataconfig.json"
    config.write_text('{"train": {"TrainingInputMode": "Pipe"}}')
    settings = settings_for(sm_root, num_classes=3)
    monkeypatch.setattr(data, "PIPE_WAIT_SECONDS", 0.3)
    with pytest.raises(DataError, match=r"Pipe mode but .*train_2 did not appear within 0.3 s"):
        data.make_dataset(settings, single(), settings.channel("train"), True, epoch=2)
