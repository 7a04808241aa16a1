"""Which `train` processes launch others and which train in place, from real contract settings."""

import json

import pytest

from train_container import contract
from train_container.launch import maybe_launch


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
