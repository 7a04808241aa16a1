"""numpy <-> TensorProto, checked against TensorFlow's own converters (TF is in the test venv only)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from serve_container.protos import tensor_pb2, types_pb2
from serve_container.tensors import from_tensor_proto, to_tensor_proto

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv always has TF (requirements/dev.txt); tests compare against it

NUMERIC = [
    np.float32,
    np.float64,
    np.float16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
]


def _sample(dtype, shape=(2, 3, 4)):
    rng = np.random.default_rng(1)
    if dtype is np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.normal(size=shape).astype(dtype)


def _ours_to_tf(proto):
    return tf.make_tensor_proto(0).__class__.FromString(proto.SerializeToString())


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numeric_round_trip_matches_tensorflow(dtype):
    array = _sample(dtype)
    ours = to_tensor_proto(array)
    np.testing.assert_array_equal(tf.make_ndarray(_ours_to_tf(ours)), array)
    theirs = tensor_pb2.TensorProto.FromString(tf.make_tensor_proto(array).SerializeToString())
    decoded = from_tensor_proto(theirs)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_big_endian_input_is_sent_little_endian():
    array = np.arange(6, dtype=">i4").reshape(2, 3)
    np.testing.assert_array_equal(tf.make_ndarray(_ours_to_tf(to_tensor_proto(array))), array)


def test_strings_round_trip():
    array = np.array([[b"a", b"\xff\x00"], [b"", b"long" * 10]], dtype=object)
    ours = to_tensor_proto(array)
    assert ours.dtype == types_pb2.DT_STRING
    np.testing.assert_array_equal(tf.make_ndarray(_ours_to_tf(ours)), array)
    back = from_tensor_proto(ours)
    assert back.shape == (2, 2) and back[0, 1] == b"\xff\x00"


@pytest.mark.parametrize(
    ("value", "dtype"), [(1.5, tf.float32), (3, tf.int32), (True, tf.bool), (2.5, tf.float16)]
)
def test_single_value_proto_broadcasts_like_tensorflow(value, dtype):
    theirs = tf.make_tensor_proto(value, dtype=dtype, shape=[2, 3])
    proto = tensor_pb2.TensorProto.FromString(theirs.SerializeToString())
    np.testing.assert_array_equal(from_tensor_proto(proto), tf.make_ndarray(theirs))


def test_typed_value_fields_are_read():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=3)
    proto.float_val.extend([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(from_tensor_proto(proto), np.array([1, 2, 3], np.float32))


def test_value_count_mismatch_is_an_upstream_error():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=3)
    proto.float_val.extend([1.0, 2.0])
    with pytest.raises(Exception, match="needs 3"):
        from_tensor_proto(proto)
