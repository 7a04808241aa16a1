"""scikit-learn's handwritten digits (1,797 real 8x8 scans shipped inside the package) as a PNG image folder.

The demo needs real data with no download: the scans are upscaled to 32x32 RGB so they have CIFAR-10's shape and
the same model, reader and serving path apply unchanged. Layout: <out>/{train,validation,test}/<digit>/*.png,
which `prepare_data --source folder` reads. The split is stratified and fixed by the seed.

    python -m scripts.digits --output build/digits
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
SCAN_MAX = 16  # the scans' grey levels run 0..16


def upscale(scan: np.ndarray, size: int) -> Image.Image:
    """8x8 grey levels 0..16 -> size x size RGB, smooth enough that a small CNN sees strokes, not blocks."""
    grey = Image.fromarray(np.round(scan * (255 / SCAN_MAX)).astype(np.uint8), mode="L")
    return grey.resize((size, size), Image.Resampling.BICUBIC).convert("RGB")


def split_indices(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per-class shuffle then cut by SPLIT_FRACTIONS, so every split holds every digit in proportion."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLIT_FRACTIONS}
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = round(len(members) * SPLIT_FRACTIONS["train"])
        n_validation = round(len(members) * SPLIT_FRACTIONS["validation"])
        parts["train"].append(members[:n_train])
        parts["validation"].append(members[n_train : n_train + n_validation])
        parts["test"].append(members[n_train + n_validation :])
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


def write_digits_folder(output: Path, seed: int = 0, size: int = 32) -> dict[str, int]:
    """Write the PNG tree; returns images per split. Rewrites files in place, so reruns are idempotent."""
    from sklearn.datasets import load_digits  # heavy import, only when the data is wanted

    digits = load_digits()
    counts: Counter[str] = Counter()
    for split, indices in split_indices(digits.target, seed).items():
        for index in indices:
            label = int(digits.target[index])
            target = output / split / str(label) / f"digit-{index:04d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            upscale(digits.images[index], size).save(target, format="PNG")
            counts[split] += 1
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=32, help="output width and height in pixels")
    args = parser.parse_args(argv)
    if args.size < 8:
        print(f"digits: --size must be >= 8 (the scans are 8x8), got {args.size}", file=sys.stderr)
        return 2
    counts = write_digits_folder(args.output, seed=args.seed, size=args.size)
    print("digits: " + ", ".join(f"{split}={n}" for split, n in counts.items()) + f" PNGs under {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
