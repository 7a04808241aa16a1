"""The training image on a SageMaker-shaped tree: `docker run -v <tree>:/opt/ml IMAGE train`."""

from __future__ import annotations

import pytest

from tests.container.conftest import docker_run
from tests.support.sm_tree import colour_accuracy, make_sm_tree, prepare_colour_tfrecords

HYPERPARAMETERS = {"batch_size": 16, "epochs": 2, "shuffle_buffer": 256, "learning_rate": 0.002, "augment": False}


@pytest.fixture(scope="module")
def colour_tfrecords(tmp_path_factory):
    return prepare_colour_tfrecords(tmp_path_factory.mktemp("colour"))


def run_job(image, root, *extra_docker_args):
    return docker_run(image, "train", docker_args=["-v", f"{root}:/opt/ml", *extra_docker_args])


def test_train_job_produces_a_servable_model(train_image, colour_tfrecords, tmp_path):
    root = make_sm_tree(
        tmp_path / "opt_ml",
        {**HYPERPARAMETERS, "sagemaker_program": "unused.py"},
        {"train": colour_tfrecords / "train", "validation": colour_tfrecords / "validation"},
    )
    result = run_job(train_image, root)
    assert result.returncode == 0, result.describe()
    assert [line.split()[0] for line in result.stdout.splitlines() if line.startswith("epoch=")] == [
        "epoch=1", "epoch=2",
    ]  # fmt: skip
    version = root / "model" / "1"
    assert (version / "assets" / "labels.txt").read_text() == "blue\ngreen\nred\nyellow\n"
    assert colour_accuracy(version) >= 0.9
    assert list((root / "checkpoints").glob("ckpt-*.index"))


def test_train_job_with_an_empty_channel_writes_the_failure_file(train_image, tmp_path):
    root = make_sm_tree(tmp_path / "opt_ml", {"num_classes": 2}, {"train": None})
    result = run_job(train_image, root)
    assert result.returncode == 3, result.describe()
    assert (root / "output" / "failure").read_text().splitlines()[0] == (
        "channel 'train' has no *.tfrecord files under /opt/ml/input/data/train"
    )
