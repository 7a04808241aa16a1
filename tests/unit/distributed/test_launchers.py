"""Which `train` processes launch others and which train in place, from real contract settings."""

import json

import pytest

from train_container import contract
from train_container.launchers import maybe_launch


def settings(tmp_path, hyperparameters, environ=None):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    train = tmp_path / "input" / "data" / "train"
    train.mkdir(parents=True)
    (train / "labels.txt").write_text("a\nb\n")
    return contract.load(tmp_path, environ or {})


@pytest.mark.parametrize("distribution", ["auto", "single", "mirrored", "multiworker"])
def test_in_process_distributions_train_here(tmp_path, distribution):
    assert maybe_launch(settings(tmp_path, {"distribution": distribution})) is None


def test_a_rank_started_by_mpirun_trains_here(tmp_path):
    environ = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}
    assert maybe_launch(settings(tmp_path, {"sagemaker_mpi_enabled": "true"}, environ)) is None


def test_a_parameter_server_task_trains_or_serves_here(tmp_path):
    tf_config = json.dumps({"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}})
    assert maybe_launch(settings(tmp_path, {"distribution": "parameter_server"}, {"TF_CONFIG": tf_config})) is None


def test_horovod_launcher_rejects_bad_options_before_starting_anything(tmp_path):
    from train_container.errors import ConfigError

    hyperparameters = {"sagemaker_mpi_enabled": "true", "sagemaker_mpi_custom_mpi_options": "-np 64"}
    with pytest.raises(ConfigError, match="may not set -np"):
        maybe_launch(settings(tmp_path, hyperparameters))


def test_parameter_server_counts_the_train_channels_eval_arrays_as_validation(tmp_path):
    """seed 001's train_*/eval_* pairs in one channel validate (numpy_input): the workers then need validation_steps."""
    import numpy as np

    from train_container.errors import TrainingError
    from train_container.launchers.parameter_server import check_step_counts

    job = settings(tmp_path, {"distribution": "parameter_server", "steps_per_epoch": 2})
    train = tmp_path / "input" / "data" / "train"
    for prefix in ("train", "eval"):
        np.save(train / f"{prefix}_data.npy", np.zeros((2, 16, 16), np.uint8))
        np.save(train / f"{prefix}_labels.npy", np.zeros(2, np.int64))
    with pytest.raises(TrainingError, match=r"validation_steps hyperparameter with the validation \(eval_\* arrays "
                                            r"of 'train'\) channel: Keras"):  # fmt: skip
        check_step_counts(job)
    (train / "eval_data.npy").unlink()
    check_step_counts(job)  # train arrays alone: nothing evaluated, nothing to count
