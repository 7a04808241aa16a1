from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serve_container.commands import (
    APP_FACTORY,
    batching_parameters_text,
    gunicorn_command,
    tfs_command,
)
from serve_container.contract import load_settings
from serve_container.model_catalog import ModelEntry, model_config_text
from serve_container.supervisor import backoff_seconds


def test_model_config_is_a_valid_model_server_config():
    entries = [ModelEntry('we"ird', Path("/opt/ml/model"), (1, 3)), ModelEntry("b", Path("/opt/ml/model/b"), (2,))]
    config = text_format.Parse(model_config_text(entries), model_server_config_pb2.ModelServerConfig())
    first, second = config.model_config_list.config
    assert first.name == 'we"ird' and first.base_path == "/opt/ml/model"
    assert first.model_platform == "tensorflow"
    assert list(first.model_version_policy.specific.versions) == [1, 3]
    assert (second.name, list(second.model_version_policy.specific.versions)) == ("b", [2])
    empty = text_format.Parse(model_config_text([]), model_server_config_pb2.ModelServerConfig())
    assert empty.WhichOneof("config") == "model_config_list" and not empty.model_config_list.config


def test_batching_file_carries_the_dlc_knobs():
    settings = load_settings({"SAGEMAKER_TFS_MAX_BATCH_SIZE": "16", "SAGEMAKER_TFS_NUM_BATCH_THREADS": "3"})
    text = batching_parameters_text(settings)
    assert "max_batch_size { value: 16 }" in text
    assert "num_batch_threads { value: 3 }" in text
    assert "batch_timeout_micros { value: 1000 }" in text
    assert "max_enqueued_batches {" in text


def test_tfs_command_grpc_only_and_optional_flags():
    plain = tfs_command(load_settings({"BYOC_TFS_GRPC_PORT": "9123"}), Path("/r/m.cfg"), None)
    assert plain[0] == "tensorflow_model_server"
    assert "--port=9123" in plain and "--rest_api_port=8501" in plain
    assert "--model_config_file=/r/m.cfg" in plain
    assert not any(a.startswith(("--enable_batching", "--tensorflow_intra")) for a in plain)
    tuned = tfs_command(
        load_settings(
            {
                "SAGEMAKER_TFS_ENABLE_BATCHING": "true",
                "SAGEMAKER_TFS_INTRA_OP_PARALLELISM": "2",
                "SAGEMAKER_TFS_INTER_OP_PARALLELISM": "1",
            }
        ),
        Path("/r/m.cfg"),
        Path("/r/b.cfg"),
    )
    assert "--enable_batching=true" in tuned and "--batching_parameters_file=/r/b.cfg" in tuned
    assert "--tensorflow_intra_op_parallelism=2" in tuned and "--tensorflow_inter_op_parallelism=1" in tuned


def test_gunicorn_command():
    settings = load_settings(
        {
            "SAGEMAKER_BIND_TO_PORT": "8081",
            "SAGEMAKER_GUNICORN_WORKERS": "2",
            "SAGEMAKER_GUNICORN_TIMEOUT_SECONDS": "30",
        }
    )
    command = gunicorn_command(settings, "/py", "/dev/shm")
    assert command[:3] == ["/py", "-m", "gunicorn"]
    assert "--bind=0.0.0.0:8081" in command and "--workers=2" in command
    assert "--worker-class=gthread" in command and "--timeout=30" in command
    assert "--worker-tmp-dir=/dev/shm" in command
    assert command[-1] == APP_FACTORY


def test_backoff_grows_and_is_capped():
    delays = [backoff_seconds(n) for n in range(1, 10)]
    assert delays[0] == 0.5 and delays == sorted(delays) and max(delays) == 30.0
