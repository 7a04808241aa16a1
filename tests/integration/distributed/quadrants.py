"""A tiny learnable image dataset in the project's TFRecord schema (shared by the integration and container
tiers of distributed training).

The task (which quadrant of a noisy 16x16 image is slightly brighter) is learnt in a few epochs on CPU but
not at once, so a broken all-reduce or a bad shard split shows up in accuracy.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from train_container.records import encode_example, shard_name

SIZE = 16
CLASSES = ("top_left", "top_right", "bottom_left", "bottom_right")


def _image(label: int, rng: np.random.Generator) -> bytes:
    pixels = rng.integers(0, 160, size=(SIZE, SIZE, 3), dtype=np.uint8)
    half = SIZE // 2
    row, col = divmod(label, 2)
    pixels[row * half : (row + 1) * half, col * half : (col + 1) * half] += 25
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_split(directory: Path, split: str, count: int, shards: int, seed: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    writers = [tf.io.TFRecordWriter(str(directory / shard_name(split, i, shards))) for i in range(shards)]
    for index in range(count):
        label = index % len(CLASSES)
        writers[index % shards].write(encode_example(_image(label, rng), label, SIZE, SIZE, "png"))
    for writer in writers:
        writer.close()
    (directory / "labels.txt").write_text("".join(f"{name}\n" for name in CLASSES))


def write_dataset(root: Path) -> Path:
    """train (512 records, 8 shards) and validation (128 records, 2 shards) under `root`."""
    write_split(root / "train", "train", 512, 8, seed=1)
    write_split(root / "validation", "validation", 128, 2, seed=2)
    return root
