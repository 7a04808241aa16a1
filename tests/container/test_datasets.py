"""Datasets users already have, through our images: the seeds' layouts (records written by TensorFlow's own writer,
seed 001's MNIST arrays, seed 003's JPEG class folders), trained with no schema hyperparameters except where the
layout cannot be inferred (seed 004's CHW raw bytes), exported, and served by one serving container holding every
model: a TFRecord batch of the same records (where records) and a PNG answer as the model does in-process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support import models
from tests.support.docker import docker, docker_run
from tests.support.sm_tree import CLASS_COLOURS, colour_images, make_sm_tree
from train_container import metrics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # the dev venv always has TF (requirements/dev.txt)

# learning_rate, deterministic: see BASE_HYPERPARAMETERS in tests/integration/train/conftest.py.
HYPERPARAMETERS = {"batch_size": 16, "epochs": 3, "shuffle_buffer": 256, "learning_rate": 0.001, "augment": False,
                   "deterministic": True}
CLASSES = tuple(CLASS_COLOURS)  # colour_images label i is CLASSES[i]
PING_DEADLINE_SECONDS = 240


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _encoded(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def seed_004(pixels: np.ndarray, label: int) -> bytes:
    """generate_cifar10_tfrecords.py: `image` = a CIFAR pickle row (R, G, B planes as raw bytes), `label`."""
    feature = {"image": _bytes(pixels.transpose(2, 0, 1).tobytes()), "label": _int(label)}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def tf_slim(pixels: np.ndarray, label: int) -> bytes:
    """TF-slim's build_image_data.py features (JPEG, colorspace, class text, sizes)."""
    feature = {
        "image/encoded": _bytes(_encoded(pixels, "JPEG")),
        "image/format": _bytes(b"JPEG"),
        "image/colorspace": _bytes(b"RGB"),
        "image/class/label": _int(label),
        "image/class/text": _bytes(f"class{label}".encode()),
        "image/height": _int(pixels.shape[0]),
        "image/width": _int(pixels.shape[1]),
        "image/channels": _int(3),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def ours(pixels: np.ndarray, label: int) -> bytes:
    feature = {
        "image/encoded": _bytes(_encoded(pixels, "PNG")),
        "image/format": _bytes(b"png"),
        "image/class/label": _int(label),
        "image/height": _int(pixels.shape[0]),
        "image/width": _int(pixels.shape[1]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def serve(serve_image, model_dir):
    container = docker(
        "run", "-d", "-p", "127.0.0.1::8080", "-v", f"{model_dir}:/opt/ml/model:ro", serve_image, "serve",
    )  # fmt: skip
    port = docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PING_DEADLINE_SECONDS
    while True:
        try:
            if requests.get(f"{url}/ping", timeout=5).status_code == 200:
                return container, url
        except requests.ConnectionError:
            pass
        if docker("inspect", "--format", "{{.State.Running}}", container) != "true" or time.monotonic() > deadline:
            logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True, check=False)
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
            pytest.fail(f"serving container never became healthy:\n{logs.stderr[-3000:]}", pytrace=False)
        time.sleep(1)


@dataclass
class Split:
    """What the model should answer for one split: the pixels it sees (uint8, the model's channels), labels,
    records if any."""

    images: np.ndarray
    labels: np.ndarray
    records: list[bytes] | None
    png: bytes  # images[0] as a user would send it


def _shuffled(count_per_class: int, seed: int):
    images, labels = colour_images(count_per_class, size=32, seed=seed)
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order], labels[order]


def record_writer(encode, names, compression: str = ""):
    def write(directory, split: str, count_per_class: int, seed: int) -> Split:
        images, labels = _shuffled(count_per_class, seed)
        options = tf.io.TFRecordOptions(compression_type=compression)
        writers = [tf.io.TFRecordWriter(str(directory / name), options) for name in names(split)]
        records = [encode(image, int(label)) for image, label in zip(images, labels, strict=True)]
        for i, record in enumerate(records):
            writers[i % len(writers)].write(record)
        for writer in writers:
            writer.close()
        if encode is tf_slim:  # the server decodes the JPEG bytes (Pillow); compare on those pixels
            images = np.stack([np.asarray(Image.open(io.BytesIO(_encoded(i, "JPEG")))) for i in images])
        return Split(images, labels, records, _encoded(images[0], "PNG"))

    return write


def mnist_npy(directory, split: str, count_per_class: int, seed: int) -> Split:
    """seed 001: `<prefix>_data.npy` (N, 784) float32 in 0..1 and `<prefix>_labels.npy`; class k is a bright
    quadrant k on a dark noisy ground (one brightness for all classes: the model has to see where)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(4), count_per_class))
    grey = 30 + rng.integers(-20, 21, (len(labels), 28, 28))
    for i, label in enumerate(labels):
        top, left = 14 * (label // 2), 14 * (label % 2)
        grey[i, top : top + 14, left : left + 14] += 180
    grey = np.clip(grey, 0, 255).astype(np.uint8)
    prefix = "train" if split == "train" else "eval"
    np.save(directory / f"{prefix}_data.npy", (grey / 255.0).reshape(len(grey), 784).astype(np.float32))
    np.save(directory / f"{prefix}_labels.npy", labels.astype(np.int32))
    return Split(grey[..., None], labels, None, _encoded(grey[0], "PNG"))  # grey data: a one-channel model


def jpeg_folders(directory, split: str, count_per_class: int, seed: int) -> Split:
    """seed 003: `<class>/<n>.jpg`; classes are the sorted folder names (blue, green, red, yellow)."""
    images, labels = _shuffled(count_per_class, seed)
    decoded = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (directory / CLASSES[label]).mkdir(exist_ok=True)
        jpeg = _encoded(image, "JPEG")
        (directory / CLASSES[label] / f"{i:04d}.jpg").write_bytes(jpeg)
        decoded.append(np.asarray(Image.open(io.BytesIO(jpeg))))
    by_name = np.asarray([sorted(CLASSES).index(CLASSES[label]) for label in labels])
    return Split(np.stack(decoded), by_name, None, _encoded(decoded[0], "PNG"))


# layout -> (writer of one split, hyperparameters the layout needs)
LAYOUTS = {
    "seed004_raw_chw": (record_writer(seed_004, lambda split: [f"{split}.tfrecords"]), {"image_layout": "chw"}),
    "tf_slim_jpeg": (record_writer(tf_slim, lambda split: [f"{split}-{i:05d}-of-00004" for i in range(4)]), {}),
    "ours_gzip": (
        record_writer(ours, lambda split: [f"{split}-{i:05d}-of-00002.tfrecord" for i in range(2)], "GZIP"), {}
    ),
    "seed001_mnist_npy": (mnist_npy, {}),
    "seed003_jpeg_folders": (jpeg_folders, {}),
}
SCHEMA_ENCODING = {"seed004_raw_chw": "raw", "tf_slim_jpeg": "encoded", "ours_gzip": "encoded"}


def frame(record: bytes) -> bytes:
    from serve_container.decoders.tfrecord import frame_record

    return frame_record(record)


@dataclass
class Trained:
    root: object
    result: object
    validation: Split


_TRAINED: dict[str, Trained] = {}


def train(train_image, base, layout: str) -> Trained:
    """One training job per layout per session (the serving fixture needs every model)."""
    if layout not in _TRAINED:
        write, needs = LAYOUTS[layout]
        data = base / layout / "data"
        for split in ("train", "validation"):
            (data / split).mkdir(parents=True)
        write(data / "train", "train", 40, 0)
        if layout == "seed001_mnist_npy":
            # seed 001: train_* and eval_* under one S3 prefix, `estimator.fit(uri)` -> the SDK's `training` channel;
            # the eval pair is the validation data.
            validation = write(data / "train", "validation", 10, 1)
            channels = {"training": data / "train"}
        else:
            validation = write(data / "validation", "validation", 10, 1)
            channels = {"train": data / "train", "validation": data / "validation"}
        root = make_sm_tree(base / layout / "opt_ml", {**HYPERPARAMETERS, **needs}, channels)
        if layout == "ours_gzip":
            config = root / "input" / "config" / "inputdataconfig.json"
            channels = json.loads(config.read_text())
            for spec in channels.values():
                spec["CompressionType"] = "Gzip"
            config.write_text(json.dumps(channels))
        result = docker_run(train_image, "train", docker_args=["-v", f"{root}:/opt/ml"])
        _TRAINED[layout] = Trained(root, result, validation)
    return _TRAINED[layout]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def served(request, train_image, serve_image, base):
    """One serving container for every model the selected tests train (`<layout>/1`), picked by tfs-model-name."""
    models_dir = base / "models"
    models_dir.mkdir()
    mine = [item for item in request.session.items if getattr(item, "module", None) is request.module]
    selected = {item.callspec.params["layout"] for item in mine}
    for layout in (layout for layout in LAYOUTS if layout in selected):
        trained = train(train_image, base, layout)
        if trained.result.returncode == 0:
            shutil.copytree(trained.root / "model" / "1", models_dir / layout / "1")
    os.chmod(models_dir, 0o755)
    container, url = serve(serve_image, models_dir)
    yield url
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def invoke(url: str, layout: str, body: bytes, content_type: str) -> np.ndarray:
    headers = {"Content-Type": content_type, "X-Amzn-SageMaker-Custom-Attributes": f"tfs-model-name={layout}"}
    answer = requests.post(f"{url}/invocations", data=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return np.asarray(answer.json()["predictions"], np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_dataset_layout_trains_exports_and_serves(train_image, base, served, layout):
    trained = train(train_image, base, layout)
    result, validation, root = trained.result, trained.validation, trained.root
    assert result.returncode == 0, result.describe()
    logs = result.stdout + result.stderr
    if layout == "seed001_mnist_npy":
        assert "validation: eval_data.npy + eval_labels.npy in channel 'training' (no 'validation' channel)" in logs
        assert "model input 28x28x1" in logs, logs  # grey data, grey model
    if layout == "seed003_jpeg_folders":
        assert "4 classes from the folder names (blue, green, red, yellow)" in logs, logs
        labels_txt = "blue\ngreen\nred\nyellow\n"
    else:
        assert "num_classes=4 inferred from labels 0..3" in logs, logs  # no labels.txt anywhere
        labels_txt = "0\n1\n2\n3\n"
    epochs = [metrics.parse_line(line) for line in result.stdout.splitlines() if line.startswith("epoch=")]
    assert len(epochs) == 3 and epochs[-1]["val_accuracy"] >= 0.9, result.stdout

    version = root / "model" / "1"
    assert (version / "assets" / "labels.txt").read_text() == labels_txt
    schema = version / "assets" / "input_schema.json"
    if layout in SCHEMA_ENCODING:
        assert json.loads(schema.read_text())["encoding"] == SCHEMA_ENCODING[layout]
    else:
        assert not schema.exists()  # no records were read: no record schema to follow
    expected = models.load_and_call(version, validation.images)["probabilities"]
    assert (expected.argmax(axis=1) == validation.labels).mean() >= 0.9

    if validation.records is not None:
        # Batch Transform over the same records: no env var, no user code; the decoder follows the schema asset.
        got = invoke(served, layout, b"".join(frame(record) for record in validation.records), "application/x-tfrecord")
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    got = invoke(served, layout, validation.png, "image/png")
    np.testing.assert_allclose(got, expected[:1], rtol=1e-4, atol=1e-5)
