"""TFRecord framing (length + masked CRC32C, both verified) and tf.train.Example image extraction."""

from __future__ import annotations

import struct

import google_crc32c
from google.protobuf.message import DecodeError

from serve_container.errors import BadRequest
from serve_container.protos import example_pb2

_HEADER = struct.Struct("<QI")  # uint64 length, masked crc32c of those 8 bytes
_FOOTER = struct.Struct("<I")  # masked crc32c of the data
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord frame (used by tests and tools; the inverse of split_records)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + _FOOTER.pack(masked_crc32c(data))


def split_records(body: bytes) -> list[bytes]:
    records = []
    offset, total = 0, len(body)
    view = memoryview(body)
    while offset < total:
        index = len(records)
        if total - offset < _HEADER.size:
            raise BadRequest(f"TFRecord {index} at byte {offset}: truncated header")
        length, length_crc = _HEADER.unpack_from(body, offset)
        if masked_crc32c(bytes(view[offset : offset + 8])) != length_crc:
            raise BadRequest(f"TFRecord {index} at byte {offset}: length CRC mismatch (not TFRecord data?)")
        start = offset + _HEADER.size
        end = start + length
        if end + _FOOTER.size > total:
            raise BadRequest(
                f"TFRecord {index} at byte {offset}: truncated record ({length} bytes announced)"
            )
        data = bytes(view[start:end])
        (data_crc,) = _FOOTER.unpack_from(body, end)
        if masked_crc32c(data) != data_crc:
            raise BadRequest(f"TFRecord {index} at byte {offset}: data CRC mismatch (corrupt record)")
        records.append(data)
        offset = end + _FOOTER.size
    if not records:
        raise BadRequest("empty TFRecord payload")
    return records


def example_image(record: bytes, key: str, index: int) -> bytes:
    try:
        example = example_pb2.Example.FromString(record)
    except DecodeError:
        raise BadRequest(f"TFRecord {index}: not a serialized tf.train.Example") from None
    features = example.features.feature
    if key not in features:
        raise BadRequest(
            f"TFRecord {index}: feature {key!r} missing (has {sorted(features)}); set BYOC_TFRECORD_IMAGE_KEY"
        )
    values = features[key].bytes_list.value
    if len(values) != 1:
        raise BadRequest(f"TFRecord {index}: feature {key!r} must hold exactly one bytes value")
    return values[0]
