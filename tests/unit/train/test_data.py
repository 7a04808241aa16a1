"""The tf.data reader against records written directly with tf.io.TFRecordWriter (not our encoder)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from train_container import contract, data, numpy_input
from train_container.errors import DataError
from train_container.runtime import Runtime

SIZE = 12  # the smallest side the cnn accepts is 10 (hyperparameters.MODEL_MIN_IMAGE_SIDE)


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
    (sm_root / "input" / "data" / "train" / "train.csv").write_text("1,2\n")
    with pytest.raises(
        DataError,
        match=r"channel 'train' has no TFRecord files, arrays or image folders under .*input/data/train "
        r"\(looked for \*\.tfrecord, \*\.tfrecords, \*\.tfr, <name>-NNNNN-of-NNNNN, each with optional \.gz, "
        r"<prefix>_data\.npy \+ <prefix>_labels\.npy, \*\.npz with x/y or images/labels, <class>/\*\.png\|jpg\|jpeg "
        r"folders\); "
        r"it holds labels.txt, train.csv$",
    ):
        data.make_dataset(settings, single(), settings.channel("train"), training=True)


def test_record_count_is_estimated_from_the_first_file_and_the_sizes(sm_root):
    train = sm_root / "input" / "data" / "train"
    write_shards(train, count=40, shards=4)
    files = data.list_records(settings_for(sm_root).channel("train"))
    assert abs(data.estimated_record_count(files) - 40) <= 4  # shards differ only in their images' bytes
    for path in files.paths:  # the same records gzip-compressed: the sample is measured in compressed bytes
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    gzipped = data.list_records(settings_for(sm_root).channel("train"))
    assert set(gzipped.compressions) == {"GZIP"}
    assert abs(data.estimated_record_count(gzipped) - 40) <= 4


def test_cache_plan_follows_the_memory_budget(sm_root):
    write_shards(sm_root / "input" / "data" / "train", count=4, shards=1)
    auto = settings_for(sm_root, cache="auto", shuffle_buffer=100)
    files = data.list_records(auto.channel("train"))
    image = SIZE * SIZE * 3
    records = files.paths[0].stat().st_size
    assert records < 4 * image  # PNGs: the serialized records are smaller than the decoded images

    def plan(budget: int, training: bool = True) -> str:
        memory = dataclasses.replace(auto, memory_bytes=int(budget / data.CACHE_MEMORY_FRACTION) + 1)
        return data.cache_plan(memory, files, training)

    # Training holds the 4 decoded images and a shuffle buffer of up to 4 more; evaluation the 4 alone.
    assert plan(8 * image) == data.DECODED_CACHE
    assert plan(8 * image - 2) == data.RECORD_CACHE
    assert plan(4 * image, training=False) == data.DECODED_CACHE
    assert plan(records - 2, training=False) == data.NO_CACHE
    assert data.cache_plan(settings_for(sm_root, cache="memory"), files, True) == data.DECODED_CACHE
    assert data.cache_plan(settings_for(sm_root, cache="none"), files, True) == data.NO_CACHE


def test_decoded_cache_gives_the_same_examples_and_later_epochs_read_no_file(sm_root):
    train = sm_root / "input" / "data" / "train"
    expected = write_shards(train, count=22, shards=3)
    plain = settings_for(sm_root, cache="none")
    cached = settings_for(sm_root, cache="memory", shuffle_buffer=64)
    reference_images, reference_labels = collect(data.make_dataset(plain, single(), plain.channel("train"), False))
    dataset = data.make_dataset(cached, single(), cached.channel("train"), training=True)
    first_images, first_labels = collect(dataset)  # the first pass decodes and fills the cache
    for path in data.list_shards(cached.channel("train")):
        path.unlink()  # a later epoch that read a file would fail now
    second_images, second_labels = collect(dataset)
    for images, labels in ((first_images, first_labels), (second_images, second_labels)):
        seen = {index_of(image): int(label) for image, label in zip(images, labels, strict=True)}
        assert seen == expected and len(images) == len(reference_images)
        by_index = {index_of(image): image for image in reference_images}
        for image in images:
            np.testing.assert_array_equal(image, by_index[index_of(image)])
    assert sorted(second_labels) == sorted(reference_labels)
    assert [index_of(i) for i in first_images] != [index_of(i) for i in second_images]  # reshuffled per epoch


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


def raw_example(pixels: np.ndarray, label: int, layout: str = "CHW") -> bytes:
    """seed 004's generate_cifar10_tfrecords.py: `image` = a CIFAR pickle row (R, G, B planes), `label`."""
    data = pixels.transpose(2, 0, 1) if layout == "CHW" else pixels
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data.tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path, records, compression: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type=compression)) as writer:
        for record in records:
            writer.write(record)


def test_seed_004_raw_chw_records_in_split_tfrecords(sm_root):
    train = sm_root / "input" / "data" / "train"
    write_records(train / "train.tfrecords", [raw_example(pixels_for(i), i % 3) for i in range(10)])
    settings, schema = data.resolve_input(settings_for(sm_root, image_layout="chw"))
    assert (schema.image_key, schema.label_key, schema.encoding, schema.layout) == ("image", "label", "raw", "CHW")
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (10, SIZE, SIZE, 3) and list(labels) == [i % 3 for i in range(10)]
    for i, image in enumerate(images):
        np.testing.assert_array_equal(image, pixels_for(i))


def test_raw_size_follows_the_data_and_classes_are_counted_without_labels_txt(sm_root):
    train = sm_root / "input" / "data" / "train"
    (train / "labels.txt").unlink()
    grey = [np.full((16, 16, 1), 10 * i, np.uint8) for i in range(8)]
    write_records(train / "train.tfrecords", [raw_example(g, i % 5, "HWC") for i, g in enumerate(grey)])
    values = {"augment": False, "shuffle_buffer": 0, "batch_size": 8, "cache": "none"}
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(values))
    settings, schema = data.resolve_input(contract.load(sm_root, environ={}))
    assert schema.shape == (16, 16, 1)
    assert (settings.hyperparameters.image_height, settings.hyperparameters.image_width) == (16, 16)
    assert settings.labels == ("0", "1", "2", "3", "4") and settings.num_classes == 5
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert settings.hyperparameters.image_channels == 1
    assert images.shape == (8, 16, 16, 1)  # a grey model for grey data
    assert [int(image[0, 0, 0]) for image in images] == [10 * i for i in range(8)]
    # ImageNet weights were trained on RGB: grey is repeated into 3 channels for them.
    values.update(model="mobilenet_v2", mobilenet_weights="imagenet", image_size=32)
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(values))
    settings, schema = data.resolve_input(contract.load(sm_root, environ={}))
    assert settings.hyperparameters.image_channels == 3
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (8, 32, 32, 3) and [int(image[0, 0, 2]) for image in images] == [10 * i for i in range(8)]


@pytest.mark.parametrize("mode", ["File", "FastFile"])
def test_tf_slim_shards_without_suffix_and_gzip_compression_type(sm_root, mode):
    train = sm_root / "input" / "data" / "train"
    for shard in range(2):
        records = [example(png(pixels_for(i), "PNG"), i % 3) for i in range(shard, 8, 2)]
        write_records(train / f"train-{shard:05d}-of-00002", records, "GZIP")
    config = sm_root / "input" / "config" / "inputdataconfig.json"
    config.write_text(json.dumps({"train": {"TrainingInputMode": mode, "CompressionType": "Gzip"}}))
    settings = settings_for(sm_root)
    assert settings.channel("train").compression == "Gzip"
    images, _ = collect(data.make_dataset(settings, single(), settings.channel("train"), False))
    assert sorted(index_of(image) for image in images) == list(range(8))


def test_label_outside_the_classes_fails_naming_the_value(sm_root):
    train = sm_root / "input" / "data" / "train"
    write_records(train / "train.tfrecord", [example(png(pixels_for(0)), 7)])
    with pytest.raises(DataError, match=r"train.tfrecord record 0: label 7 is outside 0..2 \(num_classes=3\)$"):
        data.resolve_input(settings_for(sm_root))
    # Past the sampled records the parser itself stops on the value.
    settings = settings_for(sm_root)
    parse = data.batch_parser(data.datasets.ImageSchema("image/encoded", "image/class/label", "encoded"), 12, 12, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label outside 0..2 \(num_classes=3\)"):
        parse(tf.constant([example(png(pixels_for(0)), 7)]))
    assert settings.num_classes == 3


def test_pipe_mode_peeks_the_first_fifo_for_the_schema_and_reads_gzip(sm_root):
    config = sm_root / "input" / "config" / "inputdataconfig.json"
    config.write_text('{"train": {"TrainingInputMode": "Pipe"}}')
    settings = settings_for(sm_root, num_classes=3)
    payload = gzip.compress(b"".join(frame(raw_example(pixels_for(i), i % 3, "HWC")) for i in range(30)))
    fifo = settings.channel("train").fifo(0)
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(payload), daemon=True)
    feeder.start()
    resolved, schema = data.resolve_input(settings)
    assert schema.encoding == "raw"
    images, _ = collect(data.make_dataset(resolved, single(), resolved.channel("train"), False, schema=schema))
    feeder.join(timeout=10)
    assert sorted(index_of(image) for image in images) == list(range(30))  # none lost to the peek


def frame(record: bytes) -> bytes:
    from train_container.records import masked_crc32c

    length = len(record).to_bytes(8, "little")
    return (length + masked_crc32c(length).to_bytes(4, "little") + record
            + masked_crc32c(record).to_bytes(4, "little"))


def test_mnist_shaped_npy_pair_trains_as_grey_images(sm_root):
    """seed 001: train_data.npy (N, 784) float in 0..1 + train_labels.npy, one `training`-style channel."""
    train = sm_root / "input" / "data" / "train"
    (train / "labels.txt").unlink()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    np.save(train / "train_data.npy", (pixels / 255.0).reshape(10, 784).astype(np.float32))
    np.save(train / "train_labels.npy", np.arange(10) % 4)
    np.save(train / "eval_data.npy", np.zeros((2, 784), np.float32))  # another pair: train_ is preferred
    np.save(train / "eval_labels.npy", np.zeros(2, np.int64))
    values = {"augment": False, "shuffle_buffer": 0, "batch_size": 4, "cache": "none"}
    (sm_root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(values))
    settings, schema = data.resolve_input(contract.load(sm_root, environ={}))
    assert (schema.encoding, schema.shape, schema.scale) == ("numpy", (28, 28, 1), 255.0)
    assert settings.labels == ("0", "1", "2", "3") and settings.hyperparameters.image_height == 28
    assert isinstance(numpy_input.load_arrays(settings.channel("train"))[0], np.memmap)  # mapped, not read whole
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (10, 28, 28, 1) and list(labels) == [i % 4 for i in range(10)]  # grey data, grey model
    np.testing.assert_array_equal(images[..., 0], pixels)


def test_eval_pair_beside_the_train_pair_is_the_validation_data(sm_root, caplog):
    """seed 001 uploads train_* and eval_* to one prefix: without a validation channel, eval_* validates."""
    train = sm_root / "input" / "data" / "train"
    np.save(train / "train_data.npy", np.stack([pixels_for(i) for i in range(6)]))
    np.save(train / "train_labels.npy", np.arange(6) % 3)
    np.save(train / "eval_data.npy", np.stack([pixels_for(100 + i) for i in range(4)]))
    np.save(train / "eval_labels.npy", np.array([2, 1, 0, 2]))
    with caplog.at_level("INFO", logger="train_container.numpy_input"):
        settings, schema = data.resolve_input(settings_for(sm_root))
    assert "validation: eval_data.npy + eval_labels.npy in channel 'train' (no 'validation' channel)" in caplog.text
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert [index_of(image) for image in images] == list(range(6))
    validation = settings.channel("validation")
    assert validation.path == train and settings.channel("eval") is None  # not the final evaluation too
    images, labels = collect(data.make_dataset(settings, single(), validation, False, schema=schema))
    assert [index_of(image) for image in images] == [100, 101, 102, 103] and list(labels) == [2, 1, 0, 2]
    # A validation channel given: it is the validation data, the eval pair is left alone (and said so).
    given = sm_root / "input" / "data" / "validation"
    given.mkdir()
    np.save(given / "validation_data.npy", np.stack([pixels_for(200)]))
    np.save(given / "validation_labels.npy", np.array([1]))
    caplog.clear()
    with caplog.at_level("INFO", logger="train_container.numpy_input"):
        settings, schema = data.resolve_input(settings_for(sm_root))
    unused = "validation: channel 'validation'; eval_data.npy + eval_labels.npy in channel 'train' not used"
    assert unused in caplog.text
    images, _ = collect(data.make_dataset(settings, single(), settings.channel("validation"), False, schema=schema))
    assert [index_of(image) for image in images] == [200]


def test_raw_shape_follows_the_data_not_the_model_size(sm_root):
    """seed 001's (N, 784) MNIST floats with image_size=32: the data is 28x28x1, the model takes 32x32."""
    train = sm_root / "input" / "data" / "train"
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    np.save(train / "train_data.npy", (pixels / 255.0).reshape(6, 784).astype(np.float32))
    np.save(train / "train_labels.npy", np.arange(6) % 3)
    settings, schema = data.resolve_input(settings_for(sm_root, image_size=32))
    assert schema.shape == (28, 28, 1) and settings.hyperparameters.image_height == 32
    images, _ = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (6, 32, 32, 1)
    resized = tf.image.resize(pixels[..., None].astype(np.float32), [32, 32]).numpy()
    np.testing.assert_allclose(images[..., 0], np.clip(resized[..., 0], 0, 255).astype(np.uint8), atol=1)
    # The same pixels as raw bytes in TFRecords.
    for path in (*train.glob("*.npy"), *train.glob("*.tfrecord")):
        path.unlink()
    grey = [pixels[i][..., None] for i in range(6)]
    write_records(train / "train.tfrecords", [raw_example(g, i % 3, "HWC") for i, g in enumerate(grey)])
    settings, schema = data.resolve_input(settings_for(sm_root, image_size=32))
    assert (schema.encoding, schema.shape) == ("raw", (28, 28, 1))
    images, _ = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (6, 32, 32, 1)


def test_raw_shape_hyperparameter_for_data_that_cannot_tell(sm_root):
    train = sm_root / "input" / "data" / "train"
    tall = np.stack([np.full((20, 10, 1), 10 * i, np.uint8) for i in range(4)])  # 200 values: no square fits
    np.save(train / "train_data.npy", tall.reshape(4, 200))
    np.save(train / "train_labels.npy", np.arange(4) % 3)
    with pytest.raises(DataError, match=r"^train_data.npy: rows of 200 values fit no square .*; set raw_shape"):
        data.resolve_input(settings_for(sm_root))
    settings, schema = data.resolve_input(settings_for(sm_root, raw_shape="20x10"))
    assert schema.shape == (20, 10, 1) and settings.hyperparameters.image_height == SIZE
    images, _ = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (4, SIZE, SIZE, 1) and [int(image[5, 5, 0]) for image in images] == [0, 10, 20, 30]
    with pytest.raises(DataError, match=r"^train_data.npy: rows of 200 values do not fit raw_shape 10x10x3$"):
        data.resolve_input(settings_for(sm_root, raw_shape="10x10x3"))
    np.save(train / "train_data.npy", tall[..., 0])
    with pytest.raises(DataError, match=r"^train_data.npy: images of shape \(20, 10\) contradict raw_shape 10x20$"):
        data.resolve_input(settings_for(sm_root, raw_shape="10x20"))
    for path in train.glob("*.npy"):
        path.unlink()
    write_shards(train, count=3, shards=1)  # PNG records carry their own shape
    with pytest.raises(DataError, match=r"^raw_shape=20x10 applies to raw pixels, but feature 'image/encoded' holds"):
        data.resolve_input(settings_for(sm_root, raw_shape="20x10"))


def test_npz_channels_and_label_range(sm_root):
    train = sm_root / "input" / "data" / "train"
    validation = sm_root / "input" / "data" / "validation"
    validation.mkdir()
    np.savez(train / "cifar.npz", x=np.stack([pixels_for(i) for i in range(6)]), y=np.arange(6) % 3)
    np.savez(validation / "val.npz", images=np.stack([pixels_for(i) for i in range(4)]), labels=np.arange(4) % 3)
    settings, schema = data.resolve_input(settings_for(sm_root))
    assert schema.shape == (SIZE, SIZE, 3) and schema.scale == 1.0
    validation_data = data.make_dataset(settings, single(), settings.channel("validation"), False, schema=schema)
    images, labels = collect(validation_data)
    assert [index_of(image) for image in images] == [0, 1, 2, 3] and list(labels) == [0, 1, 2, 0]
    np.savez(train / "cifar.npz", x=np.stack([pixels_for(i) for i in range(6)]), y=np.arange(6))
    with pytest.raises(DataError, match=r"^cifar.npz item 3: label 3 is outside 0..2 \(num_classes=3\)$"):
        data.resolve_input(settings_for(sm_root))


def write_class_folders(directory, classes, count: int, image_format: str = "JPEG", suffix: str = ".jpg"):
    """seed 003's layout: <class>/<n>.jpg; image i of class c is pixels_for(10 * c + i)."""
    for c, name in enumerate(classes):
        (directory / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = pixels_for(10 * c + i)
            (directory / name / f"{i}{suffix}").write_bytes(png(pixels, image_format))


def test_class_folders_train_with_folder_names_as_classes(sm_root):
    """seed 003: JPEG class folders, no labels.txt: classes are the sorted folder names (labels.txt exported)."""
    train = sm_root / "input" / "data" / "train"
    validation = sm_root / "input" / "data" / "validation"
    (train / "labels.txt").unlink()
    for shard in train.glob("*.tfrecord"):
        shard.unlink()
    write_class_folders(train, ["b_wren", "a_owl", "c_tit"], 3, "PNG", ".png")
    write_class_folders(validation, ["c_tit", "a_owl"], 1)
    settings, schema = data.resolve_input(settings_for(sm_root))
    assert settings.labels == ("a_owl", "b_wren", "c_tit") and schema.encoding == "folder"
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("train"), False, schema=schema))
    assert images.shape == (9, SIZE, SIZE, 3)
    # a_owl holds the images written as class 1 (b_wren written first): the folder name decides, not the order.
    written_as = [index_of(image) // 10 for image in images]
    assert sorted(zip(labels, written_as, strict=True)) == [(0, 1)] * 3 + [(1, 0)] * 3 + [(2, 2)] * 3
    images, labels = collect(data.make_dataset(settings, single(), settings.channel("validation"), False,
                                               schema=schema))  # fmt: skip
    assert list(labels) == [0, 2] and images.dtype == np.uint8  # JPEG decoded, label by the train's classes


def test_class_folder_contradictions_fail_before_training(sm_root):
    train = sm_root / "input" / "data" / "train"
    for shard in train.glob("*.tfrecord"):
        shard.unlink()
    write_class_folders(train, ["cat", "dog"], 1, "PNG", ".png")
    (train / "labels.txt").write_text("dog\ncat\n")
    with pytest.raises(DataError, match=r"labels.txt lists dog, cat but the class folders are cat, dog$"):
        data.resolve_input(settings_for(sm_root))
    (train / "labels.txt").unlink()
    with pytest.raises(DataError, match=r"^num_classes=3 but channel 'train' has 2 class folders \(cat, dog\)$"):
        data.resolve_input(settings_for(sm_root, num_classes=3))
    with pytest.raises(DataError, match=r"^image_layout=chw applies to TFRecords, but channel 'train' holds class "):
        data.resolve_input(settings_for(sm_root, image_layout="chw"))
    validation = sm_root / "input" / "data" / "validation"
    write_class_folders(validation, ["cow"], 1)
    settings, schema = data.resolve_input(settings_for(sm_root))
    with pytest.raises(DataError, match=r"^channel 'validation' has class folders cow that the train channel's"):
        data.make_dataset(settings, single(), settings.channel("validation"), False, schema=schema)



@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros(3), r"^train_data.npy has 4 images but train_labels.npy 3 labels$"),
        (np.array([0, 1, 0.5, 1]), r"^train_labels.npy: labels must be whole class ids, got e.g. 0.5$"),
        (np.array([0, 1, -1, 1]), r"^train_data.npy: label -1 is negative; labels must be 0..num_classes-1$"),
        (np.array(["a", "b", "a", "b"]), r"^train_labels.npy: labels of dtype <U1 are not class ids$"),
    ],
)
def test_broken_numpy_channels_fail_in_one_line(sm_root, labels, match):
    train = sm_root / "input" / "data" / "train"
    (train / "labels.txt").unlink()
    np.save(train / "train_data.npy", np.zeros((4, SIZE * SIZE), np.float32))  # image_size=SIZE is given
    np.save(train / "train_labels.npy", labels)
    with pytest.raises(DataError, match=match):
        data.resolve_input(settings_for(sm_root))


def test_record_feature_keys_contradict_a_numpy_channel(sm_root):
    train = sm_root / "input" / "data" / "train"
    np.save(train / "train_data.npy", np.zeros((4, SIZE * SIZE), np.float32))
    np.save(train / "train_labels.npy", np.arange(4) % 2)
    with pytest.raises(DataError, match=r"^label_feature_key=y applies to TFRecords, but channel 'train' holds numpy "
                                        r"arrays \(train_data.npy\)$"):  # fmt: skip
        data.resolve_input(settings_for(sm_root, label_feature_key="y"))
