"""The libspng fast path gives exactly Pillow's pixels, and hands everything it does not cover to Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serve_container import decoders
from serve_container.decoders.images import _png_as_is, decode_image
from serve_container.errors import BadRequest
from serve_container.signature import Signature, TensorSpec
from tests.unit.serve.conftest import random_image

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def png(pixels: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", **save)
    return buffer.getvalue()


def pillow_pixels(data: bytes, mode: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert(mode))


def spec(channels: int, size=(16, 16)) -> TensorSpec:
    return TensorSpec("image", np.dtype(np.uint8), (None, *size, channels))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_fast_path_matches_pillow(channels):
    data = png(random_image(16, 16, channels))
    fast = _png_as_is(data, 16, 16, channels, 10**6)
    assert fast is not None, "an 8-bit PNG of the model's channels and size must take the fast path"
    np.testing.assert_array_equal(fast, pillow_pixels(data, MODES[channels]))
    decoded = decode_image(data, spec(channels), 10**6)
    assert decoded.shape == (16, 16, channels) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded.reshape(16, 16, -1), pillow_pixels(data, MODES[channels]).reshape(16, 16, -1))


@pytest.mark.parametrize(
    "make, channels, size",
    [
        (lambda: png(random_image(16, 16, 1)), 3, (16, 16)),  # grey image, RGB model
        (lambda: png(random_image(16, 16)), 1, (16, 16)),  # RGB image, grey model
        (lambda: png(random_image(16, 16)), 3, (8, 8)),  # needs a resize
        (lambda: _palette(), 3, (16, 16)),  # palette
        (lambda: _sixteen_bit(), 1, (16, 16)),  # 16-bit grey
    ],
)
def test_conversions_take_the_pillow_path_and_still_decode(make, channels, size):
    data = make()
    assert _png_as_is(data, *size, channels, 10**6) is None
    decoded = decode_image(data, spec(channels, size), 10**6)
    assert decoded.shape == (*size, channels)


def _palette() -> bytes:
    return png(np.asarray(Image.fromarray(random_image(16, 16)).convert("P")))


def _sixteen_bit() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 200).save(buffer, "PNG")
    return buffer.getvalue()


def test_too_many_pixels_is_left_to_the_pillow_check():
    data = png(random_image(16, 16))
    assert _png_as_is(data, None, None, 3, 255) is None


def test_corrupt_png_gets_pillows_400():
    data = png(random_image(16, 16))
    truncated = data[: len(data) // 2]
    assert _png_as_is(truncated, 16, 16, 3, 10**6) is None
    with pytest.raises(BadRequest, match="corrupt or truncated"):
        decode_image(truncated, spec(3), 10**6)


def test_png_body_declared_as_jpeg_is_still_refused(options):
    signature = Signature("s", (spec(3),), ())
    with pytest.raises(BadRequest, match="not a decodable image"):
        decoders.decode("image/jpeg", png(random_image(16, 16)), signature, options)
