"""Score a batch transform output against ground truth: accuracy, per-class recall, confusion-matrix PNG.

    python -m scripts.evaluate --predictions s3://bucket/batch-out --tfrecords data/eval \\
        --class-names data/eval/labels.txt --plot confusion.png

Predictions: the job's `*.out` files (local directory or S3 prefix), each holding TF Serving JSON
`{"predictions": [...]}` documents and/or JSON lines (one row per record: a list of scores, or an object
with `prediction`/`probabilities`). Ground truth, either:
  --tfrecords DIR|S3   the input shards: `<shard>.out` holds one row per record of `<shard>`, in order
                       (SplitType=TFRecord, AssembleWith=Line); labels from `image/class/label`.
  --labels-csv FILE    `filename,label` rows: `<filename>.out` holds the one prediction for that object
                       (SplitType=None, as seed 004 does with one PNG per object). Label: index or class name.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scripts.config import ConfigError, check_s3_uri, quiet_tensorflow, split_s3_uri

OUT_SUFFIX = ".out"
LABEL_KEY = "image/class/label"


@dataclass(frozen=True)
class Evaluation:
    class_names: tuple[str, ...]
    counts: np.ndarray  # [actual, predicted] integer counts
    total: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    @property
    def normalized(self) -> np.ndarray:
        """Row-normalised: each actual class sums to 1, so the diagonal is per-class recall."""
        rows = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, rows, out=np.zeros(self.counts.shape), where=rows > 0)

    @property
    def recall(self) -> dict[str, float | None]:
        rows = self.counts.sum(axis=1)
        return {
            name: (float(self.counts[i, i] / rows[i]) if rows[i] else None)
            for i, name in enumerate(self.class_names)
        }


# ------------------------------------------------------------------ parsing (pure)


def _rows_of(document) -> list[list[float]]:
    if isinstance(document, dict):
        for key in ("predictions", "prediction", "probabilities"):
            if key in document:
                return _rows_of(document[key])
        raise ValueError(f"no predictions/prediction/probabilities in {sorted(document)}")
    if isinstance(document, list) and document and all(isinstance(v, (int, float)) for v in document):
        return [[float(v) for v in document]]
    if isinstance(document, list):
        return [row for item in document for row in _rows_of(item)]
    raise ValueError(f"unexpected prediction value {document!r:.60}")


def parse_predictions(text: str) -> list[list[float]]:
    """Score rows from one `.out` file: one JSON document, or one JSON value per line."""
    try:
        return _rows_of(json.loads(text))
    except ValueError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows += _rows_of(json.loads(line))
            except ValueError as error:
                raise ConfigError(f"line {number}: not a prediction: {error}") from error
    return rows


def evaluate(actual: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]) -> Evaluation:
    from sklearn.metrics import confusion_matrix

    if len(actual) != len(predicted) or not actual:
        raise ConfigError(f"{len(actual)} labels vs {len(predicted)} predictions: cannot score")
    if max(max(actual), max(predicted)) >= len(class_names):
        raise ConfigError(f"a class index exceeds the {len(class_names)} class names")
    counts = confusion_matrix(actual, predicted, labels=list(range(len(class_names))))
    correct = int(np.trace(counts))
    return Evaluation(tuple(class_names), counts, len(actual), correct)


def model_quality(result: Evaluation) -> dict:
    """SageMaker's model-quality statistics layout (multiclass), the file `launch register --evaluation` attaches
    to a model package: accuracy, per-class recall and the confusion matrix keyed actual -> predicted name."""
    names = result.class_names
    return {
        "multiclass_classification_metrics": {
            "accuracy": {"value": result.accuracy, "standard_deviation": "NaN"},
            "recall_per_class": dict(result.recall),
            "confusion_matrix": {
                actual: {predicted: int(result.counts[i, j]) for j, predicted in enumerate(names)}
                for i, actual in enumerate(names)
            },
        },
        "records": result.total,
    }


def report(result: Evaluation) -> str:
    lines = [f"accuracy {result.accuracy:.4f} ({result.correct}/{result.total})"]
    for name, recall in result.recall.items():
        lines.append(f"recall {name} " + ("n/a (no examples)" if recall is None else f"{recall:.4f}"))
    return "\n".join(lines)


# ------------------------------------------------------------------ ground truth and files


def read_tfrecord_labels(path: Path, label_key: str = LABEL_KEY) -> list[int]:
    quiet_tensorflow()
    import tensorflow as tf

    spec = {label_key: tf.io.FixedLenFeature([], tf.int64)}
    try:
        return [
            int(tf.io.parse_single_example(record, spec)[label_key].numpy())
            for record in tf.data.TFRecordDataset(str(path))
        ]
    except (tf.errors.OpError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read {label_key!r}: {str(error).splitlines()[0]}") from error


def read_labels_csv(path: Path, class_names: Sequence[str] | None) -> dict[str, int]:
    index = {name: i for i, name in enumerate(class_names or ())}
    labels = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or row[0] == "filename":
                continue
            if len(row) != 2:
                raise ConfigError(f"{path}:{number}: expected filename,label")
            name, label = row[0].strip(), row[1].strip()
            if label.isdigit():
                labels[name] = int(label)
            elif label in index:
                labels[name] = index[label]
            else:
                raise ConfigError(f"{path}:{number}: label {label!r} is neither an index nor a class name")
    return labels


def local_copy(location: str, workdir: Path) -> Path:
    """A local directory for `location`; S3 prefixes are downloaded (boto3 honours AWS_ENDPOINT_URL)."""
    if not location.startswith("s3://"):
        path = Path(location)
        if not path.exists():
            raise ConfigError(f"{location} does not exist")
        return path
    import boto3

    bucket, prefix = split_s3_uri(check_s3_uri(location))
    s3 = boto3.client("s3")
    target = workdir / bucket / prefix.strip("/")
    found = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            found += 1
    if not found:
        raise ConfigError(f"nothing under {location}")
    return target


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in ([root] if root.is_file() else root.rglob(pattern)) if p.is_file())


def pair_with_tfrecords(out_files: Iterable[Path], shard_root: Path) -> tuple[list[int], list[list[float]]]:
    shards = {p.name: p for p in _files(shard_root, "*") if not p.name.endswith(OUT_SUFFIX)}
    actual, rows = [], []
    for out in out_files:
        shard = shards.get(out.name[: -len(OUT_SUFFIX)])
        if shard is None:
            raise ConfigError(f"no input shard for {out.name} under {shard_root}")
        labels, predictions = read_tfrecord_labels(shard), parse_predictions(out.read_text())
        if len(labels) != len(predictions):
            raise ConfigError(f"{out.name}: {len(predictions)} predictions for {len(labels)} records")
        actual += labels
        rows += predictions
    return actual, rows


def pair_with_csv(out_files: Iterable[Path], labels: dict[str, int]) -> tuple[list[int], list[list[float]]]:
    actual, rows = [], []
    for out in out_files:
        name = out.name[: -len(OUT_SUFFIX)]
        if name not in labels:
            raise ConfigError(f"no label for {name} in the labels CSV")
        predictions = parse_predictions(out.read_text())
        if len(predictions) != 1:
            raise ConfigError(f"{out.name}: expected one prediction, found {len(predictions)}")
        actual.append(labels[name])
        rows += predictions
    return actual, rows


def plot_confusion(result: Evaluation, path: Path) -> Path:
    """Row-normalised heatmap as in seed 004; the matrix is also stored in the PNG's text metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = result.normalized
    size = max(4.0, 0.6 * len(result.class_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="YlGnBu", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax)
    ticks = range(len(result.class_names))
    ax.set_xticks(ticks, result.class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, result.class_names)
    ax.set_xlabel("Predictions")
    ax.set_ylabel("Actuals")
    ax.set_title(f"Confusion Matrix (accuracy {result.accuracy:.1%})")
    for i in ticks:
        for j in ticks:
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if matrix[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Title": "Confusion Matrix", "Description": json.dumps(
        {"class_names": list(result.class_names), "counts": result.counts.tolist()}
    )}  # fmt: skip
    fig.savefig(path, dpi=100, metadata=metadata)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--predictions", required=True, help="directory or s3:// prefix with *.out files")
    truth = parser.add_mutually_exclusive_group(required=True)
    truth.add_argument("--tfrecords", help="directory or s3:// prefix with the input TFRecord shards")
    truth.add_argument("--labels-csv", type=Path, help="filename,label rows")
    parser.add_argument("--class-names", type=Path, help="labels.txt, one class name per line")
    parser.add_argument("--plot", type=Path, default=Path("confusion_matrix.png"))
    parser.add_argument("--json", type=Path, help="also write evaluation.json (model-quality statistics)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, workdir: Path) -> Evaluation:
    names = None
    if args.class_names:
        try:
            names = [line.strip() for line in args.class_names.read_text().splitlines() if line.strip()]
        except OSError as error:
            raise ConfigError(f"cannot read {args.class_names}: {error.strerror}") from error
    out_files = _files(local_copy(args.predictions, workdir / "predictions"), f"*{OUT_SUFFIX}")
    if not out_files:
        raise ConfigError(f"no *{OUT_SUFFIX} files under {args.predictions}")
    if args.tfrecords:
        actual, rows = pair_with_tfrecords(out_files, local_copy(args.tfrecords, workdir / "tfrecords"))
    else:
        if not args.labels_csv.is_file():
            raise ConfigError(f"{args.labels_csv} does not exist")
        actual, rows = pair_with_csv(out_files, read_labels_csv(args.labels_csv, names))
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ConfigError(f"prediction rows have different lengths {sorted(widths)}")
    (width,) = widths
    names = names or [str(i) for i in range(width)]
    if len(names) != width:
        raise ConfigError(f"{len(names)} class names but predictions have {width} scores")
    predicted = [int(np.argmax(row)) for row in rows]
    return evaluate(actual, predicted, names)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="byoc-evaluate-") as workdir:
            result = run(args, Path(workdir))
        print(report(result))
        print(f"confusion matrix: {plot_confusion(result, args.plot)}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(model_quality(result), indent=2) + "\n")
            print(f"evaluation: {args.json}")
    except ConfigError as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # S3 errors: one line, not a traceback
        print(f"evaluate: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
