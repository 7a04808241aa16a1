"""The whole job on one machine, no AWS: data -> TFRecords -> training image -> model.tar.gz -> serving image
-> predictions -> accuracy + confusion matrix. What `make demo` runs.

Each stage does what SageMaker would do around our images: lay out /opt/ml for training (hyperparameters.json with
string values, resourceconfig.json, inputdataconfig.json, one directory per channel), tar the model directory into
model.tar.gz, unpack it at /opt/ml/model for serving, then call /invocations as an endpoint (one PNG per request)
and as a batch transform (all test records in one application/x-tfrecord request, one JSON line per record).

    python -m scripts.demo --train-image IMG --serve-image IMG --output demo-output [--data PATH --source ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from scripts import digits, prepare_data
from scripts.evaluate import Evaluation, evaluate, plot_confusion, read_tfrecord_labels, report

CHANNELS = {"train": "train", "validation": "validation", "eval": "eval"}
PING_TIMEOUT_S = 240  # SageMaker's own limit for the first healthy /ping
REQUEST_TIMEOUT_S = 60
DEFAULT_HYPERPARAMETERS = {
    # Digits are not mirror-symmetric: flips would teach the model that a 2 may look like a 5.
    "model": "cnn",
    "epochs": "15",
    "batch_size": "64",
    "learning_rate": "0.001",
    "augment": "false",
    "seed": "0",
    "deterministic": "true",  # one --seed, one result, at no measurable cost on CPU (bench P2d)
}


class DemoError(Exception):
    """A stage failed; the message says which and why."""


@dataclass(frozen=True)
class Outcome:
    png: Evaluation
    tfrecord: Evaluation
    plot: Path
    model_tarball: Path
    predictions: Path


def stage(number: int, total: int, text: str) -> None:
    print(f"[{number}/{total}] {text}", flush=True)


def write_sagemaker_tree(root: Path, shards: Path, hyperparameters: dict[str, str]) -> Path:
    """/opt/ml exactly as SageMaker lays it out for a one-host File-mode job."""
    if root.exists():
        shutil.rmtree(root)
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    data_config = {}
    for channel, split in CHANNELS.items():
        shutil.copytree(shards / split, root / "input" / "data" / channel)
        data_config[channel] = {
            "ContentType": "application/x-tfrecord",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    for sub in ("model", "output/data", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def pack_model(model_dir: Path, tarball: Path) -> Path:
    """model.tar.gz as SageMaker uploads it: the directory's contents at the archive root."""
    with tarfile.open(tarball, "w:gz") as archive:
        for entry in sorted(model_dir.iterdir()):
            archive.add(entry, arcname=entry.name)
    return tarball


def unpack_model(tarball: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        archive.extractall(target, filter="data")
    return target


def run_training(client, image: str, opt_ml: Path) -> None:
    container = client.containers.run(
        image, "train", volumes={str(opt_ml.resolve()): {"bind": "/opt/ml", "mode": "rw"}}, detach=True
    )
    try:
        for line in container.logs(stream=True, follow=True):
            print("    train | " + line.decode(errors="replace").rstrip(), flush=True)
        status = container.wait()["StatusCode"]
    finally:
        container.remove(force=True)
    if status != 0:
        failure = opt_ml / "output" / "failure"
        reason = failure.read_text().strip() if failure.exists() else "no output/failure written"
        raise DemoError(f"training container exited {status}: {reason}")


@contextmanager
def serving(client, image: str, model_dir: Path) -> Iterator[str]:
    container = client.containers.run(
        image,
        "serve",
        volumes={str(model_dir.resolve()): {"bind": "/opt/ml/model", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", None)},
        detach=True,
    )
    try:
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, container)
        yield url
    finally:
        container.stop(timeout=30)
        logs = container.logs(tail=20).decode(errors="replace")
        container.remove(force=True)
        print("    serve | (last lines) " + logs.replace("\n", "\n    serve | "), flush=True)


def wait_healthy(url: str, container) -> None:
    deadline = time.monotonic() + PING_TIMEOUT_S
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            raise DemoError("serving container exited before /ping was healthy:\n" + container.logs(tail=30).decode())
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise DemoError(f"/ping was not 200 within {PING_TIMEOUT_S} s")


def predict_pngs(url: str, test_dir: Path, class_names: list[str]) -> tuple[list[int], list[int], list[dict]]:
    """One request per image, as an endpoint client would send it (seed 004: application/x-image)."""
    actual, predicted, rows = [], [], []
    for path in sorted(test_dir.glob("*/*.png")):
        response = requests.post(
            f"{url}/invocations",
            data=path.read_bytes(),
            headers={"Content-Type": "application/x-image", "Accept": "application/json"},
            timeout=REQUEST_TIMEOUT_S,
        )
        if response.status_code != 200:
            raise DemoError(f"/invocations answered {response.status_code} for {path}: {response.text[:200]}")
        scores = response.json()["predictions"][0]
        label = class_names.index(path.parent.name)
        actual.append(label)
        predicted.append(int(np.argmax(scores)))
        rows.append({"file": str(path.relative_to(test_dir)), "label": label, "predicted": predicted[-1]})
    return actual, predicted, rows


def predict_tfrecords(url: str, shard_dir: Path) -> tuple[list[int], list[int]]:
    """All test records in one request (batch transform SplitType=TFRecord, BatchStrategy=MultiRecord)."""
    shards = sorted(shard_dir.glob("*.tfrecord"))
    body = b"".join(shard.read_bytes() for shard in shards)
    response = requests.post(
        f"{url}/invocations",
        data=body,
        headers={"Content-Type": "application/x-tfrecord", "Accept": "application/jsonlines"},
        timeout=REQUEST_TIMEOUT_S,
    )
    if response.status_code != 200:
        raise DemoError(f"TFRecord batch answered {response.status_code}: {response.text[:200]}")
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    actual = [label for shard in shards for label in read_tfrecord_labels(shard)]
    if len(lines) != len(actual):
        raise DemoError(f"TFRecord batch: {len(actual)} records in, {len(lines)} predictions out")
    predicted = [int(np.argmax(_scores(line))) for line in lines]
    return actual, predicted


def _scores(line) -> list[float]:
    if isinstance(line, dict):
        for key in ("probabilities", "predictions", "prediction"):
            if key in line:
                return line[key]
        raise DemoError(f"prediction line without scores: {str(line)[:200]}")
    return line


def build_shards(source: str, source_path: Path, shards: Path, seed: int) -> Path:
    """TFRecord shards (train/validation/eval + labels.txt) from any prepare_data source, replacing old ones."""
    if shards.exists():
        shutil.rmtree(shards)
    argv = ["--source", source, "--input", str(source_path), "--output", str(shards), "--shard-multiple", "2",
            "--records-per-shard", "512", "--validation-fraction", "0.1", "--seed", str(seed)]  # fmt: skip
    code = prepare_data.main(argv)
    if code != 0:
        raise DemoError(f"prepare_data failed (exit {code}) on {source_path}")
    return shards


def prepare_dataset(args: argparse.Namespace, data_dir: Path) -> Path:
    if args.data is not None:
        return build_shards(args.source, args.data, data_dir / "tfrecords", args.seed)
    images = data_dir / "digits"
    counts = digits.write_digits_folder(images, seed=args.seed)
    print("    " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f" PNGs under {images}")
    return build_shards("folder", images, data_dir / "tfrecords", args.seed)


def run(args: argparse.Namespace) -> Outcome:
    import docker  # the SDK, not the CLI: typed errors and no shell quoting

    total = 7
    out = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    for image in (args.train_image, args.serve_image):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise DemoError(f"image {image} is not built: run `make images` first") from None

    stage(1, total, "data -> TFRecord shards")
    shards = prepare_dataset(args, out / "data")
    class_names = (shards / "labels.txt").read_text().split()

    stage(2, total, f"SageMaker-shaped /opt/ml under {out / 'opt_ml'}")
    hyperparameters = {**DEFAULT_HYPERPARAMETERS, "epochs": str(args.epochs), "seed": str(args.seed)}
    opt_ml = write_sagemaker_tree(out / "opt_ml", shards, hyperparameters)

    stage(3, total, f"training: docker run {args.train_image} train")
    started = time.monotonic()
    run_training(client, args.train_image, opt_ml)
    print(f"    trained in {time.monotonic() - started:.0f} s")

    stage(4, total, "model.tar.gz as SageMaker packs it, unpacked for serving")
    tarball = pack_model(opt_ml / "model", out / "model.tar.gz")
    model_dir = unpack_model(tarball, out / "serving-model")

    stage(5, total, f"serving: docker run {args.serve_image} serve")
    with serving(client, args.serve_image, model_dir) as url:
        stage(6, total, f"predicting: {url}/invocations (PNG one by one, then the test TFRecords in one request)")
        test_images = out / "data" / "digits" / "test" if args.data is None else None
        if test_images is not None:
            png_actual, png_predicted, rows = predict_pngs(url, test_images, class_names)
        rec_actual, rec_predicted = predict_tfrecords(url, shards / "eval")

    stage(7, total, "evaluation")
    tfrecord_eval = evaluate(rec_actual, rec_predicted, class_names)
    if test_images is not None:
        png_eval = evaluate(png_actual, png_predicted, class_names)
    else:
        png_eval, rows = tfrecord_eval, []
    predictions = out / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    plot = plot_confusion(png_eval, out / "confusion_matrix.png")
    print(report(png_eval))
    return Outcome(png_eval, tfrecord_eval, plot, tarball, predictions)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-image", required=True)
    parser.add_argument("--serve-image", required=True)
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    parser.add_argument("--data", type=Path, help="your own data instead of the digits (see --source)")
    parser.add_argument("--source", choices=prepare_data.SOURCES, default="folder",
                        help="what --data is: cifar10 tarball, cinic10 tree or image folder")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.data is not None and not args.data.exists():
        parser.error(f"--data {args.data} does not exist")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        outcome = run(args)
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    print(f"accuracy (PNG, one request each)      = {outcome.png.accuracy:.4f} on {outcome.png.total} images")
    print(f"accuracy (TFRecord, one batch request) = {outcome.tfrecord.accuracy:.4f} on {outcome.tfrecord.total}")
    print(f"model:       {outcome.model_tarball}")
    print(f"predictions: {outcome.predictions}")
    print(f"confusion:   {outcome.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
