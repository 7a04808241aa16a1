"""Script-mode jobs laid out as SageMaker and the SDK lay them out: the user's source dir (plain, or the SDK's
sourcedir.tar.gz), the hyperparameters the SDK's TensorFlow estimator sends (JSON-encoded), MNIST-style .npy data
and a hand-made wheel for requirements.txt (installable with no network)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.sm_tree import make_sm_tree

USER_SCRIPTS = Path(__file__).with_name("user_scripts")
REGION = "us-west-2"
WHEEL_PACKAGE = "byoc_testdep"
WHEEL_VALUE = 4242


def source_dir(target: Path, *scripts: str, requirements: Sequence[str] = ()) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for script in scripts:
        shutil.copy(USER_SCRIPTS / script, target / script)
    if requirements:
        (target / "requirements.txt").write_text("\n".join(requirements) + "\n")
    return target


def sourcedir_tarball(source: Path, archive: Path) -> Path:
    """What the SDK uploads as sourcedir.tar.gz: the source dir's files at the archive root."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return archive


def write_wheel(directory: Path, value: int = WHEEL_VALUE) -> Path:
    """A pure-Python wheel built by hand (no setuptools, no index): `import byoc_testdep; byoc_testdep.VALUE`."""
    directory.mkdir(parents=True, exist_ok=True)
    info = f"{WHEEL_PACKAGE}-1.0.dist-info"
    files = {
        f"{WHEEL_PACKAGE}/__init__.py": f"VALUE = {value}\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: byoc-testdep\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: byoc-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{WHEEL_PACKAGE}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def mnist_npy(directory: Path, count: int = 600, seed: int = 0) -> Path:
    """MNIST-shaped uint8 28x28 images whose label is the bright 7x7 block's position (learnable in an epoch)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count)
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, col = divmod(int(label), 4)
        image[row * 7 : row * 7 + 7, col * 7 : col * 7 + 7] = 250
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "x_train.npy", images)
    np.save(directory / "y_train.npy", labels)
    return directory


def mnist_tfrecords(npy_dir: Path, directory: Path, shards: int = 2) -> list[int]:
    """The .npy pair as PNG tf.train.Examples (TF's own writer, round-robin over shards); returns the labels."""
    import io

    import tensorflow as tf
    from PIL import Image

    images, labels = np.load(npy_dir / "x_train.npy"), np.load(npy_dir / "y_train.npy")
    directory.mkdir(parents=True, exist_ok=True)
    writers = [tf.io.TFRecordWriter(str(directory / f"mnist-{s:05d}-of-{shards:05d}")) for s in range(shards)]
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        encoded = io.BytesIO()
        Image.fromarray(image).save(encoded, format="PNG")
        feature = {
            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded.getvalue()])),
            "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        }
        writers[index % shards].write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    for writer in writers:
        writer.close()
    return [int(label) for label in labels]


def sdk_hyperparameters(program: str, submit_directory: str, job_name: str = "byoc-script-job",
                        **user: Any) -> dict[str, Any]:
    """What sagemaker.tensorflow.TensorFlow(entry_point=...) puts in a job's hyperparameters."""
    return {
        "sagemaker_program": program,
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_container_log_level": 20,
        "sagemaker_job_name": job_name,
        "sagemaker_region": REGION,
        **user,
    }  # fmt: skip


def script_tree(root: Path, hyperparameters: Mapping[str, Any], channels: Mapping[str, Path | None] | None = None,
                hosts: Sequence[str] = ("algo-1",), current_host: str = "algo-1") -> Path:
    return make_sm_tree(root, hyperparameters, channels, hosts=hosts, current_host=current_host)
