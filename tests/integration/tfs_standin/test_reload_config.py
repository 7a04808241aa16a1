"""ModelService/HandleReloadConfigRequest as TF Serving does it: the new list replaces the old one, new models are
available when the call returns, removed ones unload (END, still in the status list), unchanged ones are never
touched, bad configs are INVALID_ARGUMENT both in the RPC status and the response's status."""

from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.config import model_server_config_pb2

from tests.integration.tfs_standin.conftest import RPC_TIMEOUT, outputs, rpc_error
from tests.support import models, processes


def _config(*entries: tuple[str, str], versions: dict[str, list[int]] | None = None):
    config = model_server_config_pb2.ModelServerConfig()
    for name, base_path in entries:
        model = config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
        if versions and name in versions:
            model.model_version_policy.specific.versions.extend(versions[name])
    return config


def _reload(client, config):
    request = model_management_pb2.ReloadConfigRequest(config=config)
    return client.models.HandleReloadConfigRequest(request, timeout=RPC_TIMEOUT)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("reload")
    models.export_vector_model(root / "a", 1, seed=1)
    models.export_vector_model(root / "a", 2, seed=2)
    models.export_vector_model(root / "b", 1, seed=3)
    return root


@pytest.fixture
def empty_server(tmp_path):
    """Started with an empty model_config_list, as a multi-model endpoint starts TF Serving."""
    path = tmp_path / "models.config"
    path.write_text("model_config_list { }")
    # No load retries (TFS's default is 5, a minute apart), as the serving container runs it.
    server = processes.start_tfs_standin(
        None, extra_args=[f"--model_config_file={path}", "--max_num_load_retries=0"]
    )
    yield server
    server.stop()


def _x(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, 4)).astype(np.float32)


def test_an_empty_config_serves_nothing_until_models_are_added(empty_server, client_for, two_models):
    client = client_for(empty_server)
    assert rpc_error(client.status, "a").code() == grpc.StatusCode.NOT_FOUND
    response = _reload(client, _config(("a", str(two_models / "a"))))
    assert response.status.error_code == 0
    assert client.states("a") == {2: "AVAILABLE"}  # default policy: latest version, available on return
    got = outputs(client.predict({"x": _x()}, name="a"))["y"]
    np.testing.assert_allclose(got, models.load_and_call(two_models / "a" / "2", _x())["y"], rtol=1e-5)


def test_removed_models_unload_and_unchanged_ones_keep_serving(empty_server, client_for, two_models):
    client = client_for(empty_server)
    both = _config(("a", str(two_models / "a")), ("b", str(two_models / "b")), versions={"a": [1, 2]})
    _reload(client, both)
    assert client.states("a") == {2: "AVAILABLE", 1: "AVAILABLE"}
    assert client.states("b") == {1: "AVAILABLE"}

    failures: list[BaseException] = []
    stop = threading.Event()

    def hammer_b():
        while not stop.is_set():
            try:
                client.predict({"x": _x()}, name="b")
            except grpc.RpcError as err:  # pragma: no cover - the assertion below reports it
                failures.append(err)

    thread = threading.Thread(target=hammer_b)
    thread.start()
    try:
        _reload(client, _config(("b", str(two_models / "b"))))
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert client.states("a") == {2: "END", 1: "END"}  # unloaded, still listed, as TFS's monitor keeps them
    error = rpc_error(client.predict, {"x": _x()}, name="a")
    assert error.code() == grpc.StatusCode.NOT_FOUND and "Latest(a)" in error.details()
    # Listed again: loads again.
    _reload(client, _config(("a", str(two_models / "a")), ("b", str(two_models / "b"))))
    assert client.states("a")[2] == "AVAILABLE"


def test_a_failing_model_is_reported_in_the_rpc_and_the_response(empty_server, client_for, tmp_path):
    client = client_for(empty_server)
    models.write_unloadable_version(tmp_path / "bad", 1)
    error = rpc_error(_reload, client, _config(("bad", str(tmp_path / "bad"))))
    assert error.code() != grpc.StatusCode.OK and "Some models did not become available" in error.details()
    assert client.states("bad") == {1: "END"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (lambda p: _config(("m", p), ("m", p)), "Illegal to list model m multiple times"),
        (
            lambda p: model_server_config_pb2.ModelServerConfig(
                custom_model_config={"type_url": "x/y", "value": b""}
            ),
            "Only ModelConfigList is currently supported",
        ),
    ],
)
def test_invalid_configs_are_invalid_argument(empty_server, client_for, two_models, config, message):
    client = client_for(empty_server)
    error = rpc_error(_reload, client, config(str(two_models / "a")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
