"""The training image on a SageMaker-shaped tree: `docker run -v <tree>:/opt/ml IMAGE train`."""

from __future__ import annotations

import pytest

from tests.support.docker import docker_run
from tests.support.sm_tree import colour_accuracy, make_sm_tree, prepare_colour_tfrecords

# learning_rate, deterministic: see BASE_HYPERPARAMETERS in tests/integration/train/conftest.py.
HYPERPARAMETERS = {"batch_size": 16, "epochs": 2, "shuffle_buffer": 256, "learning_rate": 0.001, "augment": False,
                   "deterministic": True}


@pytest.fixture(scope="module")
def colour_tfrecords(tmp_path_factory):
    return prepare_colour_tfrecords(tmp_path_factory.mktemp("colour"))


def run_job(image, root, *extra_docker_args):
    return docker_run(image, "train", docker_args=["-v", f"{root}:/opt/ml", *extra_docker_args])


def test_train_job_produces_a_servable_model(train_image, colour_tfrecords, tmp_path):
    # As SageMaker runs a tuning trial of `estimator.fit("s3://...")`: the `training` channel, the tuner's
    # objective metric and the SDK's own keys in the hyperparameters, TRAINING_JOB_NAME in the environment.
    root = make_sm_tree(
        tmp_path / "opt_ml",
        {**HYPERPARAMETERS, "_tuning_objective_metric": "validation:accuracy", "sagemaker_region": "us-west-2",
         "sagemaker_estimator_class_name": "Estimator"},
        {"training": colour_tfrecords / "train", "validation": colour_tfrecords / "validation"},
    )  # fmt: skip
    result = run_job(train_image, root, "-e", "TRAINING_JOB_NAME=tuning-trial-001")
    assert result.returncode == 0, result.describe()
    assert [line.split()[0] for line in result.stdout.splitlines() if line.startswith("epoch=")] == [
        "epoch=1", "epoch=2",
    ]  # fmt: skip
    version = root / "model" / "1"
    assert (version / "assets" / "labels.txt").read_text() == "blue\ngreen\nred\nyellow\n"
    assert colour_accuracy(version) >= 0.9
    assert list((root / "checkpoints" / "tuning-trial-001").glob("ckpt-*.index"))  # its own folder


def test_train_job_with_an_empty_channel_writes_the_failure_file(train_image, tmp_path):
    root = make_sm_tree(tmp_path / "opt_ml", {"num_classes": 2}, {"train": None})
    result = run_job(train_image, root)
    assert result.returncode == 3, result.describe()
    assert (root / "output" / "failure").read_text().splitlines()[0] == (
        "channel 'train' has no TFRecord files, arrays or image folders under /opt/ml/input/data/train (looked for "
        "*.tfrecord, *.tfrecords, *.tfr, <name>-NNNNN-of-NNNNN, each with optional .gz, <prefix>_data.npy + "
        "<prefix>_labels.npy, *.npz with x/y or images/labels, <class>/*.png|jpg|jpeg folders); it is empty"
    )
