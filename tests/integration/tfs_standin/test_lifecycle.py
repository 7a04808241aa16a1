"""Version lifecycle: startup order, LOADING -> AVAILABLE, a new version replacing the old, load failures,
an empty model directory, and signals.

TFS_STANDIN_TEST_LOAD_DELAY_SECONDS stretches LOADING so it can be observed;
TFS_STANDIN_TEST_SERVE_WHILE_LOADING=1 opens the port before the first load finishes.
"""

from __future__ import annotations

import signal
import time

import grpc
import numpy as np
import pytest

from tests.integration.tfs_standin.conftest import outputs, rpc_error
from tests.support import models, processes

pytestmark = pytest.mark.slow  # stand-in start, load and reload cycles (10-25 s each) (make test-fast leaves it out)

LOAD_DELAY = {"TFS_STANDIN_TEST_LOAD_DELAY_SECONDS": "3"}
SERVE_WHILE_LOADING = {"TFS_STANDIN_TEST_SERVE_WHILE_LOADING": "1"}


def _states_seen(client, until: dict[int, str], name: str = "model", timeout: float = 60.0) -> list[dict[int, str]]:
    """Poll GetModelStatus until it reports `until`; return every distinct answer seen on the way."""
    seen: list[dict[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = client.states(name)
        except grpc.RpcError as err:
            states = {-1: err.code().name}
        if not seen or seen[-1] != states:
            seen.append(states)
        if states == until:
            return seen
        time.sleep(0.05)
    pytest.fail(f"status never became {until}; saw {seen}")


def test_new_version_loads_then_replaces_the_old_one(tmp_path, client_for):
    v1 = models.export_vector_model(tmp_path, version=1, seed=1)
    args = ["--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"]
    with processes.start_tfs_standin(
        tmp_path, "vec", extra_args=args, env=processes.quiet_tf_env() | LOAD_DELAY
    ) as server:
        # Real TFS opens its port only once the first version is loaded.
        assert server.wait_model_available("vec") == 1
        client = client_for(server)
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        np.testing.assert_allclose(
            outputs(client.predict({"x": x}, name="vec"))["y"], models.load_and_call(v1, x)["y"], rtol=1e-6
        )

        v2 = models.export_vector_model(tmp_path, version=2, seed=2)
        seen = _states_seen(client, until={2: "AVAILABLE", 1: "END"}, name="vec")
        # The old version keeps serving while the new one loads (availability-preserving policy).
        assert {2: "LOADING", 1: "AVAILABLE"} in seen
        response = client.predict({"x": x}, name="vec")
        assert response.model_spec.version.value == 2
        np.testing.assert_allclose(outputs(response)["y"], models.load_and_call(v2, x)["y"], rtol=1e-6)
        assert client.status("vec", version=1).model_version_status[0].status.error_code == 0
        assert rpc_error(client.predict, {"x": x}, name="vec", version=1).code() == grpc.StatusCode.NOT_FOUND
        assert server.stop(signal.SIGTERM) == 0


def test_status_goes_loading_then_available_when_serving_while_loading(tmp_path, client_for):
    v1 = models.export_vector_model(tmp_path, version=1)
    env = processes.quiet_tf_env() | LOAD_DELAY | SERVE_WHILE_LOADING
    with processes.start_tfs_standin(tmp_path, "model", env=env) as server:
        client = client_for(server)
        x = np.ones((1, 4), np.float32)
        assert client.states() == {1: "LOADING"}
        err = rpc_error(client.predict, {"x": x})
        assert (err.code(), err.details()) == (
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(model)",
        )
        seen = _states_seen(client, until={1: "AVAILABLE"})
        assert seen[0] == {1: "LOADING"}
        np.testing.assert_allclose(outputs(client.predict({"x": x}))["y"], models.load_and_call(v1, x)["y"], rtol=1e-6)
        assert server.stop(signal.SIGINT) == 0


def test_empty_model_dir_never_reports_available_until_a_version_appears(tmp_path, client_for):
    base = tmp_path / "model"
    base.mkdir()
    with processes.start_tfs_standin(base, "model", env=processes.quiet_tf_env() | SERVE_WHILE_LOADING) as server:
        client = client_for(server)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            err = rpc_error(client.status)
            assert (err.code(), err.details()) == (
                grpc.StatusCode.NOT_FOUND,
                "Could not find any versions of model model",
            )
            time.sleep(0.5)
        assert "No versions of servable model found under base path" in server.log()
        models.export_vector_model(base, version=5)
        assert server.wait_model_available("model", timeout=60) == 5


def test_empty_model_dir_keeps_the_port_closed_like_tfs(tmp_path):
    port = processes.free_port()
    with processes.run_process(processes.standin_command(port, tmp_path), env=processes.quiet_tf_env()) as server:
        server.wait_for(lambda: "No versions of servable model found" in server.log(), 60, "the no-versions warning")
        time.sleep(2)  # a couple of polls later the port is still closed and the server still waits
        assert server.alive()
        assert not processes.port_is_open(port)
        models.export_vector_model(tmp_path, version=1)
        server.wait_for_port(port, timeout=60)
        assert processes.wait_model_available(port, "model", process=server) == 1


def test_unloadable_model_exits_255_at_startup(tmp_path):
    models.write_unloadable_version(tmp_path, version=1)
    cmd = processes.standin_command(processes.free_port(), tmp_path) + ["--max_num_load_retries=0"]
    with processes.run_process(cmd, env=processes.quiet_tf_env()) as server:
        assert server.wait_exit(timeout=60) == 255
        log = server.log()
    assert "Failed to start server. Error: Some models did not become available" in log
    assert "{name: model version: 1}" in log


def test_unloadable_model_ends_with_its_error_when_serving_while_loading(tmp_path, client_for):
    models.write_unloadable_version(tmp_path, version=1)
    env = processes.quiet_tf_env() | SERVE_WHILE_LOADING
    with processes.start_tfs_standin(tmp_path, "model", extra_args=["--max_num_load_retries=0"], env=env) as server:
        client = client_for(server)
        _states_seen(client, until={1: "END"})
        status = client.status().model_version_status[0].status
        assert status.error_code == grpc.StatusCode.DATA_LOSS.value[0]
        assert "saved_model.pb" in status.error_message
        with pytest.raises(processes.ProcessFailed, match="failed to load"):
            server.wait_model_available("model", timeout=5)
