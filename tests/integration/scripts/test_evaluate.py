"""`evaluate` on a known batch-transform output: numbers printed and stored in the confusion-matrix PNG."""

from __future__ import annotations

import json
import os

import boto3
import numpy as np
import pytest
from PIL import Image

from scripts.evaluate import main

CLASSES = ["airplane", "bird", "cat"]
# Shard 0 holds 4 records, shard 1 holds 3; the model gets 5 of 7 right.
LABELS = [[0, 0, 1, 1], [2, 2, 2]]
PREDICTED = [[0, 1, 1, 1], [2, 0, 2]]
EXPECTED_COUNTS = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]


def scores(index: int) -> list[float]:
    row = [0.1] * len(CLASSES)
    row[index] = 0.8
    return row


def write_shards(directory, tf_example_bytes) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    for shard, labels in enumerate(LABELS):
        with tf.io.TFRecordWriter(str(directory / f"eval-{shard:05d}-of-00002.tfrecord")) as writer:
            for label in labels:
                writer.write(tf_example_bytes(label))


@pytest.fixture
def tf_example_bytes():
    import tensorflow as tf

    def build(label: int) -> bytes:
        feature = {
            "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x89PNG"])),
            "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        }
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    return build


def write_outputs(directory) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Shard 0 as AssembleWith=Line + application/jsonlines (one row per line), shard 1 as TFS JSON.
    lines = "".join(json.dumps(scores(p)) + "\n" for p in PREDICTED[0])
    (directory / "eval-00000-of-00002.tfrecord.out").write_text(lines)
    body = {"predictions": [scores(p) for p in PREDICTED[1]]}
    (directory / "eval-00001-of-00002.tfrecord.out").write_text(json.dumps(body))


def png_counts(path) -> dict:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 200
        return json.loads(image.text["Description"])


def expected_report() -> str:
    return "\n".join(
        ["accuracy 0.7143 (5/7)", "recall airplane 0.5000", "recall bird 1.0000", "recall cat 0.6667"]
    )


def test_tfrecord_shards_and_outputs_from_s3(aws, tmp_path, tf_example_bytes, capsys):
    write_shards(tmp_path / "shards", tf_example_bytes)
    write_outputs(tmp_path / "out")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="byoc-eval")
    for folder, prefix in (("shards", "data/eval"), ("out", "batch/job-1")):
        for path in (tmp_path / folder).iterdir():
            s3.upload_file(str(path), "byoc-eval", f"{prefix}/{path.name}")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    plot = tmp_path / "report" / "cm.png"

    code = main([
        "--predictions", "s3://byoc-eval/batch/job-1", "--tfrecords", "s3://byoc-eval/data/eval",
        "--class-names", str(tmp_path / "labels.txt"), "--plot", str(plot),
        "--json", str(tmp_path / "report" / "evaluation.json"),
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith(expected_report())
    assert png_counts(plot) == {"class_names": CLASSES, "counts": EXPECTED_COUNTS}
    metrics = json.loads((tmp_path / "report" / "evaluation.json").read_text())["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(5 / 7)
    assert metrics["confusion_matrix"] == {
        actual: dict(zip(CLASSES, row, strict=True)) for actual, row in zip(CLASSES, EXPECTED_COUNTS, strict=True)
    }
    assert metrics["recall_per_class"] == {"airplane": 0.5, "bird": 1.0, "cat": pytest.approx(2 / 3)}


def test_one_image_per_object_with_a_labels_csv_like_seed_004(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    rows = ["filename,label"]
    for n, (label, predicted) in enumerate(zip(sum(LABELS, []), sum(PREDICTED, []), strict=True)):
        name = f"{n:04d}_{CLASSES[label]}.png"
        (out / f"{name}.out").write_text(json.dumps({"predictions": [scores(predicted)]}, indent=2))
        rows.append(f"{name},{CLASSES[label] if n % 2 else label}")  # names and indices both accepted
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES))
    plot = tmp_path / "cm.png"

    code = main([
        "--predictions", str(out), "--labels-csv", str(tmp_path / "labels.csv"),
        "--class-names", str(tmp_path / "labels.txt"), "--plot", str(plot),
    ])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.startswith(expected_report())
    counts = np.array(png_counts(plot)["counts"])
    assert counts.tolist() == EXPECTED_COUNTS


def test_record_count_mismatch_is_an_error_not_a_wrong_score(tmp_path, tf_example_bytes, capsys):
    write_shards(tmp_path / "shards", tf_example_bytes)
    write_outputs(tmp_path / "out")
    (tmp_path / "out" / "eval-00000-of-00002.tfrecord.out").write_text(json.dumps(scores(0)) + "\n")
    code = main(["--predictions", str(tmp_path / "out"), "--tfrecords", str(tmp_path / "shards")])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "evaluate: error: eval-00000-of-00002.tfrecord.out: 1 predictions for 4 records\n"
