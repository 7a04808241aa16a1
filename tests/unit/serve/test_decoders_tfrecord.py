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
