"""`launch process` requests run in the real training image the way SageMaker Processing runs them.

SageMaker Processing copies each ProcessingInput's S3 prefix to its LocalPath, writes the request to
/opt/ml/config/processingjobconfig.json, runs `ContainerEntrypoint + ContainerArguments` in place of the image's
ENTRYPOINT, and on exit 0 uploads each ProcessingOutput's LocalPath to its S3 prefix. `run_as_processing` does
exactly that from the request our builders produce, with a directory tree standing in for S3
(`<s3>/<bucket>/<key>`) and no network, so data preparation feeds evaluation through their S3 URIs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scripts import digits, evaluate
from scripts.launch import processing
from scripts.launch.validation import check_request
from tests.support.docker import RunResult, docker_run

pytestmark = pytest.mark.slow

IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-tensorflow-training:test"
ROLE = "arn:aws:iam::123456789012:role/byoc"
CLASSES = ("0", "1", "7")


def _local(s3: Path, uri: str) -> Path:
    return s3 / uri.removeprefix("s3://")


def run_as_processing(image: str, request: dict, s3: Path, workdir: Path) -> RunResult:
    check_request("CreateProcessingJob", request)
    mounts = []
    for item in request.get("ProcessingInputs", []):
        source = _local(s3, item["S3Input"]["S3Uri"])
        target = workdir / "in" / item["InputName"]
        # An S3Prefix input is every object under the prefix, keyed relative to it (a single object: its name).
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir(parents=True)
            shutil.copy2(source, target / source.name)
        mounts += ["-v", f"{target}:{item['S3Input']['LocalPath']}"]
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        local = workdir / "out" / item["OutputName"]
        local.mkdir(parents=True)
        mounts += ["-v", f"{local}:{item['S3Output']['LocalPath']}"]
    config = workdir / "config"
    config.mkdir()
    (config / "processingjobconfig.json").write_text(json.dumps(request))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    mounts += ["-v", f"{config}:/opt/ml/config:ro"]
    entrypoint, *command = request["AppSpecification"]["ContainerEntrypoint"]
    result = docker_run(
        image, *command, *request["AppSpecification"].get("ContainerArguments", []),
        env=request.get("Environment"), docker_args=["--network", "none", "--entrypoint", entrypoint, *mounts],
    )  # fmt: skip
    if result.returncode == 0:  # EndOfJob upload
        for item in outputs:
            shutil.copytree(workdir / "out" / item["OutputName"], _local(s3, item["S3Output"]["S3Uri"]))
    return result


def write_images(root: Path) -> None:
    """A few real digit scans per class: train/<class>/*.png and test/<class>/*.png (test -> the eval split)."""
    from sklearn.datasets import load_digits

    scans = load_digits()
    for digit in CLASSES:
        members = np.flatnonzero(scans.target == int(digit))
        for split, indices in (("train", members[:6]), ("test", members[6:10])):
            for index in indices:
                path = root / split / digit / f"digit-{index:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                digits.upscale(scans.images[index], 32).save(path, format="PNG")


def test_prepare_then_evaluate_run_in_the_training_image_from_their_processing_requests(train_image, tmp_path):
    s3 = tmp_path / "s3"
    write_images(s3 / "byoc-raw" / "digits")
    resources = processing.Resources(IMAGE_URI, ROLE)

    prepare = processing.processing_job_request(
        "prep-1",
        processing.prepare_data_spec(
            resources, "s3://byoc-raw/digits", "s3://byoc-data/digits", shard_multiple=2, labels_in=("train",)
        ),
        {},
    )
    result = run_as_processing(train_image, prepare, s3, tmp_path / "prepare")
    assert result.returncode == 0, result.describe()
    assert "split=eval records=12 shards=2" in result.stdout
    eval_dir = s3 / "byoc-data" / "digits" / "eval"
    shards = sorted(eval_dir.glob("eval-*.tfrecord"))
    assert len(shards) == 2
    assert sorted(p.name for p in eval_dir.iterdir()) == [s.name for s in shards]  # a transformable prefix
    assert (s3 / "byoc-data" / "digits" / "labels.txt").read_text().split() == list(CLASSES)
    assert (s3 / "byoc-data" / "digits" / "train" / "labels.txt").is_file()
    assert len(list((s3 / "byoc-data" / "digits" / "train").glob("train-*.tfrecord"))) == 2

    # Batch Transform's output for these shards (SplitType=TFRecord, AssembleWith=Line): one JSON line per
    # record, in order, in <shard>.out. Every prediction is right but the first one.
    predictions = s3 / "byoc-data" / "bt-out"
    predictions.mkdir(parents=True)
    truth = []
    for shard in shards:
        labels = evaluate.read_tfrecord_labels(shard)
        rows = []
        for label in labels:
            predicted = (label + 1) % len(CLASSES) if not truth and not rows else label
            rows.append(json.dumps({"predictions": [float(i == predicted) for i in range(len(CLASSES))]}))
        truth += labels
        (predictions / f"{shard.name}.out").write_text("\n".join(rows) + "\n")

    evaluation = processing.processing_job_request(
        "eval-1",
        processing.evaluation_spec(
            resources, "s3://byoc-data/bt-out", "s3://byoc-data/digits/eval", "s3://byoc-data/evaluation",
            "s3://byoc-data/digits/labels.txt",
        ),  # fmt: skip
        {},
    )
    result = run_as_processing(train_image, evaluation, s3, tmp_path / "evaluate")
    assert result.returncode == 0, result.describe()
    report = json.loads((s3 / "byoc-data" / "evaluation" / processing.EVALUATION_FILE).read_text())
    metrics = report["multiclass_classification_metrics"]
    assert report["records"] == len(truth) == 12
    assert metrics["accuracy"]["value"] == pytest.approx(11 / 12)
    matrix = metrics["confusion_matrix"]
    assert sum(matrix[c][c] for c in CLASSES) == 11
    assert sum(sum(row.values()) for row in matrix.values()) == 12
    png = (s3 / "byoc-data" / "evaluation" / processing.CONFUSION_MATRIX_FILE).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    # A transform output that does not match its records fails the job with evaluate's one line (the job's
    # exit message), and nothing is uploaded.
    (predictions / f"{shards[0].name}.out").write_text('{"predictions": [1.0, 0.0, 0.0]}\n')
    shutil.rmtree(s3 / "byoc-data" / "evaluation")
    result = run_as_processing(train_image, evaluation, s3, tmp_path / "evaluate-bad")
    assert result.returncode == 2, result.describe()
    assert result.stderr.strip().splitlines()[-1].startswith(f"evaluate: error: {shards[0].name}.out: 1 predictions")
    assert not (s3 / "byoc-data" / "evaluation").exists()


def _launch(main, argv: list[str], capsys) -> list[str]:
    """`launch argv` in this process; its stdout lines. On failure everything it printed, untruncated: the local
    engine's compose output is where a local job says why it failed."""
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"launch {' '.join(argv)}: exit {code}\n--- stdout\n{out.out}\n--- stderr\n{out.err}"
    return out.out.splitlines()


def test_local_mode_prepares_trains_and_serves_through_the_sdks_local_engine(
    train_image, serve_image, tmp_path, monkeypatch, capsys, request
):
    """`launch process prepare --local`, `launch train --local` on its output, `launch transform --local` of the
    model over the eval shards, then `launch deploy --local` of it: the same checked requests, run by
    sagemaker-core's local engine (the SDK's v2 local mode: docker compose, /opt/ml laid out by the SDK, outputs
    copied back, the local endpoint on port 8080) on our images."""
    import os
    import signal
    import subprocess
    import sys
    import tarfile

    import requests

    from scripts.launch.cli import main
    from tests.container.sdk_local import runner

    request.addfinalizer(lambda: runner.remove_exited_sdk_jobs(train_image, serve_image))
    for name, value in {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)  # fmt: skip
    for name in ("AWS_ENDPOINT_URL", "SAGEMAKER_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    raw, data, models = tmp_path / "raw", tmp_path / "data", tmp_path / "models"
    write_images(raw)
    # --labels-in train: eval/ stays transformable (every object under the transform's prefix is a record).
    argv = ["process", "prepare", "--local", "--image", train_image, "--job-name", "prep-local",
            "--input", f"file://{raw}", "--output", f"file://{data}", "--shard-multiple", "2",
            "--labels-in", "train"]  # fmt: skip
    lines = _launch(main, argv, capsys)
    assert lines[0] == "running processing job prep-local locally (SageMaker SDK local mode)"
    assert lines[-1] == f"prep-local: Completed -> file://{data}"
    assert len(list((data / "eval").glob("eval-*.tfrecord"))) == 2
    assert (data / "labels.txt").read_text().split() == list(CLASSES)

    argv = ["train", "--local", "--image", train_image, "--job-name", "train-local", "--instance-count", "1",
            "--train", f"file://{data}/train", "--eval", f"file://{data}/eval", "--output-path", f"file://{models}",
            "--hp", "epochs=1", "--hp", "batch_size=8"]  # fmt: skip
    last = _launch(main, argv, capsys)[-1]
    assert last.startswith("train-local: Completed -> file://"), last
    with tarfile.open(last.split(" -> file://", 1)[1]) as tar:
        names = tar.getnames()
    assert any(name.endswith("saved_model.pb") for name in names), names

    # The default TFRecord/MultiRecord request, run unsplit by the engine: one JSON line (the record's scores)
    # per record, per shard, read by the parser `evaluate` uses.
    shards = sorted((data / "eval").iterdir())
    argv = ["transform", "--local", "--image", serve_image, "--model-data", last.split(" -> ", 1)[1],
            "--job-name", "bt-local", "--input", f"file://{data}/eval",
            "--output", f"file://{tmp_path}/bt"]  # fmt: skip
    lines = _launch(main, argv, capsys)
    assert lines[0] == "running transform job bt-local locally (SageMaker SDK local mode)"
    assert lines[-1] == f"bt-local: Completed -> file://{tmp_path}/bt", lines
    outputs = sorted((tmp_path / "bt").rglob("*.out"))
    assert [p.name for p in outputs] == [f"{s.name}.out" for s in shards]
    for shard, output in zip(shards, outputs, strict=True):
        scores = evaluate.parse_predictions(output.read_text())
        assert len(scores) == len(evaluate.read_tfrecord_labels(shard)), output
        assert {len(row) for row in scores} == {len(CLASSES)}, scores

    png = next((raw / "test" / "7").glob("*.png")).read_bytes()
    argv = [sys.executable, "-m", "scripts.launch", "deploy", "--local", "--image", serve_image, "--model-data",
            last.split(" -> ", 1)[1], "--name", "local-ep"]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
    seen = []
    try:
        for line in server.stdout:
            seen.append(line.rstrip())
            if "InService" in line or server.poll() is not None:
                break
        assert seen[-1] == "local-ep: InService at http://localhost:8080/invocations (Ctrl-C stops it)", seen
        answer = requests.post(
            "http://localhost:8080/invocations", data=png, headers={"Content-Type": "application/x-image"}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        [scores] = answer.json()["predictions"]
        assert len(scores) == len(CLASSES)
    finally:
        server.send_signal(signal.SIGINT)
        rest, _ = server.communicate(timeout=120)
    assert server.returncode == 0, "\n".join(seen) + rest
    assert rest.splitlines()[-1] == "local-ep: stopped"
    with pytest.raises(requests.ConnectionError):
        requests.get("http://localhost:8080/ping", timeout=5)

