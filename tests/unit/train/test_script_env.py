"""Script mode's env/argv builders against sagemaker-training-toolkit's documented renderings
(its test/unit/test_mapping.py cases), plus the job's hyperparameter split and channel edge cases."""

from __future__ import annotations

import json

import pytest

from tests.support.sm_tree import make_sm_tree
from train_container import mode
from train_container.errors import ConfigError
from train_container.script import job as script_job
from train_container.script.toolkit_env import script_env, to_cmd_args, to_env_vars, user_args


@pytest.mark.parametrize(("target", "expected"), [
    ({"da-sh": "1", "un_der": "2", "un-sh": "3", "da_der": "2"},
     ["--da-sh", "1", "--da_der", "2", "--un-sh", "3", "--un_der", "2"]),
    ({}, []),
    ({"": ""}, ["", ""]),
    ({"unicode": "¡ø", "bytes": b"2", "floats": 4.0, "int": 2},
     ["--bytes", "2", "--floats", "4.0", "--int", "2", "--unicode", "¡ø"]),
    ({"U": "1", "b": b"2", "T": "", "": "42"}, ["", "42", "-T", "", "-U", "1", "-b", "2"]),
    ({"nested": ["1", ["2", "3", [["6"]]]]}, ["--nested", "['1', ['2', '3', [['6']]]]"]),
    ({"map": {"a": [1, 3, 4]}, "channel_dirs": {"train": "foo", "eval": "bar"}},
     ["--channel_dirs", "eval=bar,train=foo", "--map", "a=[1, 3, 4]"]),
    ({"truthy": True, "falsy": False}, ["--falsy", "False", "--truthy", "True"]),
    ({"none": None}, ["--none", ""]),
])  # fmt: skip
def test_cmd_args_render_like_the_toolkit(target, expected):
    assert to_cmd_args(target) == expected


@pytest.mark.parametrize(("target", "expected"), [
    ({"model_dir": "/opt/ml/model", "OUTPUT_DIR": "/opt/ml/output"},
     {"SM_MODEL_DIR": "/opt/ml/model", "SM_OUTPUT_DIR": "/opt/ml/output"}),
    ({}, {}),
    ({"": None}, {"": ""}),
    ({"bytes": b"2", "floats": 4.0, "int": 2, "unicode": "¡ø"},
     {"SM_BYTES": "2", "SM_FLOATS": "4.0", "SM_INT": "2", "SM_UNICODE": "¡ø"}),
    ({"nested": ["1", ["2", "3", [["6"]]]]}, {"SM_NESTED": '["1",["2","3",[["6"]]]]'}),
    ({"channel_dirs": {"eval": "bar", "train": "foo"}, "map": {"a": [1, 3, 4]}},
     {"SM_CHANNEL_DIRS": '{"eval":"bar","train":"foo"}', "SM_MAP": '{"a":[1,3,4]}'}),
    ({"truthy": True, "falsy": False}, {"SM_FALSY": "false", "SM_TRUTHY": "true"}),
])  # fmt: skip
def test_env_vars_render_like_the_toolkit(target, expected):
    assert to_env_vars(target) == expected


HYPERPARAMETERS = {
    "loss": "SGD",
    "sagemaker_program": "user_script.py",
    "epochs": 10,
    "batch_size": 64,
    "precision": 5.434322,
    "sagemaker_region": "us-west-2",
    "sagemaker_job_name": "horovod-training-job",
    "sagemaker_submit_directory": "s3://bucket/something/sourcedir.tar.gz",
}


@pytest.fixture
def round_trip(tmp_path):
    """The toolkit's own round-trip case (test_env_vars_round_trip), laid out as SageMaker writes /opt/ml."""
    root = make_sm_tree(tmp_path / "ml", HYPERPARAMETERS, {"train": None, "validation": None},
                        hosts=("algo-1", "algo-2", "algo-3"))  # fmt: skip
    job = script_job.load(root, {"SM_NUM_CPUS": "4", "SM_NUM_GPUS": "0", "PYTHONPATH": "/extra"})
    return root, job, script_env(job, root / "code")


def test_round_trip_matches_the_toolkit(round_trip):
    root, job, env = round_trip
    assert env["SM_HPS"] == '{"batch_size":64,"epochs":10,"loss":"SGD","precision":5.434322}'
    assert env["SM_HP_BATCH_SIZE"] == "64" and env["SM_HP_EPOCHS"] == "10"
    assert env["SM_HP_PRECISION"] == "5.434322" and env["SM_HP_LOSS"] == "SGD"
    assert json.loads(env["SM_USER_ARGS"]) == ["--batch_size", "64", "--epochs", "10", "--loss", "SGD",
                                               "--precision", "5.434322"]  # fmt: skip
    assert user_args(job) == json.loads(env["SM_USER_ARGS"])
    assert env["SM_HOSTS"] == '["algo-1","algo-2","algo-3"]'
    assert env["SM_CURRENT_HOST"] == env["CURRENT_HOST"] == "algo-1"
    assert env["SM_CHANNELS"] == '["train","validation"]'
    assert env["SM_CHANNEL_TRAIN"] == str(root / "input" / "data" / "train")
    assert env["SM_CHANNEL_VALIDATION"] == str(root / "input" / "data" / "validation")
    assert env["SM_MODULE_NAME"] == "user_script" and env["SM_USER_ENTRY_POINT"] == "user_script.py"
    assert env["SM_MODULE_DIR"] == "s3://bucket/something/sourcedir.tar.gz"
    assert env["SM_MODEL_DIR"] == str(root / "model")
    assert env["SM_OUTPUT_DATA_DIR"] == str(root / "output" / "data")
    assert env["SM_OUTPUT_DIR"] == str(root / "output")
    assert env["SM_INPUT_DIR"] == str(root / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(root / "input" / "config")
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_LOG_LEVEL"] == "20"
    assert env["SM_NUM_CPUS"] == "4" and env["SM_NUM_GPUS"] == "0"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "local"
    assert json.loads(env["SM_RESOURCE_CONFIG"])["hosts"] == ["algo-1", "algo-2", "algo-3"]
    assert set(json.loads(env["SM_INPUT_DATA_CONFIG"])) == {"train", "validation"}
    assert env["SM_FRAMEWORK_PARAMS"] == "{}"
    assert env["SAGEMAKER_JOB_NAME"] == "horovod-training-job" and env["SAGEMAKER_REGION"] == "us-west-2"
    assert env["PYTHONPATH"].split(":") == [str(root / "code"), "/extra"]
    training = json.loads(env["SM_TRAINING_ENV"])
    assert training["hyperparameters"] == {"batch_size": 64, "epochs": 10, "loss": "SGD", "precision": 5.434322}
    assert training["module_name"] == "user_script" and training["is_master"] is True
    assert training["channel_input_dirs"]["train"] == env["SM_CHANNEL_TRAIN"]


def test_sagemaker_keys_never_reach_the_program_but_model_dir_does(tmp_path):
    root = make_sm_tree(tmp_path, {
        "sagemaker_program": "train.py", "sagemaker_mpi_enabled": True, "sagemaker_mpi_custom_mpi_options": "-x A=1",
        "sagemaker_container_log_level": 10, "_tuning_objective_metric": "loss", "model_dir": "/opt/ml/model",
        "lr": "0.1", "flag": True, "layers": [64, 32], "opts": {"b": 2, "a": 1},
    })  # fmt: skip
    job = script_job.load(root, {})
    assert user_args(job) == ["--flag", "True", "--layers", "[64, 32]", "--lr", "0.1", "--model_dir", "/opt/ml/model",
                              "--opts", "a=1,b=2"]  # fmt: skip
    env = script_env(job, root / "code")
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_mpi_custom_mpi_options": "-x A=1",
                                                      "sagemaker_mpi_enabled": True}  # fmt: skip
    assert env["SM_LOG_LEVEL"] == "10"
    assert job.distribution == "mpi" and job.custom_mpi_options == "-x A=1" and job.processes_per_host == 1
    assert json.loads(env["SM_DISTRIBUTION_INSTANCE_GROUPS"]) == ["homogeneousCluster"]


def test_unencoded_values_are_passed_as_written(tmp_path):
    # Before SDK 2.110 values were plain strings; a string that is not JSON stays as it is.
    root = make_sm_tree(tmp_path, {"sagemaker_program": "train.py", "optimizer": "adam", "lr": "1e-3"},
                        json_encoded=False)  # fmt: skip
    assert user_args(script_job.load(root, {})) == ["--lr", "0.001", "--optimizer", "adam"]


def test_tuning_trial_gets_its_own_s3_model_dir(tmp_path):
    root = make_sm_tree(tmp_path, {"sagemaker_program": "train.py", "_tuning_objective_metric": "val_acc",
                                   "model_dir": "s3://bucket/tuning"})  # fmt: skip
    job = script_job.load(root, {"TRAINING_JOB_NAME": "tuning-001-abc"})
    assert user_args(job) == ["--model_dir", "s3://bucket/tuning/tuning-001-abc/model"]


def test_training_channel_from_estimator_fit_is_exported(tmp_path):
    root = make_sm_tree(tmp_path, {"sagemaker_program": "train.py"}, {"training": None})
    env = script_env(script_job.load(root, {}), root / "code")
    assert env["SM_CHANNEL_TRAINING"] == str(root / "input" / "data" / "training")
    assert env["SM_CHANNELS"] == '["training"]'


def test_no_channels_is_fine_for_a_script(tmp_path):
    root = make_sm_tree(tmp_path, {"sagemaker_program": "train.py"})
    env = script_env(script_job.load(root, {}), root / "code")
    assert env["SM_CHANNELS"] == "[]" and not any(name.startswith("SM_CHANNEL_") for name in env)


@pytest.mark.parametrize(("flags", "expected"), [
    ({}, "single"),
    ({"sagemaker_mpi_enabled": True}, "mpi"),
    ({"sagemaker_mpi_enabled": False}, "single"),
    ({"sagemaker_multi_worker_mirrored_strategy_enabled": "true"}, "multiworker"),
    ({"sagemaker_parameter_server_enabled": True}, "parameter_server"),
])  # fmt: skip
def test_distribution_from_the_sdk_flags(flags, expected):
    assert script_job.select_distribution(flags) == expected


@pytest.mark.parametrize(("flags", "message"), [
    ({"sagemaker_mpi_enabled": True, "sagemaker_parameter_server_enabled": True}, "only one distribution"),
    ({"sagemaker_distributed_dataparallel_enabled": True}, "smdistributed"),
    ({"sagemaker_mpi_enabled": "maybe"}, "must be true or false"),
])  # fmt: skip
def test_bad_distribution_flags_are_one_line_errors(flags, message):
    with pytest.raises(ConfigError, match=message):
        script_job.select_distribution(flags)


@pytest.mark.parametrize(("hyperparameters", "message"), [
    ({"sagemaker_program": ""}, "must name the program"),
    ({"sagemaker_program": "t.py", "sagemaker_mpi_num_of_processes_per_host": 0}, "integer >= 1"),
    ({"sagemaker_program": "t.py", "sagemaker_submit_directory": 3}, "must be a string"),
])  # fmt: skip
def test_bad_script_settings_are_config_errors(tmp_path, hyperparameters, message):
    root = make_sm_tree(tmp_path, hyperparameters)
    with pytest.raises(ConfigError, match=message):
        script_job.load(root, {})


@pytest.mark.parametrize(("raw", "expected"), [
    ({"sagemaker_program": '"train.py"'}, mode.SCRIPT),
    ({"sagemaker_program": "train.py"}, mode.SCRIPT),
    ({"epochs": "1"}, mode.BUILTIN),
    ({"sagemaker_program": '""'}, mode.BUILTIN),
    ({}, mode.BUILTIN),
])  # fmt: skip
def test_mode_is_script_exactly_when_a_program_is_named(raw, expected):
    assert mode.select(raw) == expected
