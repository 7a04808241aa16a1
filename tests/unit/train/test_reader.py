"""The public reader API (`train_container.reader`) as a user's script calls it, on records written with TF's own
TFRecordWriter: by channel name (inputdataconfig.json) or directory, sharding, sizes, classes, Pipe mode, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.unit.train.test_data import (
    SIZE,
    collect,
    example,
    index_of,
    pixels_for,
    png,
    raw_example,
    write_records,
    write_shards,
)
from train_container import reader
from train_container.errors import DataError


def job_root(tmp_path, channels: dict[str, dict]) -> None:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "inputdataconfig.json").write_text(json.dumps(channels))


def test_a_channel_name_reads_every_record_as_uint8_images_and_int32_labels(tmp_path, monkeypatch):
    expected = write_shards(tmp_path / "input" / "data" / "training", count=10, shards=3)
    job_root(tmp_path, {"training": {"TrainingInputMode": "File"}})
    monkeypatch.setenv("SM_BASE_DIR", str(tmp_path))
    dataset = reader.image_dataset("training", batch_size=4)
    assert dataset.element_spec[0].shape.as_list() == [None, SIZE, SIZE, 3]
    assert (dataset.element_spec[0].dtype, dataset.element_spec[1].dtype) == (tf.uint8, tf.int32)
    images, labels = collect(dataset)
    assert {index_of(image): int(label) for image, label in zip(images, labels, strict=True)} == expected
    np.testing.assert_array_equal(images[0], pixels_for(index_of(images[0])))


def test_shards_split_whole_files_between_processes_and_cover_everything(tmp_path):
    write_shards(tmp_path / "records", count=12, shards=4)
    seen = []
    for rank in (0, 1):
        images, _ = collect(reader.image_dataset(tmp_path / "records", batch_size=5, num_classes=3,
                                                 shard_index=rank, shard_count=2))  # fmt: skip
        seen.append({index_of(image) for image in images})
    assert len(seen[0]) == len(seen[1]) == 6 and seen[0] | seen[1] == set(range(12))


def test_image_size_resizes_and_training_shuffles_and_augments(tmp_path):
    write_shards(tmp_path / "records", count=16, shards=2)
    dataset = reader.image_dataset(tmp_path / "records", batch_size=8, training=True, augment=True,
                                   image_size=(20, 24), num_classes=3)  # fmt: skip
    images, labels = collect(dataset)
    assert images.shape == (16, 20, 24, 3) and sorted(set(labels.tolist())) == [0, 1, 2]


def test_image_size_is_the_output_size_and_raw_shape_how_pixels_are_stored(tmp_path):
    grey = [np.full((28, 28, 1), i, np.uint8) for i in range(4)]  # 784 bytes: 28x28x1 whatever image_size is
    write_records(tmp_path / "square" / "train.tfrecords", [raw_example(g, i % 2, "HWC") for i, g in enumerate(grey)])
    images, _ = collect(reader.image_dataset(tmp_path / "square", batch_size=4, image_size=32))
    assert images.shape == (4, 32, 32, 3) and [int(image[9, 9, 0]) for image in images] == [0, 1, 2, 3]
    tall = [np.full((20, 10, 1), i, np.uint8) for i in range(4)]
    write_records(tmp_path / "tall" / "train.tfrecords", [raw_example(t, i % 2, "HWC") for i, t in enumerate(tall)])
    with pytest.raises(DataError, match=r"has 200 values, which fits no square .*; set raw_shape"):
        reader.image_schema(tmp_path / "tall")
    assert reader.image_schema(tmp_path / "tall", raw_shape=(20, 10)).shape == (20, 10, 1)
    images, _ = collect(reader.image_dataset(tmp_path / "tall", batch_size=4, raw_shape=(20, 10)))
    assert images.shape == (4, 20, 10, 3)


def test_classes_default_to_the_largest_label_and_a_label_beyond_num_classes_fails(tmp_path):
    write_shards(tmp_path / "records", count=9, shards=1)  # labels 0..2, no labels.txt
    collect(reader.image_dataset(tmp_path / "records", batch_size=9))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label outside 0..1"):
        collect(reader.image_dataset(tmp_path / "records", batch_size=9, num_classes=2))


def test_the_schema_and_raw_records_for_a_script_that_parses_its_own_features(tmp_path):
    write_shards(tmp_path / "records", count=6, shards=2, image_key="jpeg", label_key="y")
    schema = reader.image_schema(tmp_path / "records")
    assert (schema.image_key, schema.label_key, schema.encoding) == ("jpeg", "y", "encoded")
    records = list(reader.record_dataset(tmp_path / "records").as_numpy_iterator())
    assert len(records) == 6 and all(tf.train.Example.FromString(r).features.feature["y"] for r in records)


def test_a_pipe_mode_channel_reads_the_fifo_of_its_epoch(tmp_path, monkeypatch):
    import os
    import threading

    data_dir = tmp_path / "input" / "data"
    data_dir.mkdir(parents=True)
    job_root(tmp_path, {"train": {"TrainingInputMode": "Pipe"}})
    fifo = data_dir / "train_1"
    os.mkfifo(fifo)
    payload = b"".join(_framed(example(png(pixels_for(i)), i % 2)) for i in range(5))

    def feed():
        with open(fifo, "wb") as f:
            f.write(payload)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    monkeypatch.setenv("SM_BASE_DIR", str(tmp_path))
    dataset = reader.image_dataset("train", batch_size=2, num_classes=2, epoch=1)
    images, labels = collect(dataset)
    writer.join(5)
    assert images.shape == (5, SIZE, SIZE, 3) and labels.tolist() == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="Pipe mode: pass num_classes"):
        reader.image_dataset("train", batch_size=2, epoch=1)


def test_an_unknown_channel_or_a_directory_without_records_is_one_clear_line(tmp_path, monkeypatch):
    job_root(tmp_path, {"training": {}})
    monkeypatch.setenv("SM_BASE_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"no channel 'validation' in this job \(channels: training\)"):
        reader.image_dataset("validation", batch_size=4)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="has no TFRecord files under .*; it holds notes.txt"):
        reader.image_dataset(tmp_path / "empty", batch_size=4)
    with pytest.raises(ValueError, match="shard_index must be in 0..shard_count-1"):
        reader.image_dataset(tmp_path / "empty", batch_size=4, shard_index=2, shard_count=2)


def _framed(record: bytes) -> bytes:
    from train_container.records import masked_crc32c

    length = len(record).to_bytes(8, "little")
    return length + masked_crc32c(length).to_bytes(4, "little") + record + masked_crc32c(record).to_bytes(4, "little")
