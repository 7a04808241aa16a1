"""TFRecord framing (length + masked CRC32C, both verified) and tf.train.Example image extraction.

Which feature holds the image, and how (PNG/JPEG bytes, raw uint8 bytes, a number list; shape and HWC/CHW
layout), comes from the `assets/input_schema.json` the trainer exports with the model (written by
train_container.datasets.ImageSchema; read here as plain JSON, no TensorFlow). BYOC_TFRECORD_IMAGE_KEY
overrides the key; without either, `image/encoded` holding encoded images.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np
from google.protobuf.message import DecodeError
from PIL import Image

from serve_container.errors import BadRequest
from serve_container.protos import example_pb2

_HEADER = struct.Struct("<QI")  # uint64 length, masked crc32c of those 8 bytes
_FOOTER = struct.Struct("<I")  # masked crc32c of the data
_MASK_DELTA = 0xA282EAD8
SCHEMA_ASSET = "input_schema.json"
SCHEMA_VERSION = 1
DEFAULT_IMAGE_KEY = "image/encoded"
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"RIFF")
_MODE_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordSchema:
    """The part of the trainer's schema serving needs: where the pixels are and how they are laid out."""

    image_key: str = DEFAULT_IMAGE_KEY
    encoding: str = "encoded"  # encoded | raw | float | int
    shape: tuple[int, int, int] | None = None  # (H, W, C)
    layout: str = "HWC"
    scale: float = 1.0

    @classmethod
    def from_json(cls, text: str) -> RecordSchema:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"not a version {SCHEMA_VERSION} input schema")
        shape = data.get("shape")
        schema = cls(
            image_key=str(data["image_key"]),
            encoding=str(data["encoding"]),
            shape=tuple(int(v) for v in shape) if shape else None,
            layout=str(data.get("layout", "HWC")),
            scale=float(data.get("scale", 1.0)),
        )
        if schema.encoding not in ("encoded", "raw", "float", "int") or schema.layout not in ("HWC", "CHW"):
            raise ValueError(f"unknown encoding {schema.encoding!r} or layout {schema.layout!r}")
        if schema.encoding != "encoded" and (schema.shape is None or len(schema.shape) != 3):
            raise ValueError("raw pixels need a 3-value shape")
        return schema


_DEFAULT_SCHEMA = RecordSchema()
_SCHEMAS: dict[Path, tuple[int, RecordSchema | None]] = {}


def model_schema(base_path: Path, version: int | None) -> RecordSchema | None:
    """The schema asset of `version` (None: the newest version, the one TF Serving serves), cached by mtime."""
    if version is None:
        try:
            versions = [int(p) for p in os.listdir(base_path) if p.isdigit()]
        except OSError:
            return None
        if not versions:
            return None
        version = max(versions)
    path = Path(base_path, str(version), "assets", SCHEMA_ASSET)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _SCHEMAS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        schema = RecordSchema.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring %s: %s", path, exc)  # a broken asset must not take the other payload types down
        schema = None
    _SCHEMAS[path] = (stamp, schema)
    return schema


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


def example_image(record: bytes, key: str | None, index: int, schema: RecordSchema | None = None):
    """The record's image: encoded bytes, or an HxWxC uint8 array when the schema says raw pixels."""
    schema = schema or _DEFAULT_SCHEMA  # per record: a frozen dataclass costs ~1 us to build
    key = key or schema.image_key
    try:
        example = example_pb2.Example.FromString(record)
    except DecodeError:
        raise BadRequest(f"TFRecord {index}: not a serialized tf.train.Example") from None
    features = example.features.feature
    if key not in features:
        raise BadRequest(
            f"TFRecord {index}: feature {key!r} missing (has {sorted(features)}); set BYOC_TFRECORD_IMAGE_KEY"
        )
    feature = features[key]
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        values = feature.bytes_list.value
        if len(values) != 1:
            raise BadRequest(f"TFRecord {index}: feature {key!r} must hold exactly one bytes value")
        value = values[0]
        if schema.encoding != "raw":
            return value
        # Raw pixels may start with any bytes: the length decides first (BMP's magic is just 'BM').
        if len(value) != math.prod(schema.shape) and value.startswith(_IMAGE_MAGIC):
            return value
        pixels = np.frombuffer(value, dtype=np.uint8)
    elif kind in ("float_list", "int64_list") and schema.encoding in ("float", "int"):
        values = feature.float_list.value if kind == "float_list" else feature.int64_list.value
        pixels = np.asarray(values, dtype=np.float32) * schema.scale
        pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    else:
        raise BadRequest(f"TFRecord {index}: feature {key!r} holds no image ({kind})")
    height, width, channels = schema.shape
    if pixels.size != height * width * channels:
        raise BadRequest(
            f"TFRecord {index}: feature {key!r} has {pixels.size} values; the model's schema says "
            f"{height}x{width}x{channels}"
        )
    if schema.layout == "CHW":
        return pixels.reshape(channels, height, width).transpose(1, 2, 0)
    return pixels.reshape(height, width, channels)


def fit_pixels(pixels: np.ndarray, height: int | None, width: int | None, channels: int) -> np.ndarray:
    """Raw record pixels to the model input's channels and size, converted as decoded images are."""
    have = pixels.shape[-1]
    if (height in (None, pixels.shape[0])) and (width in (None, pixels.shape[1])) and have == channels:
        return pixels
    image = Image.fromarray(pixels[..., 0] if have == 1 else pixels, _MODE_BY_CHANNELS[have])
    image = image.convert(_MODE_BY_CHANNELS[channels])
    if height is not None and width is not None and image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    result = np.asarray(image)
    return result[..., np.newaxis] if result.ndim == 2 else result
