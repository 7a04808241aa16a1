"""PNG/JPEG bytes -> an HxWxC array fitted to the model's image input (channels, size, dtype)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from serve_container.errors import BadRequest, PayloadTooLarge
from serve_container.signature import TensorSpec

ANY_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
_MODE_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}


def _target(spec: TensorSpec) -> tuple[int | None, int | None, int | None, bool]:
    """(height, width, channels, has_channel_axis) from the input's per-instance shape."""
    shape = spec.shape
    if shape is None or len(shape) not in (3, 4):
        if shape is not None:
            raise BadRequest(f"the model input {spec.describe()} does not take images")
        return None, None, 3, True
    if len(shape) == 3:  # [batch, H, W]: grayscale without a channel axis
        return shape[1], shape[2], 1, False
    return shape[1], shape[2], shape[3], True


def decode_image(data: bytes, spec: TensorSpec, max_pixels: int, formats=ANY_IMAGE_FORMATS) -> np.ndarray:
    height, width, channels, channel_axis = _target(spec)
    if channels is not None and channels not in _MODE_BY_CHANNELS:
        raise BadRequest(f"the model input {spec.describe()} has {channels} channels; images give 1, 3 or 4")
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
    `first_index` is given or there are several.
    """
    if spec.is_string:
        batch = np.empty(len(images), dtype=object)
        batch[:] = images
        return batch
    decoded = []
    for index, data in enumerate(images):
        try:
            decoded.append(decode_image(data, spec, max_pixels, formats))
        except (BadRequest, PayloadTooLarge) as exc:
            if first_index is None and len(images) == 1:
                raise
            raise type(exc)(f"record {(first_index or 0) + index}: {exc.message}") from None
    shapes = {a.shape for a in decoded}
    if len(shapes) > 1:
        raise BadRequest(
            f"images have different sizes {sorted(shapes)} and the model input {spec.describe()} "
            "does not fix its height and width"
        )
    return np.stack(decoded).astype(spec.dtype, copy=False)
