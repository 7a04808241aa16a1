"""TFRecord framing against files written by TensorFlow's own tf.io.TFRecordWriter."""

from __future__ import annotations

import os

import numpy as np
import pytest

from serve_container import decoders
from serve_container.decoders.tfrecord import frame_record, masked_crc32c, split_records
from serve_container.errors import BadRequest
from serve_container.protos import example_pb2
from tests.unit.serve.conftest import image_bytes, random_image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv always has TF (requirements/dev.txt); tests compare against it


def _example(encoded: bytes, key: str = "image/encoded", label: int = 0) -> bytes:
    feature = {
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _tf_written(tmp_path, records: list[bytes]) -> bytes:
    path = str(tmp_path / "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    with open(path, "rb") as handle:
        return handle.read()


def test_framing_matches_tensorflow(tmp_path):
    records = [b"", b"x", os.urandom(1000)]
    body = _tf_written(tmp_path, records)
    assert split_records(body) == records
    assert b"".join(frame_record(r) for r in records) == body


def test_masked_crc_known_value():
    # Value from TFRecord readers in other languages for b"": crc32c("") = 0.
    assert masked_crc32c(b"") == 0xA282EAD8


@pytest.mark.parametrize("count", [1, 50])
def test_examples_become_one_batch_in_order(tmp_path, image_signature, options, count):
    images = [random_image(seed=i) for i in range(count)]
    body = _tf_written(tmp_path, [_example(image_bytes(im), label=i) for i, im in enumerate(images)])
    batch = decoders.decode("application/x-tfrecord", body, image_signature, options)["image"]
    assert batch.shape == (count, 32, 32, 3)
    np.testing.assert_array_equal(batch, np.stack(images))


def test_bad_data_crc_is_400(tmp_path, image_signature, options):
    body = bytearray(_tf_written(tmp_path, [_example(image_bytes(random_image()))]))
    body[20] ^= 0xFF
    with pytest.raises(BadRequest, match="data CRC mismatch"):
        decoders.decode("application/x-tfrecord", bytes(body), image_signature, options)


def test_bad_length_crc_is_400(tmp_path):
    body = bytearray(_tf_written(tmp_path, [b"abc"]))
    body[9] ^= 0x01
    with pytest.raises(BadRequest, match="length CRC mismatch"):
        split_records(bytes(body))


def test_truncated_stream_is_400(tmp_path):
    body = _tf_written(tmp_path, [b"abcdef", b"ghijkl"])
    with pytest.raises(BadRequest, match="TFRecord 1 .*truncated"):
        split_records(body[:-3])
    with pytest.raises(BadRequest, match="truncated header"):
        split_records(body[:5])


def test_wrong_feature_key_is_400_and_names_the_setting(tmp_path, image_signature, options):
    body = _tf_written(tmp_path, [_example(image_bytes(random_image()), key="img")])
    with pytest.raises(BadRequest, match="'image/encoded' missing.*BYOC_TFRECORD_IMAGE_KEY"):
        decoders.decode("application/x-tfrecord", body, image_signature, options)


def test_configured_feature_key_is_used(tmp_path, image_signature):
    body = _tf_written(tmp_path, [_example(image_bytes(random_image()), key="img")])
    batch = decoders.decode(
        "application/x-tfrecord", body, image_signature, decoders.DecodeOptions("img", 10**7)
    )
    assert batch["image"].shape == (1, 32, 32, 3)


def test_record_that_is_not_an_example_is_400(image_signature, options):
    with pytest.raises(BadRequest, match="TFRecord 0"):
        decoders.decode("application/x-tfrecord", frame_record(b"\xff\xff\xff"), image_signature, options)


def test_bad_image_in_record_names_the_record(tmp_path, image_signature, options):
    good = _example(image_bytes(random_image()))
    bad = _example(b"not an image")
    with pytest.raises(BadRequest, match="record 1"):
        decoders.decode(
            "application/x-tfrecord", _tf_written(tmp_path, [good, bad]), image_signature, options
        )


def test_string_vector_model_receives_serialized_examples(tmp_path, options):
    from serve_container.signature import Signature, TensorSpec

    signature = Signature("s", (TensorSpec("examples", np.dtype(object), (None,)),), ())
    records = [_example(b"a"), _example(b"b")]
    batch = decoders.decode("application/x-tfrecord", _tf_written(tmp_path, records), signature, options)
    assert batch["examples"].tolist() == records
    assert (
        example_pb2.Example.FromString(batch["examples"][1])
        .features.feature["image/encoded"]
        .bytes_list.value[0]
        == b"b"
    )


# ---------------------------------------------------------------- the trainer's schema asset


def _raw_example(pixels: np.ndarray, layout: str = "CHW", key: str = "image") -> bytes:
    """seed 004's generate_cifar10_tfrecords.py layout: raw uint8 bytes of R, G, B planes, `label`."""
    data = pixels.transpose(2, 0, 1) if layout == "CHW" else pixels
    feature = {
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data.tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _model_with_schema(tmp_path, schema_json: str, version: int = 3):
    from train_container.datasets import SCHEMA_ASSET

    assets = tmp_path / "model" / str(version) / "assets"
    assets.mkdir(parents=True)
    (assets / SCHEMA_ASSET).write_text(schema_json)
    (tmp_path / "model" / "1").mkdir()  # an older version without the asset
    return tmp_path / "model"


def _trained_schema(samples, **hints):
    """The schema exactly as the trainer infers and exports it (train_container.datasets)."""
    from train_container import datasets

    parsed = datasets.parse_samples([("train.tfrecords", r) for r in samples], example_pb2)
    return datasets.infer_schema(parsed, datasets.SchemaHints(**hints)).to_json()


def test_raw_chw_records_decode_by_the_exported_schema(tmp_path, image_signature):
    images = [random_image(seed=i) for i in range(5)]
    records = [_raw_example(im) for im in images]
    base = _model_with_schema(tmp_path, _trained_schema(records, layout="chw"))
    options = decoders.DecodeOptions(None, 10**7).for_model(base, None)
    assert options.schema.layout == "CHW" and options.schema.shape == (32, 32, 3)
    body = _tf_written(tmp_path, records)
    batch = decoders.decode("application/x-tfrecord", body, image_signature, options)["image"]
    np.testing.assert_array_equal(batch, np.stack(images))
    _, chunks = decoders.decode_chunks("application/x-tfrecord", body, image_signature, options, 2)
    np.testing.assert_array_equal(np.concatenate([c["image"] for c in chunks]), np.stack(images))


def test_raw_grey_records_are_fitted_to_the_model_input(tmp_path, image_signature):
    grey = [random_image(16, 16, 3, seed=i)[..., :1] for i in range(2)]
    records = [_raw_example(g, "HWC") for g in grey]
    base = _model_with_schema(tmp_path, _trained_schema(records))
    options = decoders.DecodeOptions(None, 10**7).for_model(base, 3)
    batch = decoders.decode("application/x-tfrecord", _tf_written(tmp_path, records), image_signature, options)
    assert batch["image"].shape == (2, 32, 32, 3)
    assert (batch["image"][..., 0] == batch["image"][..., 2]).all()  # grey repeated as PNGs are converted


def _feature(value) -> tf.train.Feature:
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if isinstance(value, int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(value)))


def test_tf_slim_jpeg_records_decode_by_the_exported_schema(tmp_path, image_signature):
    """TF-slim's build_image_data.py features: JPEG among text/format/colorspace bytes and size ints."""
    import io

    from PIL import Image

    jpegs = [image_bytes(random_image(seed=i), "JPEG") for i in range(3)]
    records = [
        tf.train.Example(features=tf.train.Features(feature={
            "image/encoded": _feature(jpeg), "image/format": _feature(b"JPEG"), "image/colorspace": _feature(b"RGB"),
            "image/class/label": _feature(i), "image/class/text": _feature(b"bird"),
            "image/height": _feature(32), "image/width": _feature(32), "image/channels": _feature(3),
        })).SerializeToString()
        for i, jpeg in enumerate(jpegs)
    ]  # fmt: skip
    base = _model_with_schema(tmp_path, _trained_schema(records))
    options = decoders.DecodeOptions(None, 10**7).for_model(base, None)
    assert (options.schema.image_key, options.schema.encoding) == ("image/encoded", "encoded")
    batch = decoders.decode("application/x-tfrecord", _tf_written(tmp_path, records), image_signature, options)
    expected = np.stack([np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")) for jpeg in jpegs])
    np.testing.assert_array_equal(batch["image"], expected)


def test_float_list_records_in_0_1_decode_scaled_by_the_exported_schema(tmp_path, image_signature):
    """MNIST-style float pixels in 0..1 (28x28, grey): scaled x255 as the trainer did, grey repeated, fitted."""
    grey = [random_image(28, 28, 3, seed=i)[..., 0] for i in range(2)]
    records = [
        tf.train.Example(features=tf.train.Features(feature={
            "x": _feature((g / 255.0).astype(np.float32).reshape(-1)), "y": _feature(1),
        })).SerializeToString()
        for g in grey
    ]  # fmt: skip
    base = _model_with_schema(tmp_path, _trained_schema(records))
    options = decoders.DecodeOptions(None, 10**7).for_model(base, None)
    assert (options.schema.encoding, options.schema.shape, options.schema.scale) == ("float", (28, 28, 1), 255.0)
    batch = decoders.decode("application/x-tfrecord", _tf_written(tmp_path, records), image_signature, options)
    assert batch["image"].shape == (2, 32, 32, 3) and batch["image"].dtype == np.uint8
    assert (batch["image"][..., 0] == batch["image"][..., 1]).all()
    assert abs(float(batch["image"][0].mean()) - float(grey[0].mean())) < 3  # values x255, not 0..1


def test_image_key_env_overrides_the_schema(tmp_path, image_signature):
    image = random_image()
    record = _example(image_bytes(image), key="other")
    base = _model_with_schema(tmp_path, _trained_schema([_raw_example(image)], layout="chw"))
    options = decoders.DecodeOptions("other", 10**7).for_model(base, None)
    batch = decoders.decode("application/x-tfrecord", _tf_written(tmp_path, [record]), image_signature, options)
    np.testing.assert_array_equal(batch["image"][0], image)


def test_without_or_with_a_broken_asset_the_default_key_applies(tmp_path, image_signature):
    body = _tf_written(tmp_path, [_raw_example(random_image())])
    for base in (tmp_path / "nothing", _model_with_schema(tmp_path, "{not json")):
        options = decoders.DecodeOptions(None, 10**7).for_model(base, None)
        assert options.schema is None
        with pytest.raises(BadRequest, match="'image/encoded' missing.*BYOC_TFRECORD_IMAGE_KEY"):
            decoders.decode("application/x-tfrecord", body, image_signature, options)


def test_raw_record_of_the_wrong_length_is_400(tmp_path, image_signature):
    base = _model_with_schema(tmp_path, _trained_schema([_raw_example(random_image())], layout="chw"))
    options = decoders.DecodeOptions(None, 10**7).for_model(base, None)
    body = _tf_written(tmp_path, [_raw_example(random_image(16, 16))])
    with pytest.raises(BadRequest, match=r"TFRecord 0: feature 'image' has 768 values; the model's schema says 32x32"):
        decoders.decode("application/x-tfrecord", body, image_signature, options)


def test_asset_names_agree():
    from serve_container.decoders import tfrecord
    from train_container import datasets

    assert tfrecord.SCHEMA_ASSET == datasets.SCHEMA_ASSET and tfrecord.SCHEMA_VERSION == datasets.SCHEMA_VERSION
