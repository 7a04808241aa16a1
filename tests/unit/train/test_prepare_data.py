"""scripts/prepare_data.py on a tiny CIFAR-10-format tarball and on image folders (with a corrupt file)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from scripts import prepare_data
from tests.support.sm_tree import write_image_folder
from train_container.records import parse_shard_name

CIFAR_LABELS = [b"airplane", b"automobile", b"bird"]
PER_BATCH = 6


def cifar_tarball(path, per_batch=PER_BATCH):
    """The real layout (cifar-10-batches-py/, pickled dicts of bytes keys), tiny batches."""
    rng = np.random.default_rng(1)

    def add(archive, name, obj):
        payload = pickle.dumps(obj)
        info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))

    with tarfile.open(path, "w:gz") as archive:
        add(archive, "batches.meta", {b"label_names": CIFAR_LABELS, b"num_vis": 3072})
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            add(
                archive,
                name,
                {
                    b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                    b"labels": [i % 3 for i in range(per_batch)],
                    b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
                },
            )
    return path


def read_split(directory):
    """(parsed examples, shard file names) of one split, read back with TensorFlow."""
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
    }
    shards = sorted(p.name for p in directory.glob("*.tfrecord"))
    examples = [
        tf.io.parse_single_example(record, spec)
        for record in tf.data.TFRecordDataset([str(directory / s) for s in shards])
    ]
    return examples, shards


def digest(directory):
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip


def test_cifar10_tarball_to_shards(tmp_path, capsys):
    tarball = cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    out = tmp_path / "out"
    args = ["--source", "cifar10", "--input", str(tarball), "--output", str(out), "--shard-multiple", "2",
            "--records-per-shard", "5"]  # fmt: skip
    assert prepare_data.main(args) == 0
    assert "split=train records=24 shards=6" in capsys.readouterr().out
    examples, shards = read_split(out / "train")
    assert len(examples) == 4 * PER_BATCH and len(shards) == 6
    assert [parse_shard_name(s) for s in shards] == [("train", i, 6) for i in range(6)]
    validation, _ = read_split(out / "validation")
    evaluation, _ = read_split(out / "eval")
    assert len(validation) == len(evaluation) == PER_BATCH
    assert {e["image/filename"].numpy().decode() for e in evaluation} == {f"test_batch_{i}.png" for i in range(6)}
    first = examples[0]
    image = tf.io.decode_png(first["image/encoded"]).numpy()
    assert image.shape == (32, 32, 3) and first["image/format"].numpy() == b"png"
    assert (int(first["image/height"]), int(first["image/width"])) == (32, 32)
    assert (out / "labels.txt").read_text() == "airplane\nautomobile\nbird\n"
    assert (out / "train" / "labels.txt").read_text() == (out / "labels.txt").read_text()


def test_cifar_pixels_survive_the_conversion(tmp_path):
    """Row layout is channel-major (1024 R, 1024 G, 1024 B): a transposition bug would scramble it."""
    tarball = cifar_tarball(tmp_path / "c.tar.gz", per_batch=1)
    labels, samples = prepare_data.cifar10_samples(tarball)
    assert labels == ["airplane", "automobile", "bird"]
    with tarfile.open(tarball) as archive:
        member = archive.getmember("cifar-10-batches-py/test_batch")
        row = pickle.load(archive.extractfile(member))[b"data"][0]
    sample = next(s for s in samples if s.split == "eval")
    decoded = tf.io.decode_png(sample.load().data).numpy()
    np.testing.assert_array_equal(decoded[..., 1], row[1024:2048].reshape(32, 32))


def test_output_is_deterministic_for_a_seed(tmp_path):
    tarball = cifar_tarball(tmp_path / "c.tar.gz")
    runs = []
    for seed, name in [(3, "a"), (3, "b"), (4, "c")]:
        argv = ["--source", "cifar10", "--input", str(tarball), "--output", str(tmp_path / name),
                "--shard-multiple", "2", "--records-per-shard", "4", "--seed", str(seed)]  # fmt: skip
        assert prepare_data.main(argv) == 0
        runs.append(digest(tmp_path / name))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_image_folder_with_a_corrupt_file(tmp_path, capsys):
    images = write_image_folder(tmp_path / "images", count_per_class=5, size=16, classes=("red", "blue"))
    (images / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (images / "blue" / "notes.txt").write_text("not an image, not an image suffix either")
    out = tmp_path / "out"
    argv = ["--source", "folder", "--input", str(images), "--output", str(out), "--shard-multiple", "2",
            "--validation-fraction", "0.2"]  # fmt: skip
    assert prepare_data.main(argv) == 0
    captured = capsys.readouterr()
    assert "corrupt_skipped=1" in captured.out
    assert "skipped corrupt image red/broken.png" in captured.err
    train, train_shards = read_split(out / "train")
    validation, _ = read_split(out / "validation")
    assert len(train) == 8 and len(validation) == 2 and len(train_shards) == 2
    assert sorted(int(e["image/class/label"]) for e in validation) == [0, 1]
    assert (out / "labels.txt").read_text() == "blue\nred\n"
    # PNG bytes are passed through unchanged, not re-encoded.
    red = next(e for e in train if e["image/filename"].numpy().decode().startswith("red/"))
    name = red["image/filename"].numpy().decode()
    assert red["image/encoded"].numpy() == (images / name).read_bytes()


def test_cinic10_tree_maps_split_names(tmp_path):
    root = tmp_path / "cinic"
    for split in ("train", "valid", "test"):
        write_image_folder(root / split, count_per_class=2, size=8, classes=("red", "green"))
    out = tmp_path / "out"
    assert prepare_data.main(["--source", "cinic10", "--input", str(root), "--output", str(out),
                              "--shard-multiple", "1"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["eval", "train", "validation"]
    assert len(read_split(out / "validation")[0]) == 4


def test_labels_in_leaves_the_other_splits_holding_only_shards(tmp_path):
    """A split Batch Transform reads must hold nothing but records (it sends every object under the prefix)."""
    root = tmp_path / "cinic"
    for split in ("train", "valid", "test"):
        write_image_folder(root / split, count_per_class=2, size=8, classes=("red", "green"))
    out = tmp_path / "out"
    assert prepare_data.main(["--source", "cinic10", "--input", str(root), "--output", str(out), "--shard-multiple",
                              "1", "--labels-in", "train", "--labels-in", "validation"]) == 0  # fmt: skip
    assert (out / "train" / "labels.txt").read_text() == (out / "labels.txt").read_text() == "green\nred\n"
    assert (out / "validation" / "labels.txt").is_file()
    assert [p.name for p in (out / "eval").iterdir()] == ["eval-00000-of-00001.tfrecord"]


def test_non_rgb_images_are_reencoded_as_png(tmp_path):
    from PIL import Image

    folder = tmp_path / "images" / "cmyk"
    folder.mkdir(parents=True)
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(folder / "a.jpg", format="JPEG")
    Image.new("RGB", (8, 6), (10, 20, 30)).save(folder / "b.bmp", format="BMP")
    out = tmp_path / "out"
    assert prepare_data.main(["--source", "folder", "--input", str(tmp_path / "images"), "--output", str(out),
                              "--shard-multiple", "1"]) == 0  # fmt: skip
    examples, _ = read_split(out / "train")
    assert {e["image/format"].numpy() for e in examples} == {b"png"}
    for example in examples:
        assert tf.io.decode_png(example["image/encoded"]).numpy().shape == (6, 8, 3)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--source", "cifar10", "--input", "{tmp}/missing.tar.gz"], "CIFAR-10 tarball"),
        (["--source", "cifar10", "--input", "{tmp}/not-a-tar"], "is not a readable tar archive"),
        (["--source", "cifar10", "--input", "{tmp}/empty.tar"], "missing batches.meta"),
        (["--source", "folder", "--input", "{tmp}/nowhere"], "does not exist"),
        (["--source", "folder", "--input", "{tmp}/flat"], "has no class directories"),
        (["--source", "cinic10", "--input", "{tmp}/flat"], "has none of the split directories"),
        (["--source", "folder", "--input", "{tmp}", "--shard-multiple", "0"], "--shard-multiple"),
        (["--source", "folder", "--input", "{tmp}", "--s3-uri", "bucket/x"], "--s3-uri must look like"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    (tmp_path / "not-a-tar").write_text("hello")
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--output", str(tmp_path / "out")]
    assert prepare_data.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prepare_data: error:") and fragment in err
    assert len(err.splitlines()) == 1


def test_upload_to_s3_keeps_the_layout(tmp_path, monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    images = write_image_folder(tmp_path / "images", count_per_class=2, size=8, classes=("red", "blue"))
    out = tmp_path / "out"
    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        argv = ["--source", "folder", "--input", str(images), "--output", str(out), "--shard-multiple", "2",
                "--s3-uri", "s3://data/cifar/v1/"]  # fmt: skip
        assert prepare_data.main(argv) == 0
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="data")["Contents"])
        body = s3.get_object(Bucket="data", Key="cifar/v1/train/train-00000-of-00002.tfrecord")["Body"].read()
    assert keys == [
        "cifar/v1/labels.txt",
        "cifar/v1/train/labels.txt",
        "cifar/v1/train/train-00000-of-00002.tfrecord",
        "cifar/v1/train/train-00001-of-00002.tfrecord",
    ]
    assert body == (out / "train" / "train-00000-of-00002.tfrecord").read_bytes()


def test_upload_failure_is_one_line_and_nonzero(tmp_path, monkeypatch, capsys):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    images = write_image_folder(tmp_path / "images", count_per_class=1, size=8, classes=("red", "blue"))
    with mock_aws():
        argv = ["--source", "folder", "--input", str(images), "--output", str(tmp_path / "out"),
                "--shard-multiple", "1", "--s3-uri", "s3://no-such-bucket/x"]  # fmt: skip
        assert prepare_data.main(argv) == 1
    err = capsys.readouterr().err
    assert "upload to s3://no-such-bucket/x failed" in err
