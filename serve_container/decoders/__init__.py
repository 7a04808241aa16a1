"""Request body -> named numpy inputs for one signature, chosen by the request's media type."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from serve_container.decoders import images, tabular, tfrecord
from serve_container.decoders.arrays import batch_size
from serve_container.errors import BadRequest, UnsupportedMediaType
from serve_container.signature import Signature

# Aliases seen in the wild map to one canonical media type.
CANONICAL = {
    "application/x-image": "application/x-image",
    "image/png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "application/x-tfrecord": "application/x-tfrecord",
    "application/json": "application/json",
    "text/csv": "text/csv",
    "application/jsonlines": "application/jsonlines",
    "application/jsonl": "application/jsonlines",
    "application/x-jsonlines": "application/jsonlines",
    "application/jsons": "application/jsonlines",  # the DLC's name for it
    "application/x-npy": "application/x-npy",
    "application/npy": "application/x-npy",
}


class DecodeOptions:
    """`image_key`: BYOC_TFRECORD_IMAGE_KEY (None: the model's schema asset, else image/encoded)."""

    __slots__ = ("image_key", "max_image_pixels", "_schema", "_model")

    def __init__(self, image_key: str | None, max_image_pixels: int, schema: tfrecord.RecordSchema | None = None):
        self.image_key = image_key
        self.max_image_pixels = max_image_pixels
        self._schema = schema
        self._model = None

    def for_model(self, base_path, version: int | None) -> DecodeOptions:
        """These options with the TFRecord schema the model was trained on (its assets/input_schema.json), read
        when a decoder asks for it: only TFRecord bodies need it."""
        options = DecodeOptions(self.image_key, self.max_image_pixels)
        options._model = (base_path, version)
        return options

    @property
    def schema(self) -> tfrecord.RecordSchema | None:
        if self._model is not None:
            self._schema, self._model = tfrecord.model_schema(*self._model), None
        return self._schema


def _single_image(formats):
    def decode(body: bytes, signature: Signature, options: DecodeOptions):
        spec = signature.image_input()
        return {spec.name: images.images_to_batch([body], spec, options.max_image_pixels, formats)}

    return decode


def _tfrecords(body: bytes, signature: Signature, options: DecodeOptions):
    records = tfrecord.split_records(body)
    spec = signature.image_input()
    if spec.is_string and spec.shape is not None and len(spec.shape) == 1:
        # A string vector input takes serialized tf.train.Examples (the model parses them itself).
        return {spec.name: images.images_to_batch(records, spec, options.max_image_pixels)}
    return {spec.name: _tfrecord_batch(records, spec, options, 0)}


def _tfrecord_batch(records: list[bytes], spec, options: DecodeOptions, first_index: int) -> np.ndarray:
    key, schema = options.image_key, options.schema
    found = [tfrecord.example_image(record, key, first_index + offset, schema) for offset, record in enumerate(records)]
    if spec.is_string or all(isinstance(item, bytes) for item in found):
        return images.images_to_batch(found, spec, options.max_image_pixels, first_index=first_index)
    height, width, channels, channel_axis = images.target_shape(spec)
    pixels = []
    for offset, item in enumerate(found):
        if isinstance(item, bytes):  # an encoded image among raw records (BYOC_TFRECORD_IMAGE_KEY)
            item = images.images_to_batch([item], spec, options.max_image_pixels, first_index=first_index + offset)[0]
        else:
            item = tfrecord.fit_pixels(item, height, width, channels or 3)
            item = item if channel_axis else item[..., 0]
        pixels.append(item)
    if len({a.shape for a in pixels}) > 1:
        raise BadRequest(
            f"records have different sizes {sorted({a.shape for a in pixels})} and the model input "
            f"{spec.describe()} does not fix its height and width"
        )
    return np.stack(pixels).astype(spec.dtype, copy=False)


def _ignore_options(func):
    return lambda body, signature, options: func(body, signature)


DECODERS: dict[str, Callable[[bytes, Signature, DecodeOptions], dict[str, np.ndarray]]] = {
    "application/x-image": _single_image(images.ANY_IMAGE_FORMATS),
    "image/png": _single_image(("PNG",)),
    "image/jpeg": _single_image(("JPEG",)),
    "application/x-tfrecord": _tfrecords,
    "application/json": _ignore_options(tabular.decode_json),
    "text/csv": _ignore_options(tabular.decode_csv),
    "application/jsonlines": _ignore_options(tabular.decode_jsonlines),
    "application/x-npy": _ignore_options(tabular.decode_npy),
}
SUPPORTED = tuple(DECODERS)


def canonical_media_type(content_type: str | None) -> str:
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media not in CANONICAL:
        raise UnsupportedMediaType(f"unsupported Content-Type {media!r}; supported: {', '.join(SUPPORTED)}")
    return CANONICAL[media]


def decode(
    media_type: str, body: bytes, signature: Signature, options: DecodeOptions
) -> dict[str, np.ndarray]:
    return DECODERS[media_type](body, signature, options)


def decode_chunks(
    media_type: str, body: bytes, signature: Signature, options: DecodeOptions, chunk_size: int
) -> tuple[int, Iterator[dict[str, np.ndarray]]]:
    """(batch size, inputs in chunks of at most `chunk_size` records; 0 = one chunk).

    TFRecord bodies are framed and CRC-checked whole up front (a bad frame fails before anything is sent), then
    their images are decoded a chunk at a time, so the caller can overlap decoding with inference.
    """
    if media_type == "application/x-tfrecord" and chunk_size:
        records = tfrecord.split_records(body)
        spec = signature.image_input()
        if not (spec.is_string and spec.shape is not None and len(spec.shape) == 1):
            return len(records), _tfrecord_chunks(records, spec, options, chunk_size)
    inputs = decode(media_type, body, signature, options)
    return batch_size(inputs), split_batch(inputs, chunk_size)


def _tfrecord_chunks(records: list[bytes], spec, options: DecodeOptions, chunk_size: int):
    for start in range(0, len(records), chunk_size):
        yield {spec.name: _tfrecord_batch(records[start : start + chunk_size], spec, options, start)}


def fits_one_chunk(batch: int, chunk_size: int) -> bool:
    """Whether decode_chunks / split_batch yield exactly one chunk for this batch size."""
    return not chunk_size or batch <= chunk_size


def split_batch(inputs: dict[str, np.ndarray], chunk_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Slices along the batch axis (views, no copies); one chunk when chunk_size is 0 or the batch is small."""
    total = batch_size(inputs)
    if fits_one_chunk(total, chunk_size) or any(a.ndim == 0 for a in inputs.values()):
        yield inputs
        return
    for start in range(0, total, chunk_size):
        yield {name: array[start : start + chunk_size] for name, array in inputs.items()}
