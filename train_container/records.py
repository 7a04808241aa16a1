"""TFRecord schema and shard naming shared by data prep, the reader and the serving decoder's tests.

Schema (DESIGN.md): `image/encoded` PNG/JPEG bytes, `image/format`, `image/class/label` int64,
`image/height`, `image/width` int64, `image/filename` (optional). Shards `<split>-00000-of-00016.tfrecord`.
TensorFlow is imported only by the functions that build protos.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

SHARD_SUFFIX = ".tfrecord"
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_SHARD_RE = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")


@dataclass(frozen=True)
class FeatureKeys:
    image: str = "image/encoded"
    format: str = "image/format"
    label: str = "image/class/label"
    height: str = "image/height"
    width: str = "image/width"
    filename: str = "image/filename"


DEFAULT_KEYS = FeatureKeys()


def shard_name(split: str, index: int, count: int) -> str:
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} is outside 0..{count - 1}")
    return f"{split}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


def parse_shard_name(name: str) -> tuple[str, int, int] | None:
    match = _SHARD_RE.match(name)
    if not match:
        return None
    return match["split"], int(match["index"]), int(match["count"])


def shard_count(num_records: int, multiple: int, records_per_shard: int) -> int:
    """Fewest shards holding at most `records_per_shard` each, rounded up to a multiple of `multiple`.

    A multiple of the worker count lets every worker read whole files (seed 000: multiple of 8 GPUs).
    """
    if multiple < 1 or records_per_shard < 1:
        raise ValueError("multiple and records_per_shard must be >= 1")
    needed = max(1, math.ceil(num_records / records_per_shard))
    return multiple * math.ceil(needed / multiple)


def encode_example(
    image: bytes,
    label: int,
    height: int,
    width: int,
    image_format: str,
    filename: str | None = None,
    keys: FeatureKeys = DEFAULT_KEYS,
) -> bytes:
    """One serialized tf.train.Example in the project schema."""
    import tensorflow as tf

    def as_bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def as_int(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    feature = {
        keys.image: as_bytes(image),
        keys.format: as_bytes(image_format.encode()),
        keys.label: as_int(label),
        keys.height: as_int(height),
        keys.width: as_int(width),
    }
    if filename is not None:
        feature[keys.filename] = as_bytes(filename.encode())
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class FramingError(ValueError):
    """The byte stream is not a sequence of valid TFRecord frames."""


def masked_crc32c(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_tfrecords(stream: BinaryIO, verify: bool = True) -> Iterator[bytes]:
    """Records from a sequential stream of TFRecord frames (length, crc, data, crc).

    For Pipe mode: TF's own reader uses positional reads (pread), which a FIFO refuses ("Illegal seek").
    """
    while True:
        header = stream.read(_LENGTH.size + _CRC.size)
        if not header:
            return
        if len(header) < _LENGTH.size + _CRC.size:
            raise FramingError("truncated TFRecord header")
        length_bytes = header[: _LENGTH.size]
        if verify and _CRC.unpack(header[_LENGTH.size :])[0] != masked_crc32c(length_bytes):
            raise FramingError("TFRecord length CRC mismatch (not a TFRecord stream?)")
        (length,) = _LENGTH.unpack(length_bytes)
        payload = _read_exact(stream, length)
        footer = _read_exact(stream, _CRC.size)
        if verify and _CRC.unpack(footer)[0] != masked_crc32c(payload):
            raise FramingError("TFRecord data CRC mismatch (corrupt record)")
        yield payload


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise FramingError(f"truncated TFRecord: {remaining} of {size} bytes missing")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
