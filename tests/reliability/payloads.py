"""Hypothesis strategies for hostile request bodies, one per content type.

Each strategy starts from something valid (so the fuzzer reaches deep into a decoder) and then breaks it the
way real clients and disks do: truncation, flipped bytes, forged headers and lengths, wrong types, nesting.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import struct
import zlib

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from serve_container.decoders.tfrecord import frame_record, masked_crc32c
from serve_container.protos import example_pb2

IMAGE_MODES = ("RGB", "L", "RGBA", "P", "1", "LA", "I;16", "I", "F", "CMYK")
LOSSLESS_FORMATS = ("PNG", "BMP", "GIF", "WEBP")


def _save(image: Image.Image, fmt: str) -> bytes | None:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # this mode cannot be written in this format
        return None
    return buffer.getvalue()


@functools.cache
def bomb_png(width: int = 6000, height: int = 6000) -> bytes:
    """Tiny on the wire, 36 Mpx once decoded: a decompression bomb (over the 25 Mpx default limit)."""
    return _save(Image.new("L", (width, height)), "PNG")


def forge_png_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the IHDR dimensions with a valid chunk CRC, so only the pixel-count guard can stop it."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return data
    ihdr = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF) + data[33:]


def forge_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0 and at + 9 <= len(data):
            return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]
    return data


@st.composite
def valid_images(draw, formats=("PNG", "JPEG")) -> bytes:
    fmt = draw(st.sampled_from(formats))
    mode = draw(st.sampled_from(IMAGE_MODES))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    with contextlib.suppress(ValueError):
        image = image.convert(mode)
    data = _save(image, fmt)
    return data if data is not None else _save(Image.fromarray(pixels), fmt)


def _mutate(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(("none", "truncate", "flip", "insert", "append", "random")))
    if kind == "none" or not data:
        return data
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        mutable = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            mutable[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(mutable)
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=256))
    return draw(st.binary(min_size=1, max_size=2048))


@st.composite
def image_bodies(draw, formats=("PNG", "JPEG")) -> bytes:
    """Valid, truncated, corrupted, forged-size and bomb images of many modes."""
    kind = draw(st.sampled_from(("mutated", "mutated", "mutated", "forged", "bomb")))
    if kind == "bomb":
        return bomb_png()
    data = draw(valid_images(formats))
    if kind == "forged":
        width = draw(st.sampled_from((0, 1, 65535, 2**31 - 1, 2**32 - 1)) | st.integers(0, 2**32 - 1))
        height = draw(st.sampled_from((0, 1, 65535, 2**31 - 1, 2**32 - 1)) | st.integers(0, 2**32 - 1))
        if data.startswith(b"\x89PNG"):
            return forge_png_size(data, width, height)
        return forge_jpeg_size(data, width & 0xFFFF, height & 0xFFFF)
    return _mutate(draw, data)


def example(features: dict) -> bytes:
    built = example_pb2.Example()
    for key, value in features.items():
        feature = built.features.feature[key]
        if isinstance(value, list) and value and isinstance(value[0], int):
            feature.int64_list.value.extend(value)
        elif isinstance(value, list):
            feature.bytes_list.value.extend(value)
        else:
            feature.bytes_list.value.append(value)
    return built.SerializeToString()


@st.composite
def tfrecord_payloads(draw) -> bytes:
    """1-5 records (good image, non-image bytes, missing/wrong-typed key, not an Example) + broken framing."""
    records = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(("image", "image", "not-image", "missing", "int64", "two", "garbage")))
        if kind == "image":
            records.append(example({"image/encoded": draw(image_bodies())}))
        elif kind == "not-image":
            records.append(example({"image/encoded": draw(st.binary(max_size=256))}))
        elif kind == "missing":
            records.append(example({"image/other": draw(valid_images())}))
        elif kind == "int64":
            records.append(example({"image/encoded": [draw(st.integers(-(2**63), 2**63 - 1))]}))
        elif kind == "two":
            records.append(example({"image/encoded": [draw(valid_images()), draw(valid_images())]}))
        else:
            records.append(draw(st.binary(max_size=512)))
    body = bytearray(b"".join(frame_record(r) for r in records))
    kind = draw(st.sampled_from(("none", "length", "length-crc", "data-crc", "truncate", "append", "random")))
    if kind == "length" and len(body) >= 12:
        length = draw(st.integers(0, 2**64 - 1))
        header = struct.pack("<Q", length)
        body[0:12] = header + struct.pack("<I", masked_crc32c(header))  # a forged, self-consistent length
    elif kind == "length-crc" and len(body) >= 12:
        body[8] ^= 0xFF
    elif kind == "data-crc" and len(body) >= 1:
        body[-1] ^= draw(st.integers(1, 255))
    elif kind == "truncate" and len(body) > 1:
        body = body[: draw(st.integers(1, len(body) - 1))]
    elif kind == "append":
        body += draw(st.binary(min_size=1, max_size=64))
    elif kind == "random":
        body = bytearray(draw(st.binary(min_size=1, max_size=1024)))
    return bytes(body)


_HUGE_NUMBERS = ("1e999", "-1e999", "9" * 400, "-" + "9" * 5000, "1e-999", "NaN", "Infinity", "-Infinity")
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=40,
)


@st.composite
def json_documents(draw) -> bytes:
    kind = draw(st.sampled_from(("value", "rows", "ragged", "deep", "huge", "wrapped", "bytes")))
    if kind == "deep":
        depth = draw(st.sampled_from((40, 999, 1001, 5000, 200_000)) | st.integers(1, 3000))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"), ('{"instances":[', "]}"))))
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "huge":
        number = draw(st.sampled_from(_HUGE_NUMBERS))
        return f'{{"instances": [[{number}, 1, 2, 3]]}}'.encode()
    if kind == "bytes":
        return draw(st.binary(max_size=256))
    if kind == "rows":
        rows = draw(st.lists(st.lists(st.floats(width=32, allow_nan=False), min_size=4, max_size=4), max_size=4))
        return json.dumps({"instances": rows}).encode()
    if kind == "ragged":
        rows = draw(st.lists(st.lists(st.integers(-5, 5), max_size=6), min_size=1, max_size=4))
        return json.dumps(draw(st.sampled_from(({"instances": rows}, {"inputs": rows}, rows)))).encode()
    value = draw(_JSON_VALUES)
    if kind == "wrapped":
        key = draw(st.sampled_from(("instances", "inputs", "signature_name", "x")))
        value = {key: value}
    return json.dumps(value).encode()


_ROW = st.lists(st.floats(width=32, allow_nan=False), min_size=4, max_size=4).map(lambda r: json.dumps(r).encode())


@st.composite
def jsonlines_documents(draw) -> bytes:
    lines = draw(st.lists(_ROW | _ROW | json_documents(), min_size=1, max_size=4))
    return b"\n".join(line.replace(b"\n", b" ") for line in lines)


_CELLS = st.sampled_from(("1", "-2.5", "1e999", "nan", "inf", "", " ", "abc", '"3"', "0x10", "1j", "9" * 400))


@st.composite
def csv_documents(draw) -> bytes:
    kind = draw(st.sampled_from(("cells", "numbers", "text", "bytes")))
    if kind == "bytes":
        return draw(st.binary(max_size=256))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    cells = _CELLS if kind == "cells" else st.floats(allow_nan=False).map(repr) | st.integers().map(str)
    rows = draw(st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=5))
    separator = draw(st.sampled_from(("\n", "\r\n", "\r")))
    return separator.join(",".join(row) for row in rows).encode()


_NPY_DTYPES = ("<f4", ">f4", "<f8", "<f2", "<i8", "|u1", "|b1", "<c8", "<U3", "|S3", "<M8[s]", "|O", "|V4")


def npy_header(descr, shape, fortran: bool = False, version: tuple[int, int] = (1, 0)) -> bytes:
    text = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("utf-8")
    size_format = "<H" if version == (1, 0) else "<I"
    prefix = 8 + struct.calcsize(size_format)
    text += b" " * (63 - (prefix + len(text)) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_format, len(text)) + text


@st.composite
def npy_documents(draw) -> bytes:
    kind = draw(st.sampled_from(("saved", "saved", "forged", "mutated", "bytes")))
    if kind == "bytes":
        return draw(st.binary(max_size=256))
    if kind == "forged":
        descr = draw(st.sampled_from(_NPY_DTYPES) | st.text(max_size=6))
        dims = st.sampled_from((0, 1, 4, -1, 2**31, 2**40, 2**62, 2**64)) | st.integers(0, 64)
        shape = tuple(draw(st.lists(dims, max_size=4)))
        fortran = draw(st.booleans())
        version = draw(st.sampled_from(((1, 0), (2, 0), (3, 0), (9, 9))))
        return npy_header(descr, shape, fortran, version) + draw(st.binary(max_size=128))
    dtype = draw(st.sampled_from(("<f4", ">f8", "<i8", "|u1", "|b1", "<c8", "<U3", "|S3", "<M8[s]")))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    array = np.zeros(shape, dtype=dtype)
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(array) if draw(st.booleans()) else array)
    data = buffer.getvalue()
    return _mutate(draw, data) if kind == "mutated" else data


STRATEGIES = {
    "image/png": image_bodies(("PNG",)),
    "image/jpeg": image_bodies(("JPEG",)),
    "application/x-image": image_bodies(("PNG", "JPEG", *LOSSLESS_FORMATS[1:])),
    "application/x-tfrecord": tfrecord_payloads(),
    "application/json": json_documents(),
    "application/jsonlines": jsonlines_documents(),
    "text/csv": csv_documents(),
    "application/x-npy": npy_documents(),
}
IMAGE_TYPES = ("image/png", "image/jpeg", "application/x-image", "application/x-tfrecord")
