"""Big batches reach TF Serving in chunks: slicing, lazy TFRecord decoding, and the chunk size rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serve_container import decoders
from serve_container.contract import load_settings
from serve_container.decoders.tfrecord import frame_record
from serve_container.errors import BadRequest
from serve_container.signature import Signature, TensorSpec


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _record(image: bytes) -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["image/encoded"].bytes_list.value.append(image)
    return example.SerializeToString()


SIGNATURE = Signature("serving_default", (TensorSpec("image", np.dtype(np.uint8), (None, 4, 4, 3)),), ())
OPTIONS = decoders.DecodeOptions("image/encoded", 1_000_000)


def test_split_batch_slices_in_order_and_keeps_small_batches_whole():
    inputs = {"x": np.arange(10).reshape(10, 1)}
    chunks = list(decoders.split_batch(inputs, 4))
    assert [c["x"].ravel().tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert chunks[0]["x"].base is inputs["x"].base or np.shares_memory(chunks[0]["x"], inputs["x"])
    assert [c["x"].shape[0] for c in decoders.split_batch(inputs, 0)] == [10]
    assert [c["x"].shape[0] for c in decoders.split_batch(inputs, 10)] == [10]


def test_tfrecord_chunks_decode_lazily_in_record_order():
    body = b"".join(frame_record(_record(_png(i))) for i in range(7))
    total, chunks = decoders.decode_chunks("application/x-tfrecord", body, SIGNATURE, OPTIONS, 3)
    assert total == 7
    firsts = [chunk["image"][:, 0, 0, 0].tolist() for chunk in chunks]
    assert firsts == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_bad_frame_anywhere_fails_before_any_chunk_is_produced():
    good = frame_record(_record(_png(1)))
    broken = bytearray(frame_record(_record(_png(2))))
    broken[-1] ^= 0xFF  # payload CRC no longer matches
    with pytest.raises(BadRequest):
        decoders.decode_chunks("application/x-tfrecord", good * 5 + bytes(broken), SIGNATURE, OPTIONS, 2)


def test_a_bad_image_in_a_later_chunk_fails_when_that_chunk_is_decoded():
    body = frame_record(_record(_png(1))) * 3 + frame_record(_record(b"not an image"))
    _, chunks = decoders.decode_chunks("application/x-tfrecord", body, SIGNATURE, OPTIONS, 3)
    assert next(chunks)["image"].shape == (3, 4, 4, 3)
    with pytest.raises(BadRequest, match="record 3"):
        next(chunks)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 256),
        ({"BYOC_PREDICT_CHUNK_SIZE": "0"}, 0),
        ({"SAGEMAKER_TFS_ENABLE_BATCHING": "true", "SAGEMAKER_TFS_MAX_BATCH_SIZE": "8"}, 8),
        # TF Serving refuses a task over max_batch_size, so batching caps the chunk even when chunking is off.
        ({"SAGEMAKER_TFS_ENABLE_BATCHING": "true", "BYOC_PREDICT_CHUNK_SIZE": "0"}, 8),
        ({"SAGEMAKER_TFS_ENABLE_BATCHING": "true", "SAGEMAKER_TFS_MAX_BATCH_SIZE": "512"}, 256),
    ],
)
def test_chunk_size_rule(env, expected):
    assert load_settings(env).chunk_size == expected
