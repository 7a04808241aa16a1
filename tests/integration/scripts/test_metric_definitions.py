"""The MetricDefinitions every launcher sends match what a REAL training run prints.

Runs the training entrypoint as a process on a tiny /opt/ml tree (2 epochs of 8 tiny images), captures its
output as SageMaker's log scraper would see it, and applies the regexes exactly as sent to SageMaker.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from scripts.config import REPO_ROOT
from scripts.launch import api_requests as rq
from tests.support.processes import quiet_tf_env
from train_container.records import encode_example

EPOCHS = 2
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
EVAL_METRICS = ("eval_loss", "eval_accuracy")


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_tree(root) -> None:
    import tensorflow as tf

    config = root / "input" / "config"
    config.mkdir(parents=True)
    hyperparameters = {
        "epochs": str(EPOCHS), "batch_size": "4", "model": "cnn", "augment": "false",
        "shuffle_buffer": "8", "checkpoint_every_epochs": "0", "distribution": "single",
    }  # fmt: skip
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    data_config = {}
    for offset, channel in enumerate(rq.CHANNELS):
        directory = root / "input" / "data" / channel
        directory.mkdir(parents=True)
        (directory / "labels.txt").write_text("zero\none\n")
        with tf.io.TFRecordWriter(str(directory / f"{channel}-00000-of-00001.tfrecord")) as writer:
            for i in range(8):
                writer.write(encode_example(png(100 * offset + i), i % 2, 32, 32, "png", f"{channel}-{i}.png"))
        data_config[channel] = {"ContentType": rq.TFRECORD_CONTENT_TYPE, "TrainingInputMode": "File"}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    for sub in ("model", "output/data", "checkpoints"):
        (root / sub).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def training_log(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("opt_ml")
    write_tree(root)
    env = quiet_tf_env({"PATH": "/usr/bin:/bin", "SM_BASE_DIR": str(root), "HOME": str(root)})
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from train_container.cli import main; sys.exit(main())"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = result.stdout + result.stderr  # SageMaker scrapes both streams
    assert result.returncode == 0, log[-3000:]
    return log


def sent_definitions() -> list[dict]:
    """The MetricDefinitions exactly as a training request carries them."""
    spec = rq.TrainingSpec(
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1", role_arn="arn:aws:iam::123456789012:role/r",
        instance_type="ml.m5.xlarge", instance_count=1, volume_size_gb=30, channels={"train": "s3://b-1/t"},
        input_mode="File", output_path="s3://b-1/o", hyperparameters={}, max_run_seconds=60,
    )  # fmt: skip
    return rq.training_job_request("j", spec, {})["AlgorithmSpecification"]["MetricDefinitions"]


def test_every_metric_definition_extracts_the_printed_values(training_log):
    definitions = {d["Name"]: d["Regex"] for d in sent_definitions()}
    assert set(definitions) == set(EPOCH_METRICS + EVAL_METRICS)
    lines = training_log.splitlines()
    epoch_lines = [line for line in lines if re.search(r"\bepoch=\d+ ", line)]
    assert len(epoch_lines) == EPOCHS, training_log[-3000:]

    for name in EPOCH_METRICS:
        captured = [float(m.group(1)) for line in lines if (m := re.search(definitions[name], line))]
        # The value the regex extracts must be the one printed under that exact name (not val_<name>).
        printed = [float(dict(kv.split("=", 1) for kv in line.split())[name]) for line in epoch_lines]
        assert captured == printed, name
        assert all(math.isfinite(v) for v in captured)
    for name in EVAL_METRICS:
        captured = [float(m.group(1)) for line in lines if (m := re.search(definitions[name], line))]
        assert len(captured) == 1 and math.isfinite(captured[0]), name


def test_the_tuning_objective_is_found_once_per_epoch(training_log):
    objective = next(d for d in sent_definitions() if d["Name"] == rq.OBJECTIVE_METRIC)
    values = re.findall(objective["Regex"], training_log)
    assert len(values) == EPOCHS
    assert all(0.0 <= float(v) <= 1.0 for v in values)
