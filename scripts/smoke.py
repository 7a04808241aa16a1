"""Prepare the inputs of the docker-compose smoke test (`make smoke`): a SageMaker-shaped /opt/ml for the `train`
service and the samples the `smoke` client sends to the `serve` service.

    python -m scripts.smoke --output build/smoke [--epochs 5] [--per-class 4]

Writes <output>/opt_ml (compose mounts it at /opt/ml for training; its model/ at /opt/ml/model for serving) and
<output>/samples (read by scripts/smoke_client.py: PNGs, the same images as one TFRecord batch and as TFS JSON).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from scripts import digits
from scripts.demo import DEFAULT_HYPERPARAMETERS, DemoError, build_shards, write_sagemaker_tree
from train_container.records import encode_example


def write_batch(records: list[bytes], path: Path) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def write_samples(test_dir: Path, class_names: list[str], samples: Path, per_class: int) -> int:
    if samples.exists():
        shutil.rmtree(samples)
    samples.mkdir(parents=True)
    files, records, instances = {}, [], []
    for label, name in enumerate(class_names):
        for path in sorted((test_dir / name).glob("*.png"))[:per_class]:
            target = f"{name}-{path.stem}.png"
            data = path.read_bytes()
            (samples / target).write_bytes(data)
            files[target] = label
    # The batch and the JSON follow the sorted file order, which is the order the client sends PNGs in.
    for target in sorted(files):
        data = (samples / target).read_bytes()
        pixels = np.asarray(Image.open(samples / target).convert("RGB"))
        records.append(encode_example(data, files[target], pixels.shape[0], pixels.shape[1], "png", target))
        instances.append(pixels.tolist())
    write_batch(records, samples / "batch.tfrecord")
    (samples / "instances.json").write_text(json.dumps({"instances": instances}))
    (samples / "expected.json").write_text(json.dumps({"files": files, "class_names": class_names}, indent=1))
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=4, help="sample images per class for the client")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.per_class < 1:
        print("smoke: --epochs and --per-class must be >= 1", file=sys.stderr)
        return 2
    out = args.output.resolve()
    images = out / "digits"
    digits.write_digits_folder(images, seed=args.seed)
    try:
        shards = build_shards("folder", images, out / "tfrecords", args.seed)
    except DemoError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 1
    hyperparameters = {**DEFAULT_HYPERPARAMETERS, "epochs": str(args.epochs), "seed": str(args.seed)}
    write_sagemaker_tree(out / "opt_ml", shards, hyperparameters)
    class_names = (shards / "labels.txt").read_text().split()
    count = write_samples(images / "test", class_names, out / "samples", args.per_class)
    print(f"smoke: /opt/ml tree at {out / 'opt_ml'}, {count} sample images at {out / 'samples'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
