"""PNG/JPEG bytes -> an HxWxC array fitted to the model's image input (channels, size, dtype)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pyspng
from PIL import Image, UnidentifiedImageError

from serve_container.errors import BadRequest, PayloadTooLarge
from serve_container.signature import TensorSpec

ANY_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
_MODE_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 8-bit PNG colour types whose pixels are already what the model wants: grey, RGB, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 6: 4}


def target_shape(spec: TensorSpec) -> tuple[int | None, int | None, int | None, bool]:
    """(height, width, channels, has_channel_axis) from the input's per-instance shape."""
    shape = spec.shape
    if shape is None or len(shape) not in (3, 4):
        if shape is not None:
            raise BadRequest(f"the model input {spec.describe()} does not take images")
        return None, None, 3, True
    if len(shape) == 3:  # [batch, H, W]: grayscale without a channel axis
        return shape[1], shape[2], 1, False
    return shape[1], shape[2], shape[3], True


def _png_as_is(data: bytes, height: int | None, width: int | None, channels: int, max_pixels: int):
    """libspng for PNGs that need no conversion (the common case): ~2.5x less CPU than Pillow per image.

    Only when the header says 8-bit grey/RGB/RGBA of the model's channel count and size, so the pixels are the
    ones Pillow would give; anything else (palette, 16-bit, resize, corrupt data) returns None and takes the Pillow
    path, which also owns every error message.
    """
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    png_width, png_height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    if bit_depth != 8 or _PNG_CHANNELS.get(colour_type) != channels or png_width * png_height > max_pixels:
        return None
    if (height is not None and height != png_height) or (width is not None and width != png_width):
        return None
    try:
        return pyspng.load(data)
    except RuntimeError:
        return None


def decode_image(data: bytes, spec: TensorSpec, max_pixels: int, formats=ANY_IMAGE_FORMATS) -> np.ndarray:
    return _decode(data, _checked_target(spec), max_pixels, formats)


def _checked_target(spec: TensorSpec) -> tuple[int | None, int | None, int | None, bool]:
    target = target_shape(spec)
    channels = target[2]
    if channels is not None and channels not in _MODE_BY_CHANNELS:
        raise BadRequest(f"the model input {spec.describe()} has {channels} channels; images give 1, 3 or 4")
    return target


def _decode(data: bytes, target, max_pixels: int, formats) -> np.ndarray:
    height, width, channels, channel_axis = target
    pixels = _png_as_is(data, height, width, channels or 3, max_pixels) if "PNG" in formats else None
    if pixels is not None:
        return pixels[..., np.newaxis] if channel_axis and pixels.ndim == 2 else pixels
    try:
        image = Image.open(io.BytesIO(data), formats=list(formats))
        # Header-only check before decoding pixels: refuse decompression bombs with a clear 413.
        if image.width * image.height > max_pixels:
            raise PayloadTooLarge(
                f"image is {image.width}x{image.height} pixels; "
                f"the limit is {max_pixels} (BYOC_MAX_IMAGE_PIXELS)"
            )
        image.load()
    except UnidentifiedImageError:
        raise BadRequest(
            f"payload is not a decodable image (accepted formats: {', '.join(formats)})"
        ) from None
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise BadRequest(f"corrupt or truncated image: {exc}") from None
    mode = _MODE_BY_CHANNELS[channels or 3]
    if image.mode != mode:
        image = image.convert(mode)
    if height is not None and width is not None and image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image)
    if channel_axis and pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    return pixels


def images_to_batch(
    images: list[bytes], spec: TensorSpec, max_pixels: int, formats=ANY_IMAGE_FORMATS, first_index: int | None = None
):
    """One batch for the image input; string inputs get the encoded bytes as they are.

    Errors name the record (`first_index` + position) whenever the images are records of a request, i.e. when
    `first_index` is given or there are several. Pixels go straight into one contiguous batch array.
    """
    if spec.is_string:
        batch = np.empty(len(images), dtype=object)
        batch[:] = images
        return batch
    target = _checked_target(spec)  # once per batch, not per image
    batch = None
    for index, data in enumerate(images):
        try:
            pixels = _decode(data, target, max_pixels, formats)
        except (BadRequest, PayloadTooLarge) as exc:
            if first_index is None and len(images) == 1:
                raise
            raise type(exc)(f"record {(first_index or 0) + index}: {exc.message}") from None
        if batch is None:
            if len(images) == 1:  # the common single-image request: a view with a batch axis
                return pixels[np.newaxis].astype(spec.dtype, copy=False)
            batch = np.empty((len(images), *pixels.shape), dtype=pixels.dtype)
        elif pixels.shape != batch.shape[1:]:
            raise BadRequest(
                f"images have different sizes {sorted({batch.shape[1:], pixels.shape})} and the model input "
                f"{spec.describe()} does not fix its height and width"
            )
        batch[index] = pixels
    return batch.astype(spec.dtype, copy=False)
