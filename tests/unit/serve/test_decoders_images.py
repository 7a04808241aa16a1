from __future__ import annotations

import numpy as np
import pytest

from serve_container import decoders
from serve_container.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from serve_container.signature import Signature, TensorSpec
from tests.unit.serve.conftest import image_bytes, random_image


def _decode(media, body, signature, options):
    return decoders.decode(decoders.canonical_media_type(media), body, signature, options)


@pytest.mark.parametrize("media", ["application/x-image", "image/png"])
def test_png_is_decoded_exactly(media, image_signature, options):
    pixels = random_image()
    batch = _decode(media, image_bytes(pixels), image_signature, options)["image"]
    assert batch.dtype == np.uint8 and batch.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(batch[0], pixels)


def test_jpeg_is_decoded_close_to_the_source(image_signature, options):
    pixels = np.full((32, 32, 3), 120, np.uint8)
    batch = _decode("image/jpeg", image_bytes(pixels, "JPEG", quality=95), image_signature, options)["image"]
    assert np.abs(batch[0].astype(int) - 120).max() <= 3


def test_grayscale_is_converted_to_rgb(image_signature, options):
    gray = random_image(channels=1)
    batch = _decode("image/png", image_bytes(gray), image_signature, options)["image"]
    np.testing.assert_array_equal(batch[0, :, :, 0], gray)
    np.testing.assert_array_equal(batch[0, :, :, 2], gray)


def test_rgb_is_converted_for_a_grayscale_model(options):
    signature = Signature("s", (TensorSpec("image", np.dtype(np.float32), (None, 8, 8, 1)),), ())
    batch = _decode("image/png", image_bytes(random_image(8, 8)), signature, options)["image"]
    assert batch.shape == (1, 8, 8, 1) and batch.dtype == np.float32


def test_image_is_resized_to_the_model_size(image_signature, options):
    batch = _decode("image/png", image_bytes(random_image(64, 48)), image_signature, options)["image"]
    assert batch.shape == (1, 32, 32, 3)


def test_dynamic_size_model_keeps_the_image_size(options):
    signature = Signature("s", (TensorSpec("image", np.dtype(np.uint8), (None, None, None, 3)),), ())
    batch = _decode("image/png", image_bytes(random_image(20, 10)), signature, options)["image"]
    assert batch.shape == (1, 20, 10, 3)


def test_string_input_model_gets_the_encoded_bytes(options):
    signature = Signature("s", (TensorSpec("image_bytes", np.dtype(object), (None,)),), ())
    body = image_bytes(random_image())
    batch = _decode("application/x-image", body, signature, options)["image_bytes"]
    assert batch.tolist() == [body]


def test_truncated_png_is_400(image_signature, options):
    body = image_bytes(random_image())
    with pytest.raises(BadRequest, match="truncated|corrupt"):
        _decode("image/png", body[: len(body) // 2], image_signature, options)


def test_garbage_is_400(image_signature, options):
    with pytest.raises(BadRequest, match="not a decodable image"):
        _decode("application/x-image", b"hello world", image_signature, options)


def test_jpeg_sent_as_png_is_400(image_signature, options):
    with pytest.raises(BadRequest, match="PNG"):
        _decode("image/png", image_bytes(random_image(), "JPEG"), image_signature, options)


def test_decompression_bomb_is_refused_before_decoding(image_signature):
    # A 5000x5000 PNG of zeros compresses to a few KB; the pixel guard must stop it from the header alone.
    body = image_bytes(np.zeros((5000, 5000), np.uint8))
    assert len(body) < 100_000
    with pytest.raises(PayloadTooLarge, match="BYOC_MAX_IMAGE_PIXELS"):
        decoders.decode(
            "image/png", body, image_signature, decoders.DecodeOptions("image/encoded", 1_000_000)
        )


def test_non_image_model_refuses_images(vector_signature, options):
    with pytest.raises(BadRequest, match="does not take images"):
        _decode("image/png", image_bytes(random_image()), vector_signature, options)


def test_unknown_content_type_lists_supported():
    with pytest.raises(UnsupportedMediaType) as info:
        decoders.canonical_media_type("application/xml")
    assert info.value.status == 415
    assert "application/x-tfrecord" in info.value.message and "image/png" in info.value.message


def test_content_type_parameters_and_aliases():
    assert decoders.canonical_media_type("Application/JSON; charset=utf-8") == "application/json"
    assert decoders.canonical_media_type("image/jpg") == "image/jpeg"
    assert decoders.canonical_media_type(None) == "application/json"
