"""The /opt/ml contract: hyperparameter encodings, validation, config files, process environment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.sm_tree import encode_hyperparameters
from train_container import contract, hyperparameters
from train_container.errors import ConfigError


def write_config(root, name, data):
    (root / "input" / "config" / name).write_text(json.dumps(data) if not isinstance(data, str) else data)


def load(root, hyperparameters=None, json_encoded=True, environ=None):
    if hyperparameters is not None:
        write_config(root, "hyperparameters.json", encode_hyperparameters(hyperparameters, json_encoded))
    return contract.load(root, environ=environ or {})


@pytest.mark.parametrize("json_encoded", [True, False], ids=["sdk-json-encoded", "plain-strings"])
def test_both_hyperparameter_encodings_give_the_same_typed_values(sm_root, json_encoded):
    settings = load(
        sm_root,
        {"epochs": 7, "learning_rate": 0.01, "augment": False, "optimizer": "sgd", "model_version": 3,
         "deterministic": True},
        json_encoded=json_encoded,
    )
    hp = settings.hyperparameters
    assert (hp.epochs, hp.learning_rate, hp.augment, hp.optimizer, hp.model_version, hp.deterministic) == (
        7, 0.01, False, "sgd", "3", True,
    )  # fmt: skip
    assert isinstance(hp.epochs, int) and isinstance(hp.learning_rate, float)


def test_sdk_encoding_of_a_string_number_is_unwrapped(sm_root):
    write_config(sm_root, "hyperparameters.json", {"learning_rate": '"0.01"', "epochs": '"3"'})
    hp = contract.load(sm_root, environ={}).hyperparameters
    assert hp.learning_rate == 0.01 and hp.epochs == 3


@given(st.integers(min_value=1, max_value=10**9), st.booleans())
def test_any_epoch_count_round_trips_in_either_encoding(epochs, json_encoded):
    raw = encode_hyperparameters({"epochs": epochs}, json_encoded)
    hp, _ = hyperparameters.parse_hyperparameters(raw)
    assert hp.epochs == epochs


def test_defaults_without_any_config_files(sm_root):
    settings = contract.load(sm_root, environ={})
    hp = settings.hyperparameters
    assert hp.epochs == 10 and hp.batch_size == 64 and hp.model == "cnn" and hp.distribution == "auto"
    assert hp.seed == 42 and hp.deterministic is False  # TF's deterministic kernels cost speed: opt-in
    assert (hp.image_height, hp.image_width) == (32, 32)
    assert settings.labels == ("cat", "dog", "bird") and settings.num_classes == 3
    assert settings.resource.hosts == ("algo-1",) and settings.resource.current_host == "algo-1"
    assert settings.channels["train"].input_mode == "File"
    assert settings.model_dir == sm_root / "model" and settings.export_dir == sm_root / "model" / "1"
    assert settings.checkpoint_dir == sm_root / "checkpoints"
    assert settings.failure_file == sm_root / "output" / "failure"
    assert settings.output_data_dir == sm_root / "output" / "data"


def test_dashes_read_as_underscores_and_image_size_sets_both_axes(sm_root):
    hp = load(sm_root, {"batch-size": 256, "image_size": 96, "image_width": 128}).hyperparameters
    assert hp.batch_size == 256
    assert (hp.image_height, hp.image_width) == (96, 128)


def test_conflicting_spellings_are_rejected(sm_root):
    with pytest.raises(ConfigError, match="'batch_size'.*conflicts with 'batch-size'"):
        load(sm_root, {"batch-size": 256, "batch_size": 128})


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("epochs", "ten", "'epochs' must be an integer"),
        ("epochs", 0, "'epochs' must be >= 1"),
        ("epochs", 2.5, "'epochs' must be an integer"),
        ("epochs", True, "'epochs' must be an integer"),
        ("learning_rate", -0.1, "'learning_rate' must be a number"),
        ("learning_rate", "nan", "'learning_rate' must be a number"),
        ("momentum", 1.0, "'momentum' must be a number (in [0, 1))"),
        ("optimizer", "adagrad", "'optimizer' must be one of adam, sgd, rmsprop"),
        ("augment", "maybe", "'augment' must be true or false"),
        ("deterministic", "sometimes", "'deterministic' must be true or false"),
        ("model_version", "v1", "'model_version' must be a string (digits"),
        ("distribution", "ring", "'distribution' must be one of auto, single, mirrored"),
        ("num_classes", 1, "'num_classes' must be >= 2"),
        ("batch_size", {"a": 1}, "'batch_size' must be an integer"),
        ("raw_shape", "28x28x2", "'raw_shape' must be a string (HxW or HxWxC (C 1, 3 or 4)"),
        ("raw_shape", "28", "'raw_shape' must be a string (HxW or HxWxC"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(sm_root, key, value, fragment):
    with pytest.raises(ConfigError) as info:
        load(sm_root, {key: value})
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_hyperparameter_is_rejected_by_name(sm_root):
    with pytest.raises(ConfigError, match="unknown hyperparameter 'epochz'"):
        load(sm_root, {"epochz": 3})


def test_sagemaker_injected_keys_are_accepted_and_listed_as_ignored(sm_root):
    settings = load(
        sm_root,
        {
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": "s3://bucket/code.tar.gz",
            "sagemaker_region": "eu-west-1",
            "sagemaker_job_name": "job",
            "sagemaker_container_log_level": 20,
            "model_dir": "s3://bucket/model",
            "epochs": 2,
        },
    )
    assert settings.ignored_hyperparameters == (
        "model_dir", "sagemaker_container_log_level", "sagemaker_job_name", "sagemaker_program",
        "sagemaker_region", "sagemaker_submit_directory",
    )  # fmt: skip
    assert settings.hyperparameters.epochs == 2


def test_sagemaker_mpi_keys_map_to_distribution_settings(sm_root):
    hp = load(
        sm_root,
        {
            "sagemaker_mpi_enabled": True,
            "sagemaker_mpi_num_of_processes_per_host": 4,
            "sagemaker_mpi_custom_mpi_options": "-verbose -x NCCL_DEBUG=INFO",
        },
    ).hyperparameters
    assert (hp.distribution, hp.processes_per_host, hp.custom_mpi_options) == (
        "horovod", 4, "-verbose -x NCCL_DEBUG=INFO",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "expected"),
    [("sagemaker_parameter_server_enabled", "parameter_server"),
     ("sagemaker_multi_worker_mirrored_strategy_enabled", "multiworker")],
)  # fmt: skip
def test_other_sagemaker_distribution_flags(sm_root, key, expected):
    assert load(sm_root, {key: True}).hyperparameters.distribution == expected
    assert load(sm_root, {key: False}).hyperparameters.distribution == "auto"


def test_sagemaker_mpi_flag_conflicting_with_explicit_distribution_is_rejected(sm_root):
    with pytest.raises(ConfigError, match="'sagemaker_mpi_enabled'.*conflicts with 'distribution'"):
        load(sm_root, {"distribution": "mirrored", "sagemaker_mpi_enabled": True})


def test_sagemaker_mpi_flag_refines_an_explicit_auto(sm_root):
    assert load(sm_root, {"distribution": "auto", "sagemaker_mpi_enabled": True}).hyperparameters.distribution == (
        "horovod"
    )


def test_smdistributed_is_rejected_clearly_but_false_is_tolerated(sm_root):
    with pytest.raises(ConfigError, match="smdistributed.*not supported"):
        load(sm_root, {"sagemaker_distributed_dataparallel_enabled": True})
    settings = load(sm_root, {"sagemaker_distributed_dataparallel_enabled": False})
    assert settings.ignored_hyperparameters == ("sagemaker_distributed_dataparallel_enabled",)


def test_hyperparameters_file_must_be_valid_json(sm_root):
    write_config(sm_root, "hyperparameters.json", "{not json")
    with pytest.raises(ConfigError, match="hyperparameters.json is not valid JSON"):
        contract.load(sm_root, environ={})


def test_resourceconfig_is_read(sm_root):
    write_config(
        sm_root,
        "resourceconfig.json",
        {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "ethwe"},
    )
    resource = contract.load(sm_root, environ={}).resource
    assert resource.hosts == ("algo-1", "algo-2") and resource.current_host == "algo-2"
    assert resource.network_interface_name == "ethwe"
    assert resource.host_rank == 1 and not resource.is_master_host


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}, "current_host 'algo-3' is not in hosts"),
        ({"current_host": "algo-1", "hosts": []}, "'hosts' must be a non-empty list"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_bad_resourceconfig_is_rejected(sm_root, data, fragment):
    write_config(sm_root, "resourceconfig.json", data)
    with pytest.raises(ConfigError, match="resourceconfig.json"):
        contract.load(sm_root, environ={})
    with pytest.raises(ConfigError) as info:
        contract.load(sm_root, environ={})
    assert fragment in str(info.value)


def test_inputdataconfig_modes_and_distribution(sm_root):
    write_config(
        sm_root,
        "inputdataconfig.json",
        {
            "train": {"TrainingInputMode": "Pipe", "S3DistributionType": "ShardedByS3Key"},
            "validation": {"TrainingInputMode": "FastFile", "ContentType": "application/x-tfrecord"},
            "eval": {"TrainingInputMode": "File"},
        },
    )
    write_config(sm_root, "hyperparameters.json", {"num_classes": "3"})
    channels = contract.load(sm_root, environ={}).channels
    assert channels["train"].input_mode == "Pipe" and channels["train"].sharded_by_s3_key
    assert channels["train"].fifo(2) == sm_root / "input" / "data" / "train_2"
    assert channels["validation"].input_mode == "FastFile"
    assert channels["validation"].content_type == "application/x-tfrecord"
    assert channels["eval"].path == sm_root / "input" / "data" / "eval"


def test_pipe_mode_cannot_read_labels_so_num_classes_is_required(sm_root):
    write_config(sm_root, "inputdataconfig.json", {"train": {"TrainingInputMode": "Pipe"}})
    with pytest.raises(ConfigError, match="set the 'num_classes' hyperparameter"):
        contract.load(sm_root, environ={})


def test_bad_input_mode_is_rejected(sm_root):
    write_config(sm_root, "inputdataconfig.json", {"train": {"TrainingInputMode": "Stream"}})
    with pytest.raises(ConfigError, match="channel 'train' TrainingInputMode must be one of File, Pipe"):
        contract.load(sm_root, environ={})


def test_without_inputdataconfig_channels_are_the_data_directories(sm_root):
    (sm_root / "input" / "data" / "validation").mkdir()
    assert sorted(contract.load(sm_root, environ={}).channels) == ["train", "validation"]


def test_missing_train_channel_is_a_clear_error(tmp_path):
    (tmp_path / "input" / "data" / "validation").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no 'train' channel"):
        contract.load(tmp_path, environ={})


def test_labels_and_num_classes(sm_root):
    assert load(sm_root, {"num_classes": 3}).labels == ("cat", "dog", "bird")
    with pytest.raises(ConfigError, match="num_classes=4 but .*labels.txt lists 3 classes"):
        load(sm_root, {"num_classes": 4})
    (sm_root / "input" / "data" / "train" / "labels.txt").unlink()
    assert load(sm_root, {"num_classes": 2}).labels == ("class_0", "class_1")
    assert load(sm_root, {}).labels == ()  # counted from the records before training


def test_source_dir_must_exist_and_is_resolved_against_the_root(sm_root):
    (sm_root / "input" / "data" / "code").mkdir()
    settings = load(sm_root, {"source_dir": "input/data/code"})
    assert settings.hyperparameters.source_dir == str(sm_root / "input" / "data" / "code")
    with pytest.raises(ConfigError, match="'source_dir': .*missing is not a directory"):
        load(sm_root, {"source_dir": "/nonexistent/missing"})


def test_mpi_and_tf_config_environment(sm_root):
    tf_config = {"cluster": {"worker": ["algo-1:2222", "algo-2:2222"]}}
    tf_config["task"] = {"type": "worker", "index": 1}
    environ = {
        "OMPI_COMM_WORLD_RANK": "3",
        "OMPI_COMM_WORLD_SIZE": "4",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
        "TF_CONFIG": json.dumps(tf_config),
        "SM_NUM_GPUS": "8",
        "SM_NUM_CPUS": "96",
    }
    settings = load(sm_root, environ=environ)
    process = settings.process
    assert (process.rank, process.size, process.local_rank, process.local_size) == (3, 4, 1, 2)
    assert process.under_mpi and process.tf_config["task"]["index"] == 1
    assert process.env_names == tuple(sorted(environ))
    assert (settings.num_gpus, settings.num_cpus) == (8, 96)


def test_outside_mpi_the_process_is_rank_zero_of_one(sm_root):
    process = load(sm_root, environ={}).process
    assert (process.rank, process.size, process.under_mpi, process.tf_config) == (0, 1, False, None)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"TF_CONFIG": "{oops"}, "TF_CONFIG is not valid JSON"),
        ({"TF_CONFIG": "[1]"}, "TF_CONFIG must be a JSON object"),
        ({"OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"}, "OMPI_COMM_WORLD_RANK must be an int"),
        ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "2"}, "rank 2 is not within world size 2"),
        ({"SM_NUM_GPUS": "-1"}, "SM_NUM_GPUS must be >= 0"),
    ],
)
def test_bad_environment_is_rejected_by_name(sm_root, environ, fragment):
    with pytest.raises(ConfigError) as info:
        load(sm_root, environ=environ)
    assert fragment in str(info.value)


def test_root_comes_from_sm_base_dir(sm_root):
    assert contract.root_from_env({"SM_BASE_DIR": str(sm_root)}) == sm_root
    assert contract.root_from_env({}) == contract.Path("/opt/ml")
    assert contract.load(environ={"SM_BASE_DIR": str(sm_root)}).root == sm_root


def test_settings_are_frozen(sm_root):
    settings = load(sm_root, {})
    with pytest.raises(AttributeError):
        settings.num_gpus = 4
    with pytest.raises(AttributeError):
        settings.hyperparameters.epochs = 1
    with pytest.raises(TypeError):
        settings.channels["eval"] = settings.channels["train"]


def test_contract_and_metrics_do_not_import_tensorflow():
    code = (
        "import sys, train_container.contract, train_container.metrics, train_container.records, "
        "train_container.errors; print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_runtime_env_turns_off_onednn_only_for_mirrored_on_logical_cpus(sm_root):
    base = load(sm_root, {})
    assert contract.runtime_env(base) == {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    split = load(sm_root, {"cpu_replicas": 2})
    assert contract.runtime_env(split)["TF_ENABLE_ONEDNN_OPTS"] == "0"
    on_gpus = load(sm_root, {"cpu_replicas": 2}, environ={"SM_NUM_GPUS": "4"})
    assert "TF_ENABLE_ONEDNN_OPTS" not in contract.runtime_env(on_gpus)


@pytest.mark.parametrize(
    ("values", "needed"),
    [({"image_size": 9}, 10), ({"model": "mobilenet_v2", "image_height": 96, "image_width": 24}, 32)],
)
def test_images_smaller_than_the_model_accepts_fail_with_the_minimum(sm_root, values, needed):
    with pytest.raises(ConfigError, match=f"at least {needed}x{needed}"):
        load(sm_root, values)


def test_smallest_accepted_images_pass(sm_root):
    assert load(sm_root, {"image_size": 10}).hyperparameters.image_height == 10
