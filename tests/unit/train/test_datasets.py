"""Record discovery and schema inference (train_container.datasets), on files written by TF's own writer."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from train_container import datasets
from train_container.datasets import ENCODED, FLOATS, RAW, ImageSchema, SchemaHints
from train_container.errors import DataError


def feature(value) -> tf.train.Feature:
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=value.ravel().tolist()))
    values = value.ravel().tolist() if isinstance(value, np.ndarray) else [value]
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def example(**features) -> bytes:
    named = {name.replace("__", "/"): feature(v) for name, v in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=named)).SerializeToString()


def encoded(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def write(path, records, compression: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type=compression)
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)


def samples(*records: bytes, source: str = "train.tfrecords"):
    return datasets.parse_samples([(source, r) for r in records])


RGB = np.arange(12 * 12 * 3, dtype=np.uint8).reshape(12, 12, 3)


# ---------------------------------------------------------------- finding records


@pytest.mark.parametrize(
    "name, compression",
    [
        ("train.tfrecord", ""),
        ("train.tfrecords", ""),  # seed 004's generate_cifar10_tfrecords.py
        ("part.tfr", ""),
        ("train-00000-of-00004", ""),  # TF-slim / ImageNet build scripts: no suffix
        ("validation-00003-of-00128", ""),
        ("train.tfrecord.gz", datasets.GZIP),
        ("train-00000-of-00004.gz", datasets.GZIP),
    ],
)
def test_record_names_are_found_with_their_compression(tmp_path, name, compression):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "README.md").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / name).write_bytes(b"")
    found = datasets.find_records("train", tmp_path)
    assert found.paths == (tmp_path / "sub" / name,) and found.compressions == (compression,)


def test_compression_type_gzip_applies_to_every_file(tmp_path):
    for name in ("a.tfrecord", "b-00000-of-00001"):
        (tmp_path / name).write_bytes(b"")
    found = datasets.find_records("train", tmp_path, "Gzip")
    assert found.compressions == (datasets.GZIP, datasets.GZIP) and found.compression == datasets.GZIP
    assert datasets.find_records("train", tmp_path, None).compression == ""


def test_no_records_lists_what_was_there_and_the_patterns(tmp_path):
    for i in range(7):
        (tmp_path / f"img_{i}.png").write_bytes(b"")
    (tmp_path / ".hidden.tfrecord").write_bytes(b"")
    with pytest.raises(DataError) as info:
        datasets.find_records("train", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "looked for *.tfrecord, *.tfrecords, *.tfr, <name>-NNNNN-of-NNNNN" in message
    assert message.endswith("it holds img_0.png, img_1.png, img_2.png, img_3.png, img_4.png and 2 more")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="it is empty$"):
        datasets.find_records("train", tmp_path / "empty")


def test_first_records_read_plain_and_gzip_and_skip_empty_files(tmp_path):
    write(tmp_path / "a.tfrecord", [])
    write(tmp_path / "b.tfrecord.gz", [b"one", b"two"], "GZIP")
    write(tmp_path / "c.tfrecord", [b"three"])
    found = datasets.find_records("train", tmp_path)
    expected = [("b.tfrecord.gz", b"one"), ("b.tfrecord.gz", b"two"), ("c.tfrecord", b"three")]
    assert datasets.first_records(found) == expected
    assert datasets.first_records(found, count=1) == [("b.tfrecord.gz", b"one")]


def test_empty_files_and_corrupt_first_records_are_named(tmp_path):
    write(tmp_path / "a.tfrecords", [])
    with pytest.raises(DataError, match=r"^TFRecord files hold no records: a.tfrecords are empty$"):
        datasets.first_records(datasets.find_records("train", tmp_path))
    write(tmp_path / "b.tfrecords", [b"good"])
    corrupt = bytearray((tmp_path / "b.tfrecords").read_bytes())
    corrupt[-6] ^= 0xFF
    (tmp_path / "b.tfrecords").write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match=r"b.tfrecords: not a readable TFRecord file \(TFRecord data CRC mismatch"):
        datasets.first_records(datasets.find_records("train", tmp_path))
    (tmp_path / "b.tfrecords").write_bytes(gzip.compress(b"x" * 100)[:20])  # truncated gzip
    with pytest.raises(DataError, match=r"b.tfrecords: (cannot read|not a readable TFRecord file)"):
        datasets.first_records(datasets.find_records("train", tmp_path, "Gzip"))


def test_a_record_that_is_no_example_is_named():
    with pytest.raises(DataError, match=r"^x.tfr: record 0 is not a serialized tf.train.Example$"):
        datasets.parse_samples([("x.tfr", b"\xff\xff\xff")])


# ---------------------------------------------------------------- inference


def test_project_schema_with_png_and_jpeg():
    schema = datasets.infer_schema(
        samples(
            example(image__encoded=encoded(RGB), image__format=b"png", image__class__label=1, image__height=9),
            example(image__encoded=encoded(RGB, "JPEG"), image__format=b"jpeg", image__class__label=0, height=9),
        )
    )
    assert schema == ImageSchema("image/encoded", "image/class/label", ENCODED, formats=("JPEG", "PNG"))


@pytest.mark.parametrize("image_format", ["GIF", "BMP"])
def test_gif_and_bmp_are_encoded_images(image_format):
    schema = datasets.infer_schema(samples(example(img=encoded(RGB, image_format), y=1)))
    assert (schema.image_key, schema.label_key, schema.formats) == ("img", "y", (image_format,))


def test_seed_004_raw_chw_bytes_need_only_the_layout():
    record = example(image=np.zeros(3072, np.uint8).tobytes(), label=3)
    assert datasets.infer_schema(samples(record)) == ImageSchema("image", "label", RAW, (32, 32, 3), "HWC")
    chw = datasets.infer_schema(samples(record), SchemaHints(layout="chw"))
    assert (chw.shape, chw.layout) == ((32, 32, 3), "CHW")
    assert "raw uint8 bytes, 32x32x3 CHW" in chw.describe()


def test_raw_shape_from_height_width_depth_features_and_explicit_size():
    record = example(pixels=np.zeros(20 * 10 * 3, np.uint8).tobytes(), height=20, width=10, depth=3, target=1)
    schema = datasets.infer_schema(samples(record))
    assert (schema.image_key, schema.label_key, schema.shape) == ("pixels", "target", (20, 10, 3))
    square = example(pixels=np.zeros(4096, np.uint8).tobytes(), label=0)
    assert datasets.infer_schema(samples(square)).shape == (64, 64, 1)  # grey first, printed for the user
    assert datasets.infer_schema(samples(square), SchemaHints(height=32, width=32)).shape == (32, 32, 4)


def test_shape_feature_detects_chw_and_contradictions_fail():
    record = example(image=np.zeros(3 * 16 * 16, np.uint8).tobytes(), shape=np.array([3, 16, 16]), label=1)
    schema = datasets.infer_schema(samples(record))
    assert (schema.shape, schema.layout) == ((16, 16, 3), "CHW")
    with pytest.raises(DataError, match=r"^image_layout=hwc contradicts the record's shape feature 3x16x16$"):
        datasets.infer_schema(samples(record), SchemaHints(layout="hwc"))


def test_float_and_int_lists():
    mnist = example(x=np.random.default_rng(0).random(784).astype(np.float32), y=9)
    schema = datasets.infer_schema(samples(mnist))
    assert (schema.encoding, schema.shape, schema.scale) == (FLOATS, (28, 28, 1), 255.0)
    ints = datasets.infer_schema(samples(example(x=np.full(784, 200, np.int64), y=1)))
    assert (ints.encoding, ints.shape, ints.label_key) == ("int", (28, 28, 1), "y")


def test_schema_json_round_trip():
    schema = ImageSchema("image", "label", RAW, (32, 32, 3), "CHW")
    text = schema.to_json()
    assert json.loads(text)["version"] == datasets.SCHEMA_VERSION
    assert ImageSchema.from_json(text) == schema
    with pytest.raises(ValueError):
        ImageSchema.from_json('{"version": 99}')


def one_line_failure(match: str, *records: bytes, hints: SchemaHints | None = None):
    with pytest.raises(DataError) as info:
        datasets.infer_schema(samples(*records), hints or SchemaHints())
    message = str(info.value)
    assert "\n" not in message
    assert match in message, message


def test_two_encoded_bytes_features_are_ambiguous():
    one_line_failure(
        "two bytes features hold images (a, b); set image_feature_key",
        example(a=encoded(RGB), b=encoded(RGB), label=1),
    )


def test_two_raw_bytes_features_are_ambiguous():
    one_line_failure(
        "two features could be the raw image: left (3072 values), right (3072 values); set image_feature_key",
        example(left=bytes(3072), right=bytes(3072), label=1),
    )


def test_raw_length_that_fits_no_shape():
    one_line_failure(
        "feature 'image' has 3000 values, which fits no square HxWx(1, 3 or 4) image; set raw_shape (HxW or HxWxC)",
        example(image=bytes(3000), label=1),
    )
    one_line_failure(
        "feature 'image' has 3072 values, which is not 30x30x(1, 3 or 4)",
        example(image=bytes(3072), label=1),
        hints=SchemaHints(height=30, width=30),
    )


def test_mixed_encodings_name_the_record():
    one_line_failure(
        "feature 'image' mixes encodings: PNG images and raw bytes (train.tfrecords, record 1)",
        example(image=encoded(RGB), label=1),
        example(image=bytes(432), label=1),
    )
    one_line_failure(
        "feature 'image' has 3072 values in train.tfrecords record 0 but 768 in train.tfrecords record 1",
        example(image=bytes(3072), label=1),
        example(image=bytes(768), label=1),
    )


def test_explicit_keys_must_exist_and_label_must_be_one_int():
    record = example(image=encoded(RGB), label=1, name=b"cat")
    one_line_failure("feature 'photo' (image_feature_key) is not in the records; they have image, label, name",
                     record, hints=SchemaHints(image_key="photo"))
    one_line_failure("label feature 'name' must hold one int64, has 1 bytes value(s)",
                     record, hints=SchemaHints(label_key="name"))
    one_line_failure("no int64 label feature (looked for image/class/label, label",
                     example(image=encoded(RGB), a=1, b=2))
    one_line_failure("image_layout=chw applies to raw pixels, but feature 'image' holds PNG images",
                     record, hints=SchemaHints(layout="chw"))


def test_no_image_feature():
    one_line_failure("no feature looks like an image", example(name=b"x", label=1))


def test_metadata_bytes_are_not_taken_for_raw_pixels():
    record = example(image=bytes(768), image__filename=b"f" * 64, image__format=b"raw", label=1)
    assert datasets.infer_schema(samples(record)).image_key == "image"


def test_label_range():
    datasets.check_label(2, 3, "x")
    with pytest.raises(DataError, match=r"^train.tfrecords record 4: label 3 is outside 0..2 \(num_classes=3\)$"):
        datasets.check_label(3, 3, "train.tfrecords record 4")


# ---------------------------------------------------------------- numpy and class-folder channels


def test_seed_001_npy_pairs_prefer_the_channel_then_train(tmp_path):
    for prefix in ("train", "eval"):
        np.save(tmp_path / f"{prefix}_data.npy", np.zeros((2, 784), np.float32))
        np.save(tmp_path / f"{prefix}_labels.npy", np.zeros(2, np.int32))
    np.save(tmp_path / "orphan_data.npy", np.zeros((2, 784), np.float32))  # no labels next to it
    assert datasets.find_arrays("training", tmp_path).images.name == "train_data.npy"
    assert datasets.find_arrays("eval", tmp_path).labels.name == "eval_labels.npy"
    (tmp_path / "train_data.npy").unlink()
    assert datasets.find_arrays("validation", tmp_path).images.name == "eval_data.npy"  # the one pair left


def test_npz_keys_and_unknown_archives(tmp_path):
    np.savez(tmp_path / "a.npz", features=np.zeros((2, 64)), targets=np.zeros(2))
    assert datasets.find_arrays("train", tmp_path) is None  # then the channel's line lists what was looked for
    np.savez(tmp_path / "b.npz", x_train=np.zeros((2, 64)), y_train=np.zeros(2))
    found = datasets.find_arrays("train", tmp_path)
    assert (found.images.name, found.image_key, found.label_key) == ("b.npz", "x_train", "y_train")


@pytest.mark.parametrize(
    ("shape", "dtype", "peak", "expected"),
    [
        ((3, 784), np.float32, 1.0, ((28, 28, 1), "HWC", 255.0)),  # seed 001: flattened MNIST in 0..1
        ((3, 28, 28), np.uint8, 255, ((28, 28, 1), "HWC", 1.0)),
        ((3, 32, 32, 3), np.float64, 255.0, ((32, 32, 3), "HWC", 1.0)),
        ((3, 3, 32, 32), np.uint8, 9, ((32, 32, 3), "CHW", 1.0)),  # channels first
    ],
)
def test_array_schema(shape, dtype, peak, expected):
    images = np.zeros(shape, dtype)
    images.flat[0] = peak
    schema = datasets.array_schema(images, "x.npy")
    assert (schema.encoding, schema.shape, schema.layout, schema.scale) == (datasets.NUMPY, *expected)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((2, 50), np.uint8), r"^x.npy: rows of 50 values fit no square HxWx\(1, 3 or 4\) image; set raw_"),
        (np.zeros((0, 28, 28), np.uint8), r"^x.npy: image array of shape \(0, 28, 28\) holds no images$"),
        (np.zeros((2, 28, 28), bool), r"^x.npy: image array dtype bool is not a number type$"),
        (np.zeros((2, 5, 28, 28), np.uint8), r"^x.npy: image array of shape \(2, 5, 28, 28\) is not \(N, H, W"),
    ],
)
def test_array_schema_failures_are_one_line(images, match):
    with pytest.raises(DataError, match=match):
        datasets.array_schema(images, "x.npy")


def test_image_folders_sorted_classes_hidden_and_empty_skipped(tmp_path):
    for name in ("dog", "cat", ".cache", "empty"):
        (tmp_path / name).mkdir()
    (tmp_path / "dog" / "1.JPG").write_bytes(b"x")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / "sub").mkdir()
    (tmp_path / "cat" / "sub" / "2.png").write_bytes(b"x")
    (tmp_path / ".cache" / "3.png").write_bytes(b"x")
    found = datasets.find_image_folder("train", tmp_path)
    assert found.classes == ("cat", "dog") and [p.name for p in found.files] == ["2.png", "1.JPG"]
    assert found.labels == (0, 1)
    assert datasets.find_image_folder("validation", tmp_path, classes=("cat", "dog", "owl")).labels == (0, 1)
    with pytest.raises(DataError, match=r"^channel 'validation' has class folders dog that the train channel's"):
        datasets.find_image_folder("validation", tmp_path, classes=("cat", "owl"))
    (tmp_path / "dog" / "1.JPG").unlink()
    with pytest.raises(DataError, match=r"^channel 'train' has one class folder \(cat\); need 2\+ classes$"):
        datasets.find_image_folder("train", tmp_path)
    assert datasets.find_image_folder("train", tmp_path / "empty") is None
