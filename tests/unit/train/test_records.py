"""Shard naming and counting."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from train_container import records


def test_shard_name_matches_the_schema():
    assert records.shard_name("train", 3, 16) == "train-00003-of-00016.tfrecord"


@given(st.sampled_from(["train", "validation", "eval", "my-split"]), st.integers(1, 99999), st.data())
def test_shard_names_parse_back(split, count, data):
    index = data.draw(st.integers(0, count - 1))
    assert records.parse_shard_name(records.shard_name(split, index, count)) == (split, index, count)


@pytest.mark.parametrize("name", ["train.tfrecord", "train-1-of-2.tfrecord", "train-00000-of-00002.tfr"])
def test_other_names_are_not_shards(name):
    assert records.parse_shard_name(name) is None


def test_index_out_of_range_is_refused():
    with pytest.raises(ValueError):
        records.shard_name("train", 16, 16)


@pytest.mark.parametrize(
    ("num_records", "multiple", "per_shard", "expected"),
    [
        (50000, 8, 4096, 16),  # 13 needed -> next multiple of 8
        (40000, 8, 5000, 8),
        (40001, 8, 5000, 16),
        (10, 8, 4096, 8),
        (0, 1, 10, 1),
        (100, 3, 10, 12),
    ],
)
def test_shard_count_is_the_smallest_sufficient_multiple(num_records, multiple, per_shard, expected):
    count = records.shard_count(num_records, multiple, per_shard)
    assert count == expected
    assert count % multiple == 0 and count * per_shard >= num_records


def test_shard_count_rejects_nonsense():
    with pytest.raises(ValueError):
        records.shard_count(10, 0, 10)


def tf_written_stream(tmp_path, payloads):
    import tensorflow as tf

    path = tmp_path / "records.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    return path.read_bytes()


def test_frame_reader_matches_tensorflow_writer(tmp_path):
    payloads = [b"", b"a", bytes(range(256)) * 40]
    stream = io.BytesIO(tf_written_stream(tmp_path, payloads))
    assert list(records.iter_tfrecords(stream)) == payloads


def test_frame_reader_rejects_corrupt_and_truncated_streams(tmp_path):
    data = bytearray(tf_written_stream(tmp_path, [b"hello world", b"second"]))
    corrupt = bytes(data[:14]) + b"X" + bytes(data[15:])
    with pytest.raises(records.FramingError, match="data CRC mismatch"):
        list(records.iter_tfrecords(io.BytesIO(corrupt)))
    with pytest.raises(records.FramingError, match="truncated"):
        list(records.iter_tfrecords(io.BytesIO(bytes(data[:-3]))))
    with pytest.raises(records.FramingError, match="length CRC mismatch"):
        list(records.iter_tfrecords(io.BytesIO(b"not a tfrecord stream at all")))
