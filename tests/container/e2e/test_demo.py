"""`make demo`'s pipeline on the real images: real digits -> TFRecords -> training image -> model.tar.gz ->
serving image -> PNG and TFRecord predictions -> accuracy and confusion matrix."""

from __future__ import annotations

import json
import tarfile

from scripts import demo


def test_demo_reaches_the_accuracy_target_through_both_payload_paths(train_image, serve_image, tmp_path, capsys):
    out = tmp_path / "demo"
    code = demo.main(["--train-image", train_image, "--serve-image", serve_image, "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed[-3000:]

    png_line = next(line for line in printed.splitlines() if line.startswith("accuracy (PNG"))
    record_line = next(line for line in printed.splitlines() if line.startswith("accuracy (TFRecord"))
    png_accuracy = float(png_line.split("=")[1].split()[0])
    record_accuracy = float(record_line.split("=")[1].split()[0])
    assert png_accuracy >= 0.95, printed[-3000:]
    # Same images, same model: the batch path must not disagree with the one-by-one path.
    assert record_accuracy == png_accuracy

    # SageMaker's packing: the version directory sits at the archive root, as TF Serving expects under /opt/ml/model.
    with tarfile.open(out / "model.tar.gz") as archive:
        names = archive.getnames()
    assert "1/saved_model.pb" in names and "1/assets/labels.txt" in names, names

    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 360
    correct = sum(row["label"] == row["predicted"] for row in rows)
    assert abs(correct / len(rows) - png_accuracy) < 1e-4  # the printed figure has 4 decimals

    plot = (out / "confusion_matrix.png").read_bytes()
    assert plot.startswith(b"\x89PNG") and len(plot) > 10_000
