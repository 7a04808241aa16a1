from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from serve_container.contract import GUNICORN_MALLOC, Settings, child_environment, gunicorn_environment, load_settings
from serve_container.errors import SettingsError


def test_defaults_match_the_sagemaker_contract():
    settings = load_settings({})
    assert settings.port == 8080
    assert settings.model_dir == Path("/opt/ml/model")
    assert settings.max_payload_bytes == 6 * 1024 * 1024
    assert settings.grpc_deadline_seconds < settings.gunicorn_timeout_seconds
    assert settings.default_accept == "application/json"
    assert not settings.enable_batching


def test_dlc_names_are_read():
    settings = load_settings(
        {
            "SAGEMAKER_BIND_TO_PORT": "9090",
            "SAGEMAKER_GUNICORN_WORKERS": "3",
            "SAGEMAKER_GUNICORN_THREADS": "2",
            "SAGEMAKER_GUNICORN_TIMEOUT_SECONDS": "30",
            "SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "resnet",
            "SAGEMAKER_TFS_ENABLE_BATCHING": "TRUE",
            "SAGEMAKER_TFS_MAX_BATCH_SIZE": "32",
            "SAGEMAKER_TFS_BATCH_TIMEOUT_MICROS": "500",
            "SAGEMAKER_TFS_NUM_BATCH_THREADS": "2",
            "SAGEMAKER_TFS_MAX_ENQUEUED_BATCHES": "7",
            "SAGEMAKER_TFS_INTRA_OP_PARALLELISM": "2",
            "SAGEMAKER_TFS_INTER_OP_PARALLELISM": "1",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            "BYOC_MODEL_DIR": "/tmp/m",
        }
    )
    assert (settings.port, settings.workers, settings.threads) == (9090, 3, 2)
    assert settings.gunicorn_timeout_seconds == 30 and settings.grpc_deadline_seconds == 25
    assert settings.model_name == "resnet" and settings.enable_batching
    assert (settings.max_batch_size, settings.batch_timeout_micros) == (32, 500)
    assert (settings.num_batch_threads, settings.max_enqueued_batches) == (2, 7)
    assert (settings.intra_op_parallelism, settings.inter_op_parallelism) == (2, 1)
    assert settings.max_payload_bytes == 100 * 1024 * 1024
    assert settings.default_accept == "text/csv"
    assert settings.model_dir == Path("/tmp/m")
    assert settings.max_concurrent_transforms == 1  # 3 x 2 in flight, but 100 MB x 1 is Batch Transform's budget


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 16),  # 1 worker x 16 threads, 6 MB x 16 = 96 <= 100
        ({"SAGEMAKER_GUNICORN_WORKERS": "2"}, 16),  # 32 in flight, capped by the 100 MB budget
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"}, 5),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1024"}, 1),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, 16),  # no payload limit: no budget to keep
        ({"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "40"}, 40),  # set explicitly: as given
    ],
)
def test_concurrent_transforms_default_to_what_is_in_flight_within_the_payload_budget(env, expected):
    assert load_settings(env).max_concurrent_transforms == expected


def test_batch_transform_queues_deep_like_the_dlc():
    assert load_settings({"SAGEMAKER_BATCH": "true"}).max_enqueued_batches == 100_000_000


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_GUNICORN_WORKERS": "0"}, "SAGEMAKER_GUNICORN_WORKERS"),
        ({"SAGEMAKER_TFS_ENABLE_BATCHING": "maybe"}, "SAGEMAKER_TFS_ENABLE_BATCHING"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1025"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000-9000"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "20000-20999", "BYOC_TFS_GRPC_PORT": "9000"}, "BYOC_TFS_GRPC_PORT"),
        ({"BYOC_TFS_REST_PORT": "9000"}, "BYOC_TFS_REST_PORT"),
        ({"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "../etc"}, "SAGEMAKER_TFS_DEFAULT_MODEL_NAME"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "image/png"}, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"),
        ({"BYOC_LOG_LEVEL": "chatty"}, "BYOC_LOG_LEVEL"),
        ({"BYOC_GRACEFUL_TIMEOUT_SECONDS": "29"}, "BYOC_GRACEFUL_TIMEOUT_SECONDS"),
        ({"SAGEMAKER_BATCH_STRATEGY": "ALL"}, "SAGEMAKER_BATCH_STRATEGY"),
        ({"BYOC_TFS_GRPC_PORT": "8080"}, "BYOC_TFS_GRPC_PORT"),
        (
            {"SAGEMAKER_GUNICORN_TIMEOUT_SECONDS": "10", "BYOC_GRPC_DEADLINE_SECONDS": "10"},
            "BYOC_GRPC_DEADLINE_SECONDS",
        ),
    ],
)
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        load_settings({}).port = 1  # type: ignore[misc]
    assert isinstance(load_settings({}), Settings)


def test_blank_values_mean_default():
    assert load_settings({"SAGEMAKER_BIND_TO_PORT": "  "}).port == 8080


def test_safe_port_range_places_the_internal_ports():
    settings = load_settings({"SAGEMAKER_SAFE_PORT_RANGE": "20000-20999"})
    assert (settings.tfs_grpc_port, settings.tfs_rest_port) == (20000, 20001)
    plain = load_settings({})
    assert (plain.tfs_grpc_port, plain.tfs_rest_port) == (9000, 8501)


def test_payload_zero_means_no_limit_up_to_async_inference():
    assert load_settings({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}).max_payload_bytes == 1024 * 1024 * 1024
    assert load_settings({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1024"}).max_payload_bytes == 1024 * 1024 * 1024


def test_omp_threads_default_to_one_as_in_the_dlc_and_reach_the_children():
    settings = load_settings({})
    assert settings.omp_num_threads == "1"
    env = child_environment(settings, {"PATH": "/bin", "OMP_NUM_THREADS": "stale"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "1"}
    tuned = load_settings({"OMP_NUM_THREADS": "4,2"})
    assert child_environment(tuned, {})["OMP_NUM_THREADS"] == "4,2"


@pytest.mark.parametrize("value", ["0", "many", "-1", "4,", "1.5"])
def test_bad_omp_threads_name_the_variable(value):
    with pytest.raises(SettingsError, match="OMP_NUM_THREADS"):
        load_settings({"OMP_NUM_THREADS": value})


def test_every_setting_has_its_default_in_one_place():
    # The dataclass states no defaults: load_settings is the only place (a default here would be a second one).
    assert all(field.default is dataclasses.MISSING for field in dataclasses.fields(Settings))


def test_gunicorn_gets_the_malloc_tuning_unless_the_container_sets_it():
    settings = load_settings({})
    env = gunicorn_environment(settings, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "1", **GUNICORN_MALLOC}
    mine = gunicorn_environment(settings, {"MALLOC_MMAP_THRESHOLD_": "131072"})
    assert mine["MALLOC_MMAP_THRESHOLD_"] == "131072"
    assert mine["MALLOC_TRIM_THRESHOLD_"] == GUNICORN_MALLOC["MALLOC_TRIM_THRESHOLD_"]
    assert not set(GUNICORN_MALLOC) & set(child_environment(settings, {}))  # TF Serving keeps glibc's defaults
