"""Shared fixtures for serving unit tests: hand-built signatures (as TF Serving reports them) and images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serve_container.decoders import DecodeOptions
from serve_container.signature import Signature, TensorSpec


def image_bytes(array: np.ndarray, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def random_image(height: int = 32, width: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture
def image_signature() -> Signature:
    return Signature(
        "serving_default",
        (TensorSpec("image", np.dtype(np.uint8), (None, 32, 32, 3)),),
        (TensorSpec("probabilities", np.dtype(np.float32), (None, 10)),),
    )


@pytest.fixture
def vector_signature() -> Signature:
    return Signature(
        "serving_default",
        (TensorSpec("x", np.dtype(np.float32), (None, 4)),),
        (TensorSpec("y", np.dtype(np.float32), (None, 3)),),
    )


@pytest.fixture
def multi_signature() -> Signature:
    return Signature(
        "serving_default",
        (TensorSpec("a", np.dtype(np.float32), (None, 2)), TensorSpec("b", np.dtype(np.int64), (None,))),
        (TensorSpec("label", np.dtype(object), (None,)), TensorSpec("total", np.dtype(np.float32), (None,))),
    )


@pytest.fixture
def options() -> DecodeOptions:
    return DecodeOptions("image/encoded", 25_000_000)
