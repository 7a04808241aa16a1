"""A SageMaker-shaped `/opt/ml` tree in a temp dir, and an easy synthetic image set to train on.

`make_sm_tree` writes input/config/{hyperparameters,resourceconfig,inputdataconfig}.json exactly as
SageMaker does (every hyperparameter value a string, JSON-encoded like SDK >= 2.110 unless asked not to)
and copies or links channel data under input/data/<channel>/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]

# Far apart in RGB so a small CNN separates them within an epoch or two.
CLASS_COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
}


def encode_hyperparameters(values: Mapping[str, Any], json_encoded: bool = True) -> dict[str, str]:
    """SageMaker stores strings; SDK >= 2.110 stores json.dumps(value) (so "0.01" arrives as "\\"0.01\\"")."""
    if json_encoded:
        return {key: json.dumps(value) for key, value in values.items()}
    return {key: str(value) for key, value in values.items()}


def make_sm_tree(
    root: Path,
    hyperparameters: Mapping[str, Any] | None = None,
    channels: Mapping[str, Path | None] | None = None,
    hosts: Sequence[str] = ("algo-1",),
    current_host: str = "algo-1",
    input_mode: str = "File",
    json_encoded: bool = True,
) -> Path:
    """`channels` maps name -> directory to copy (None = an empty channel directory)."""
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(
        json.dumps(encode_hyperparameters(hyperparameters or {}, json_encoded))
    )
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"})
    )
    channels = channels or {}
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {
                name: {
                    "TrainingInputMode": input_mode,
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for name in channels
            }
        )
    )
    for name, source in channels.items():
        target = root / "input" / "data" / name
        if source is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            shutil.copytree(source, target, dirs_exist_ok=True)
    for sub in ("model", "output/data", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def colour_images(
    count_per_class: int, size: int = 32, seed: int = 0, classes: Sequence[str] = tuple(CLASS_COLOURS)
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy solid-colour uint8 images [N, size, size, 3] and int labels (label i = `classes[i]`)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(classes):
        base = np.array(CLASS_COLOURS[name], dtype=np.int16)
        noise = rng.integers(-25, 26, size=(count_per_class, size, size, 3), dtype=np.int16)
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
        labels.append(np.full(count_per_class, label, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def write_image_folder(
    root: Path,
    count_per_class: int,
    size: int = 32,
    seed: int = 0,
    classes: Sequence[str] = tuple(CLASS_COLOURS),
) -> Path:
    """`<root>/<class>/<i>.png` from `colour_images` (input for scripts/prepare_data.py --source folder)."""
    from PIL import Image

    images, labels = colour_images(count_per_class, size, seed, classes)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "RGB").save(folder / f"{i:05d}.png")
    return root


def prepare_colour_tfrecords(base: Path, count_per_class: int = 40) -> Path:
    """Colour images -> `<base>/tfrecords/{train,validation}` by the real data prep CLI, as a process."""
    write_image_folder(base / "images", count_per_class=count_per_class, size=32, seed=0)
    subprocess.run(
        [sys.executable, "-m", "scripts.prepare_data", "--source", "folder", "--input", str(base / "images"),
         "--output", str(base / "tfrecords"), "--shard-multiple", "2", "--records-per-shard", "40",
         "--validation-fraction", "0.25", "--seed", "1"],
        cwd=REPO_ROOT, check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return base / "tfrecords"


def colour_accuracy(version_dir: Path) -> float:
    """Accuracy of an exported `serving_default` on fresh colour images (4 classes: chance = 0.25)."""
    import tensorflow as tf

    images, labels = colour_images(count_per_class=25, size=32, seed=99)
    # Data prep numbers classes in sorted name order; colour_images in CLASS_COLOURS order.
    order = sorted(CLASS_COLOURS)
    labels = np.array([order.index(list(CLASS_COLOURS)[i]) for i in labels])
    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    probabilities = serve(image=tf.constant(images))["probabilities"].numpy()
    return float((probabilities.argmax(axis=1) == labels).mean())
