"""--model_config_file with several models, batching parameters, and the command line's error handling."""

from __future__ import annotations

import socket
import subprocess
import sys

import grpc
import numpy as np
import pytest

from tests.integration.tfs_standin.conftest import outputs, rpc_error
from tests.support import models, processes

MODEL_CONFIG = """
model_config_list {{
  config {{
    name: "images"
    base_path: "{images}"
    model_platform: "tensorflow"
  }}
  config {{
    name: "vectors"
    base_path: "{vectors}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 }} }}
    version_labels {{ key: "stable" value: 1 }}
  }}
}}
"""
BATCHING = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 1000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
"""


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_models")
    image_v1 = models.export_image_classifier(root / "images", version=1, height=8, width=8, num_classes=3)
    vector_v1 = models.export_vector_model(root / "vectors", version=1, seed=1)
    vector_v2 = models.export_vector_model(root / "vectors", version=2, seed=2)  # not in the specific policy
    config = root / "models.config"
    config.write_text(MODEL_CONFIG.format(images=root / "images", vectors=root / "vectors"))
    batching = root / "batching.config"
    batching.write_text(BATCHING)
    return {"config": config, "batching": batching, "image": image_v1, "vector": vector_v1, "vector_v2": vector_v2}


@pytest.fixture(scope="module")
def server(two_models):
    args = [
        # The `--flag value` spelling, and the thread flags, on purpose.
        "--model_config_file",
        str(two_models["config"]),
        "--enable_batching",
        "--batching_parameters_file",
        str(two_models["batching"]),
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=1",
        "--rest_api_port=0",
        "--file_system_poll_wait_seconds=0",
    ]
    with processes.start_tfs_standin(None, extra_args=args) as standin:
        yield standin


@pytest.fixture
def client(server, client_for):
    return client_for(server)


def test_both_models_are_served(client, two_models):
    assert client.states("images") == {1: "AVAILABLE"}
    assert client.states("vectors") == {1: "AVAILABLE"}
    images = models.random_images(2, height=8, width=8)
    response = client.predict({"image": images}, name="images")
    assert response.model_spec.name == "images"
    np.testing.assert_allclose(
        outputs(response)["probabilities"],
        models.load_and_call(two_models["image"], images)["probabilities"],
        rtol=1e-5,
    )
    x = np.ones((3, 4), np.float32)
    response = client.predict({"x": x}, name="vectors")
    assert response.model_spec.version.value == 1  # version 2 exists on disk but the policy pins 1
    np.testing.assert_allclose(outputs(response)["y"], models.load_and_call(two_models["vector"], x)["y"], rtol=1e-6)


def test_version_labels(client):
    response = client.predict({"x": np.ones((1, 4), np.float32)}, name="vectors", label="stable")
    assert response.model_spec.version.value == 1
    err = rpc_error(client.predict, {"x": np.ones((1, 4), np.float32)}, name="vectors", label="canary")
    assert (err.code(), err.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: canary",
    )


def test_default_model_name_is_not_served_with_a_config_file(client):
    assert rpc_error(client.status, "default").code() == grpc.StatusCode.NOT_FOUND


def test_batching_enforces_max_batch_size(client):
    assert outputs(client.predict({"x": np.ones((4, 4), np.float32)}, name="vectors"))["y"].shape == (4, 3)
    err = rpc_error(client.predict, {"x": np.ones((5, 4), np.float32)}, name="vectors")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 5 is larger than maximum input batch size 4" in err.details()


# ---- command line: these fail before TensorFlow is imported, so they are quick


def _run(args, timeout=120, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(processes.STANDIN_SERVER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=processes.quiet_tf_env() | env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model_base_path=/m", "--bogus=1"], "unknown argument: --bogus=1"),
        (["--model_base_path=/m", "positional"], "unknown argument: positional"),
        (["--port=eighty", "--model_base_path=/m"], "Couldn't interpret value eighty for flag port."),
        (["--port=99999999999", "--model_base_path=/m"], "Couldn't interpret value 99999999999 for flag port."),
        (["--port=0", "--model_base_path=/m"], "--port must be in 1..65535"),
        (
            ["--enable_batching=maybe", "--model_base_path=/m"],
            "Couldn't interpret value maybe for flag enable_batching.",
        ),
        (["--port=8500"], "one of --model_base_path or --model_config_file is required"),
        (["--model_base_path"], "flag --model_base_path needs a value"),
        (["--model_base_path=/m", "--batching_parameters_file=/b"], "without setting --enable_batching"),
        (["--model_base_path=/m", "--tensorflow_intra_op_parallelism=-1"], "must be >= 0"),
        (["--model_base_path=/m", "--grpc_channel_arguments=novalue"], "is not key=value"),
    ],
)
def test_bad_flags_exit_255_with_a_message(args, message):
    result = _run(args)
    assert result.returncode == 255
    assert message in result.stderr
    assert "--model_base_path=" in result.stdout  # the usage text, as the real binary prints it


def test_bad_test_hook_value_is_rejected():
    result = _run(["--model_base_path=/m"], TFS_STANDIN_TEST_LOAD_DELAY_SECONDS="soon")
    assert result.returncode == 255
    assert "TFS_STANDIN_TEST_LOAD_DELAY_SECONDS" in result.stderr


def test_version_and_help_exit_zero():
    version = _run(["--version"])
    assert version.returncode == 0
    assert version.stdout.startswith("TensorFlow ModelServer: ")
    assert "TensorFlow Library: 2.16" in version.stdout
    help_text = _run(["--help"]).stdout
    for flag in ("--port", "--rest_api_port", "--model_config_file", "--batching_parameters_file", "--enable_batching"):
        assert f"\t{flag}=" in help_text
    assert "Port to listen on for HTTP/REST API" in help_text


def test_wrapper_on_path_runs_the_stand_in():
    result = subprocess.run(
        ["tensorflow_model_server", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=processes.standin_path_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("TensorFlow ModelServer: ")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "models.config",
            "model_config_list { config { name: 'm' base_path: '/x' } }",
            'needs model_platform: "tensorflow"',
        ),
        ("models.config", "model_config_list { config { nme: 'm' } }", "Invalid protobuf file"),
        ("models.config", "custom_model_config { }", "only model_config_list is supported"),
        ("batching.config", "max_batch_size { value: 0 }", "max_batch_size must be positive"),
        (
            "batching.config",
            "max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2 allowed_batch_sizes: 8",
            "monotonically increasing",
        ),
        ("batching.config", "max_batch_size { value: 8 } allowed_batch_sizes: 4", "must equal max_batch_size"),
        ("batching.config", "max_batch_size: 8", "Invalid protobuf file"),
    ],
)
def test_bad_config_files_fail_to_start(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    if name == "models.config":
        args = [f"--model_config_file={path}"]
    else:
        args = [f"--model_base_path={tmp_path}", "--enable_batching", f"--batching_parameters_file={path}"]
    result = _run(args)
    assert result.returncode == 255
    assert "Failed to start server. Error:" in result.stderr
    assert message in result.stderr


def test_missing_config_file_fails_to_start(tmp_path):
    result = _run([f"--model_config_file={tmp_path / 'absent.config'}"])
    assert result.returncode == 255
    assert "cannot read" in result.stderr


def test_port_in_use_fails_to_start(tmp_path):
    models.export_vector_model(tmp_path, version=1)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run([f"--port={port}", f"--model_base_path={tmp_path}"])
    assert result.returncode == 255
    assert f"cannot bind 0.0.0.0:{port}" in result.stderr
