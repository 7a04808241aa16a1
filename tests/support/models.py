"""Tiny, deterministic, real TensorFlow SavedModels for tests, exported the way training does.

Every exporter writes `<base_dir>/<version>/` atomically (export into a hidden sibling, then rename) so a
server polling `base_dir` never sees a half-written version, and returns that version directory.
`load_and_call` runs a signature in-process so a test can compare a served answer with the model's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SERVING_SIGNATURE = "serving_default"
IMAGE_INPUT = "image"
IMAGE_OUTPUT = "probabilities"
VECTOR_INPUT = "x"
VECTOR_OUTPUT = "y"


def _tf():
    # TensorFlow is imported on first use only: importing tests.support must stay cheap.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def default_labels(num_classes: int) -> list[str]:
    return [f"class_{i}" for i in range(num_classes)]


def _publish(base_dir: Path, version: int, save) -> Path:
    """Run `save(tmp_dir)` and rename the result to `base_dir/<version>`; refuses to overwrite."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be a non-negative int, got {version!r}")
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    final = base_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    staging = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=base_dir))
    try:
        save(staging / "model")
        os.rename(staging / "model", final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def export_image_classifier(
    base_dir: str | os.PathLike,
    version: int = 1,
    height: int = 32,
    width: int = 32,
    num_classes: int = 10,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> Path:
    """Export the project's serving contract: `image` uint8 [None,H,W,3] -> `probabilities` float32 [None,C].

    A 3x3 conv, resize to a 4x4 grid (so images of any content give distinct answers), dense, softmax;
    normalisation to [-1, 1] happens inside the model.
    Writes `assets/labels.txt` (one class name per line).
    """
    labels = list(labels) if labels is not None else default_labels(num_classes)
    if len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels for {num_classes} classes")
    tf = _tf()
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0.0, 1.0, size=(3, 3, 3, 8)).astype(np.float32)
    dense = rng.normal(0.0, 1.0, size=(4 * 4 * 8, num_classes)).astype(np.float32)
    bias = rng.normal(0.0, 0.1, size=(num_classes,)).astype(np.float32)

    def save(target: Path) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            labels_file = Path(scratch) / "labels.txt"
            labels_file.write_text("".join(f"{name}\n" for name in labels), encoding="utf-8")
            module = tf.Module()
            module.kernel = tf.Variable(kernel, name="conv_kernel")
            module.dense = tf.Variable(dense, name="dense_kernel")
            module.bias = tf.Variable(bias, name="dense_bias")
            module.labels = tf.saved_model.Asset(str(labels_file))

            @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.uint8, name=IMAGE_INPUT)])
            def serve(image):
                x = tf.cast(image, tf.float32) / 127.5 - 1.0
                x = tf.tanh(tf.nn.conv2d(x, module.kernel, strides=1, padding="SAME"))
                x = tf.reshape(tf.image.resize(x, [4, 4], method="area"), [-1, 4 * 4 * 8])
                logits = tf.matmul(x, module.dense) + module.bias
                return {IMAGE_OUTPUT: tf.nn.softmax(logits)}

            tf.saved_model.save(module, str(target), signatures={SERVING_SIGNATURE: serve})

    return _publish(Path(base_dir), version, save)


def export_vector_model(
    base_dir: str | os.PathLike,
    version: int = 1,
    features: int = 4,
    outputs: int = 3,
    seed: int = 0,
    input_name: str = VECTOR_INPUT,
    output_name: str = VECTOR_OUTPUT,
) -> Path:
    """Export an affine model `input_name` float32 [None,features] -> `output_name` float32 [None,outputs]."""
    tf = _tf()
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(features, outputs)).astype(np.float32)
    bias = rng.normal(size=(outputs,)).astype(np.float32)

    def save(target: Path) -> None:
        module = tf.Module()
        module.w = tf.Variable(weights, name="w")
        module.b = tf.Variable(bias, name="b")

        @tf.function(input_signature=[tf.TensorSpec([None, features], tf.float32, name=input_name)])
        def serve(x):
            return {output_name: tf.matmul(x, module.w) + module.b}

        tf.saved_model.save(module, str(target), signatures={SERVING_SIGNATURE: serve})

    return _publish(Path(base_dir), version, save)


def export_multi_io_model(base_dir: str | os.PathLike, version: int = 1) -> Path:
    """Two inputs of different dtypes and two outputs, for code that must work from metadata alone.

    Inputs: `a` float32 [None,2], `b` int64 [None]. Outputs: `total` float32 [None] = sum(a) + b,
    `label` string [None] = "n<b>".
    """
    tf = _tf()

    def save(target: Path) -> None:
        module = tf.Module()

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="a"),
                tf.TensorSpec([None], tf.int64, name="b"),
            ]
        )
        def serve(a, b):
            total = tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32)
            return {"total": total, "label": tf.strings.join(["n", tf.strings.as_string(b)])}

        tf.saved_model.save(module, str(target), signatures={SERVING_SIGNATURE: serve})

    return _publish(Path(base_dir), version, save)


def write_unloadable_version(base_dir: str | os.PathLike, version: int = 1) -> Path:
    """A version directory whose saved_model.pb is garbage: loading it must fail."""
    final = Path(base_dir) / str(version)
    final.mkdir(parents=True)
    (final / "saved_model.pb").write_bytes(b"this is not a SavedModel protobuf")
    (final / "variables").mkdir()
    return final


def read_labels(version_dir: str | os.PathLike) -> list[str]:
    return Path(version_dir, "assets", "labels.txt").read_text(encoding="utf-8").splitlines()


def signature_io(version_dir: str | os.PathLike, signature: str = SERVING_SIGNATURE) -> dict[str, Any]:
    """{"inputs": {name: (dtype_name, shape)}, "outputs": {...}} as TensorFlow itself reports them after load.

    Shapes use None for unknown dimensions. Independent of the SignatureDef protobuf, so tests can check a
    server's metadata against it.
    """
    tf = _tf()
    fn = tf.saved_model.load(str(version_dir)).signatures[signature]
    _, kwargs = fn.structured_input_signature
    inputs = {name: (spec.dtype.name, tuple(spec.shape.as_list())) for name, spec in kwargs.items()}
    outputs = {name: (spec.dtype.name, tuple(spec.shape.as_list())) for name, spec in fn.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


def load_and_call(
    version_dir: str | os.PathLike,
    inputs: Mapping[str, Any] | np.ndarray,
    signature: str = SERVING_SIGNATURE,
) -> dict[str, np.ndarray]:
    """Run `signature` of the SavedModel in-process; a bare array goes to the signature's only input."""
    tf = _tf()
    fn = tf.saved_model.load(str(version_dir)).signatures[signature]
    _, specs = fn.structured_input_signature
    if not isinstance(inputs, Mapping):
        if len(specs) != 1:
            raise ValueError(f"signature has inputs {sorted(specs)}; pass a mapping")
        inputs = {next(iter(specs)): inputs}
    feeds = {name: tf.constant(np.asarray(value), dtype=specs[name].dtype) for name, value in inputs.items()}
    return {name: tensor.numpy() for name, tensor in fn(**feeds).items()}


def random_images(count: int, height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    """Deterministic uint8 [count,H,W,3] batch."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
