"""Batches bigger than TF Serving's max_batch_size (batching on) or than one chunk still give one prediction per
record, in order, equal to the model run in-process. Without chunking, TF Serving (and the stand-in, which copies
it) answers INVALID_ARGUMENT "Task size N is larger than maximum input batch size 8"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serve_container.decoders.tfrecord import frame_record
from tests.integration.serve.test_invocations import IMAGES, encode, example, expected, predictions


@pytest.mark.parametrize(
    "env",
    [
        {"SAGEMAKER_TFS_ENABLE_BATCHING": "true", "SAGEMAKER_TFS_MAX_BATCH_SIZE": "8"},
        {"BYOC_PREDICT_CHUNK_SIZE": "7"},
    ],
    ids=["tfs-batching-max-8", "chunks-of-7"],
)
def test_big_batches_are_split_and_joined_in_order(make_served, image_model_dir, env):
    served = make_served(image_model_dir, **env)
    count = 50
    images = IMAGES[:count]
    want = expected(image_model_dir, images)

    body = b"".join(frame_record(example(encode(image))) for image in images)
    got = predictions(served.invoke(body, "application/x-tfrecord"))
    assert got.shape == (count, 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    got = predictions(served.invoke(json.dumps({"instances": images[:20].tolist()}), "application/json"))
    np.testing.assert_allclose(got, want[:20], rtol=1e-5, atol=1e-6)


def test_a_bad_record_in_a_later_chunk_is_named(make_served, image_model_dir):
    served = make_served(image_model_dir, BYOC_PREDICT_CHUNK_SIZE="4")
    frames = [frame_record(example(encode(image))) for image in IMAGES[:9]]
    frames[6] = frame_record(example(b"not an image"))
    response = served.invoke(b"".join(frames), "application/x-tfrecord")
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("record 6:"), response.text
    assert served.ping() == 200  # the worker is still there
