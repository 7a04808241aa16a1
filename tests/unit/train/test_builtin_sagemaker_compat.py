"""The built-in trainer accepts what SageMaker itself adds to jobs: tuning's objective metric, the `training`
channel of `estimator.fit("s3://...")`, and a per-job checkpoint folder from TRAINING_JOB_NAME."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.sm_tree import encode_hyperparameters
from train_container import contract
from train_container.errors import ConfigError


def write_hyperparameters(root, values):
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(encode_hyperparameters(values)))


def test_tuning_objective_metric_and_any_sagemaker_key_are_accepted(sm_root):
    write_hyperparameters(sm_root, {"epochs": 2, "_tuning_objective_metric": "validation:accuracy",
                                    "sagemaker_estimator_class_name": "Estimator", "sagemaker_anything_new": 1})
    settings = contract.load(sm_root, environ={})
    assert settings.hyperparameters.epochs == 2
    assert {"_tuning_objective_metric", "sagemaker_anything_new"} <= set(settings.ignored_hyperparameters)


def test_an_unknown_user_hyperparameter_is_still_rejected(sm_root):
    write_hyperparameters(sm_root, {"epochz": 2})
    with pytest.raises(ConfigError, match="unknown hyperparameter 'epochz'"):
        contract.load(sm_root, environ={})


def test_the_training_channel_is_read_as_train(sm_root):
    data = sm_root / "input" / "data"
    shutil.move(data / "train", data / "training")
    (sm_root / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"training": {"TrainingInputMode": "File", "ContentType": "application/x-tfrecord"}})
    )
    settings = contract.load(sm_root, environ={})
    train = settings.channel(contract.TRAIN_CHANNEL)
    assert train.path == data / "training" and train.content_type == "application/x-tfrecord"
    assert settings.labels == ("cat", "dog", "bird")
    assert train.fifo(0) == data / "training_0"  # SageMaker's FIFO is named after the real channel


def test_train_wins_over_training_when_both_exist(sm_root):
    (sm_root / "input" / "data" / "training").mkdir()
    settings = contract.load(sm_root, environ={})
    assert settings.channel("train").path.name == "train" and settings.channel("training") is not None


def test_checkpoints_live_in_a_per_job_folder(sm_root):
    assert contract.load(sm_root, environ={}).checkpoint_dir == sm_root / "checkpoints"
    trial = contract.load(sm_root, environ={"TRAINING_JOB_NAME": "hpo-001-3f2a"})
    assert trial.checkpoint_dir == sm_root / "checkpoints" / "hpo-001-3f2a"
    other = contract.load(sm_root, environ={"TRAINING_JOB_NAME": "hpo-002-9c1d"})
    assert other.checkpoint_dir != trial.checkpoint_dir


@pytest.mark.parametrize("name", ["../escape", "a/b", "-leading", "x" * 64])
def test_a_job_name_that_is_not_sagemakers_is_refused(sm_root, name):
    with pytest.raises(ConfigError, match="TRAINING_JOB_NAME"):
        contract.load(sm_root, environ={"TRAINING_JOB_NAME": name})
