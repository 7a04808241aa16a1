"""Inputs every benchmark shares, built once per work dir and reused by later runs:

- real shards: scikit-learn's digits through `scripts.digits` and `scripts.prepare_data` (the user's path);
- an `/opt/ml`-shaped tree whose `train` channel links those shards `copies` times ("a few thousand" records);
- the project's CNN exported by `train_container.export` (what training hands to serving; weights untrained,
  which changes nothing about speed);
- a dense model on 784 floats (seed 001's `predictor.predict(numpy_array)` of a flattened 28x28 grey image), with
  a second signature taking that image as uint8 pixels, so the same request can come as JSON or as a PNG.
Run as `python -m bench.fixtures` by bench/run.py before the benchmarks (it imports TensorFlow).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.config import REPO_ROOT, BenchConfig, load
from bench.results import save_rows
from tests.support.sm_tree import make_sm_tree

SPLITS = ("train", "validation", "eval")
ENCODED, RAW = "encoded", "raw"  # the train channel's record layout: ours (PNG) or seed 004's raw CHW bytes
MODEL_NAME = "model"
DENSE_SIDE = 28  # the dense model takes DENSE_SIDE**2 floats (serving_default) or a grey image (IMAGE_SIGNATURE)
IMAGE_SIGNATURE = "image"


def shards_dir(config: BenchConfig) -> Path:
    return config.work_dir / "shards"


def sm_root(config: BenchConfig) -> Path:
    return config.work_dir / f"opt-ml-x{config.sizes.reader_copies}"


def model_base(config: BenchConfig) -> Path:
    return config.work_dir / "model"


def dense_model_base(config: BenchConfig) -> Path:
    return config.work_dir / "dense-model"


def all_shards(config: BenchConfig) -> list[Path]:
    return sorted(shards_dir(config).glob("*/*.tfrecord"))


def _run(args: list[str]) -> None:
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")


def prepare_shards(config: BenchConfig) -> Path:
    target = shards_dir(config)
    if (target / "labels.txt").is_file():
        return target
    images = config.work_dir / "digits"
    shutil.rmtree(images, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    _run([sys.executable, "-m", "scripts.digits", "--output", str(images)])
    _run([sys.executable, "-m", "scripts.prepare_data", "--source", "folder", "--input", str(images),
          "--output", str(target), "--shard-multiple", "2"])  # fmt: skip
    return target


def raw_shards(config: BenchConfig) -> list[Path]:
    """The digits shards rewritten as seed 004's generate_cifar10_tfrecords.py writes CIFAR: `image` = raw uint8
    R, G, B planes (CHW), `label`; one `<split>-<n>.tfrecords` per shard, made once."""
    target = config.work_dir / "raw-shards"
    if not (target / "done").is_file():
        import numpy as np
        import tensorflow as tf

        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        spec = {
            "image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        }
        for index, shard in enumerate(all_shards(config)):
            with tf.io.TFRecordWriter(str(target / f"{shard.parent.name}-{index}.tfrecords")) as writer:
                for record in tf.data.TFRecordDataset(str(shard)):
                    example = tf.io.parse_single_example(record, spec)
                    pixels = tf.io.decode_png(example["image/encoded"], channels=3).numpy()
                    feature = {
                        "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()])),
                        "label": tf.train.Feature(int64_list=tf.train.Int64List(
                            value=[int(example["image/class/label"])])),
                    }  # fmt: skip
                    writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        (target / "done").write_text("")
    return sorted(target.glob("*.tfrecords"))


def training_tree(config: BenchConfig, layout: str = ENCODED, **hyperparameters) -> Path:
    """`/opt/ml` with a `train` channel of every split's shards, linked `reader_copies` times; `layout` RAW
    takes seed 004's raw CHW records instead of our PNG ones (and says `image_layout=chw`, as a user must)."""
    root = sm_root(config) if layout == ENCODED else sm_root(config).with_name(f"{sm_root(config).name}-{layout}")
    channel = root / "input" / "data" / "train"
    if layout == RAW:
        hyperparameters = {"image_layout": "chw", **hyperparameters}
    if not (channel / "labels.txt").is_file():
        shutil.rmtree(root, ignore_errors=True)
        make_sm_tree(root, {}, channels={"train": None})
        shards = all_shards(config) if layout == ENCODED else raw_shards(config)
        for copy in range(config.sizes.reader_copies):
            for shard in shards:
                (channel / f"c{copy}-{shard.name}").symlink_to(shard)
        shutil.copyfile(shards_dir(config) / "labels.txt", channel / "labels.txt")
    make_sm_tree(root, hyperparameters, channels={})  # rewrite the configs only
    (root / "input" / "config" / "inputdataconfig.json").write_text('{"train": {"TrainingInputMode": "File"}}')
    return root


def training_settings(config: BenchConfig, layout: str = ENCODED, **hyperparameters):
    from train_container import contract

    return contract.load(training_tree(config, layout, **hyperparameters), environ={})


def export_cnn(config: BenchConfig) -> Path:
    base = model_base(config)
    if (base / "1" / "saved_model.pb").is_file():
        return base
    import tf_keras

    from train_container.export import export_model
    from train_container.models import build_model

    settings = training_settings(config)
    tf_keras.utils.set_random_seed(0)
    model = build_model(settings.hyperparameters, settings.num_classes)
    version_dir = export_model(model, settings)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.copytree(version_dir, base / "1")
    return base


def export_dense(config: BenchConfig) -> Path:
    """Dense 128 -> softmax 10 on `x` float32 [-1, 784]; signature `image` feeds it uint8 [-1, 28, 28] / 255."""
    base = dense_model_base(config)
    if (base / "1" / "saved_model.pb").is_file():
        return base
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    pixels = tf_keras.Input(shape=(DENSE_SIDE * DENSE_SIDE,), dtype="float32", name="x")
    hidden = tf_keras.layers.Dense(128, activation="relu")(pixels)
    model = tf_keras.Model(pixels, tf_keras.layers.Dense(10, activation="softmax")(hidden))

    @tf.function(input_signature=[tf.TensorSpec([None, DENSE_SIDE * DENSE_SIDE], tf.float32, name="x")])
    def serve(x):
        return {"probabilities": model(x, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None, DENSE_SIDE, DENSE_SIDE], tf.uint8, name="image")])
    def serve_image(image):
        floats = tf.reshape(tf.cast(image, tf.float32) / 255.0, [-1, DENSE_SIDE * DENSE_SIDE])
        return {"probabilities": model(floats, training=False)}

    shutil.rmtree(base, ignore_errors=True)
    signatures = {"serving_default": serve, IMAGE_SIGNATURE: serve_image}
    tf.saved_model.save(model, str(base / "1"), signatures=signatures)
    return base


def main(argv: list[str]) -> int:
    """`python -m bench.fixtures [ROWS_JSON]`: the rows file (empty list) tells bench/run.py it worked."""
    config = load()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    prepare_shards(config)
    export_cnn(config)
    export_dense(config)
    if len(argv) > 1:
        save_rows([], Path(argv[1]))
    print(f"fixtures ready under {config.work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
