"""The stand-in's REST API against the shapes TF Serving documents (api_rest.md): status, metadata, :predict in
row and columnar form, signature_name, and {"error": ...} with TFS's HTTP status."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.support import models, processes


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("rest")
    models.export_vector_model(root / "vec", 1, seed=1)
    models.export_multi_io_model(root / "multi", 1)
    config = root / "models.config"
    config.write_text(
        "model_config_list {"
        f" config {{ name: 'vec' base_path: '{root / 'vec'}' model_platform: 'tensorflow' }}"
        f" config {{ name: 'multi' base_path: '{root / 'multi'}' model_platform: 'tensorflow' }} }}"
    )
    rest_port = processes.free_port()
    server = processes.start_tfs_standin(
        None, extra_args=[f"--model_config_file={config}", f"--rest_api_port={rest_port}"]
    )
    url = f"http://127.0.0.1:{rest_port}"
    try:
        # Like TF Serving, the REST port opens only once the models are loaded: wait for it, not just for gRPC.
        server.wait_model_available("vec")
        server.wait_model_available("multi")
        server.wait_for(lambda: _answers(url), 60, "the REST API on its port")
        yield url, root
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/v1/models/vec", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


X = np.random.default_rng(2).normal(size=(2, 4)).astype(np.float32)


def test_status_and_metadata(rest_server):
    url, _ = rest_server
    status = requests.get(f"{url}/v1/models/vec", timeout=30).json()
    assert status == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    metadata = requests.get(f"{url}/v1/models/vec/versions/1/metadata", timeout=30).json()
    assert metadata["model_spec"] == {"name": "vec", "signature_name": "", "version": "1"}
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["x"]["dtype"] == "DT_FLOAT"


def test_predict_row_and_columnar(rest_server):
    url, root = rest_server
    want = models.load_and_call(root / "vec" / "1", X)["y"]
    rows = requests.post(f"{url}/v1/models/vec:predict", json={"instances": X.tolist()}, timeout=30)
    assert rows.status_code == 200 and set(rows.json()) == {"predictions"}
    np.testing.assert_allclose(rows.json()["predictions"], want, rtol=1e-5)
    columns = requests.post(
        f"{url}/v1/models/vec/versions/1:predict",
        json={"signature_name": "serving_default", "inputs": X.tolist()},
        timeout=30,
    )
    assert set(columns.json()) == {"outputs"}
    np.testing.assert_allclose(columns.json()["outputs"], want, rtol=1e-5)
    multi = requests.post(
        f"{url}/v1/models/multi:predict", json={"instances": [{"a": [1.0, 2.0], "b": 3}]}, timeout=30
    ).json()
    assert multi == {"predictions": [{"label": "n3", "total": 6.0}]}


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("/v1/models/nope:predict", {"instances": [[1, 2, 3, 4]]}, 404, "Servable not found"),
        ("/v1/models/vec:predict", {"signature_name": "other", "instances": [[1, 2, 3, 4]]}, 400, "not found"),
        ("/v1/models/vec:predict", {"instances": [[1, 2]]}, 400, "shape"),
        ("/v1/models/vec:predict", {"rows": []}, 400, "Missing 'inputs' or 'instances'"),
    ],
)
def test_errors_are_json_with_tfs_status(rest_server, path, body, status, text):
    url, _ = rest_server
    response = requests.post(f"{url}{path}", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert text in response.json()["error"]
