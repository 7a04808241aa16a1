"""Several models per container, with real `serve` processes: the DLC's layouts in /opt/ml/model, and the
multi-model endpoint's API (SAGEMAKER_MULTI_MODEL=true) across two gunicorn workers."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import requests

from tests.support import models

X = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
OWN_HANDLER = """
import json

def handler(data, context):
    return json.dumps({"own_hook": context.model_name, "bytes": len(data.read())}), "application/json"
"""


def _predictions(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["predictions"], np.float32)


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """Model archives as SageMaker unpacks them for a multi-model endpoint: /opt/ml/models/<name>/model."""
    root = tmp_path_factory.mktemp("mme-store")
    models.export_vector_model(root / "a" / "model", 1, seed=1)
    models.export_vector_model(root / "b" / "model", 1, seed=2, outputs=2)
    models.export_vector_model(root / "hooked" / "model", 1, seed=3)
    (root / "hooked" / "model" / "code").mkdir()
    (root / "hooked" / "model" / "code" / "inference.py").write_text(OWN_HANDLER)
    (root / "empty" / "model" / "1").mkdir(parents=True)
    return root


def _expected(version_dir) -> np.ndarray:
    return models.load_and_call(version_dir, X)["y"]


def test_several_models_and_export_servo_in_one_model_dir(make_served, tmp_path):
    root = tmp_path / "model"
    models.export_vector_model(root / "alpha", 1, seed=1)
    models.export_vector_model(root / "export" / "Servo", 4, seed=2)
    served = make_served(root)
    body, attrs = json.dumps({"instances": X.tolist()}), "X-Amzn-SageMaker-Custom-Attributes"
    np.testing.assert_allclose(_predictions(served.invoke(body, "application/json")), _expected(root / "alpha" / "1"))
    servo = served.invoke(body, "application/json", **{attrs: "tfs-model-name=Servo"})
    np.testing.assert_allclose(_predictions(servo), _expected(root / "export" / "Servo" / "4"), rtol=1e-5)
    unknown = served.invoke(body, "application/json", **{attrs: "tfs-model-name=gamma"})
    assert unknown.status_code == 404 and "'gamma' is not served here" in unknown.json()["error"]


def test_default_model_name_picks_among_several(make_served, tmp_path):
    root = tmp_path / "model"
    models.export_vector_model(root / "alpha", 1, seed=1)
    models.export_vector_model(root / "beta", 1, seed=2)
    served = make_served(root, SAGEMAKER_TFS_DEFAULT_MODEL_NAME="beta")
    got = _predictions(served.invoke(json.dumps({"instances": X.tolist()}), "application/json"))
    np.testing.assert_allclose(got, _expected(root / "beta" / "1"), rtol=1e-5)


@pytest.fixture(scope="module")
def mme_root(tmp_path_factory, model_store):
    """The model store copied, so the shared code dir of the endpoint is separate from the models."""
    root = tmp_path_factory.mktemp("mme-root") / "models"
    shutil.copytree(model_store, root)
    return root


def _load(url, name, path):
    return requests.post(f"{url}/models", json={"model_name": name, "url": str(path)}, timeout=120)


def _invoke(url, name, body=None, **headers):
    body = body if body is not None else json.dumps({"instances": X.tolist()})
    headers = {"Content-Type": "application/json", **headers}
    return requests.post(f"{url}/models/{name}/invoke", data=body, headers=headers, timeout=60)


def test_multi_model_endpoint_contract(make_served, mme_root):
    served = make_served(
        mme_root, SAGEMAKER_MULTI_MODEL="true", SAGEMAKER_GUNICORN_WORKERS="2", BYOC_MME_PAGE_SIZE="2"
    )
    url = served.url
    assert requests.get(f"{url}/ping", timeout=10).status_code == 200  # zero models is healthy
    assert requests.get(f"{url}/models", timeout=10).json() == {"models": []}

    assert _load(url, "a", mme_root / "a" / "model").status_code == 200
    again = _load(url, "a", mme_root / "a" / "model")
    assert again.status_code == 409 and "already loaded" in again.json()["error"]
    assert _load(url, "b", mme_root / "b" / "model").status_code == 200
    assert _load(url, "hooked", mme_root / "hooked" / "model").status_code == 200

    missing = _load(url, "c", mme_root / "absent")
    assert missing.status_code == 404 and "is not a directory" in missing.json()["error"]
    empty = _load(url, "c", mme_root / "empty" / "model")
    assert empty.status_code == 400 and "no SavedModel found" in empty.json()["error"]
    bad = requests.post(f"{url}/models", data=b"nope", headers={"Content-Type": "application/json"}, timeout=10)
    assert bad.status_code == 400 and "model_name" in bad.json()["error"]

    first = requests.get(f"{url}/models", timeout=10).json()
    assert [m["modelName"] for m in first["models"]] == ["a", "b"]
    second = requests.get(f"{url}/models", params={"next_page_token": first["nextPageToken"]}, timeout=10).json()
    assert second == {"models": [{"modelName": "hooked", "modelUrl": str(mme_root / "hooked" / "model")}]}
    described = requests.get(f"{url}/models/b", timeout=10).json()
    assert described == {"modelName": "b", "modelUrl": str(mme_root / "b" / "model")}

    # Many fresh connections: both workers answer, and agree.
    for _ in range(6):
        np.testing.assert_allclose(_predictions(_invoke(url, "a")), _expected(mme_root / "a" / "model" / "1"))
        np.testing.assert_allclose(_predictions(_invoke(url, "b")), _expected(mme_root / "b" / "model" / "1"))
    hooked = _invoke(url, "hooked", "abc", **{"X-Amzn-SageMaker-Target-Model": "hooked.tar.gz"})
    assert hooked.json() == {"own_hook": "hooked", "bytes": 3}
    csv = _invoke(url, "a", "\n".join(",".join(map(str, r)) for r in X), **{"Content-Type": "text/csv"})
    np.testing.assert_allclose(_predictions(csv), _expected(mme_root / "a" / "model" / "1"), rtol=1e-5)

    # Unload b while a is under load: no request to a fails.
    failures: list[str] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            response = _invoke(url, "a")
            if response.status_code != 200:
                failures.append(response.text)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert requests.delete(f"{url}/models/b", timeout=60).status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    for _ in range(4):  # every worker knows
        gone = _invoke(url, "b")
        assert gone.status_code == 404 and "'b' is not loaded" in gone.json()["error"]
        assert requests.get(f"{url}/models/b", timeout=10).status_code == 404
    assert requests.delete(f"{url}/models/b", timeout=10).status_code == 404
    # Loaded again under the same name from another model: the new one answers (no stale signature cache).
    assert _load(url, "b", mme_root / "a" / "model").status_code == 200
    for _ in range(4):
        np.testing.assert_allclose(_predictions(_invoke(url, "b")), _expected(mme_root / "a" / "model" / "1"))
    assert "target_model=hooked.tar.gz" in served.process.log()
    # Unloading every model leaves TF Serving an empty list, which it takes (a config without one it refuses).
    for name in ("a", "b", "hooked"):
        unloaded = requests.delete(f"{url}/models/{name}", timeout=60)
        assert unloaded.status_code == 200, unloaded.text
    assert requests.get(f"{url}/models", timeout=10).json() == {"models": []}
    assert requests.get(f"{url}/ping", timeout=10).status_code == 200


def test_load_is_507_when_memory_is_short(make_served, mme_root):
    served = make_served(mme_root, SAGEMAKER_MULTI_MODEL="true", BYOC_MME_MEMORY_RESERVE_MB="10000000")
    refused = _load(served.url, "a", mme_root / "a" / "model")
    assert refused.status_code == 507 and "not enough memory" in refused.json()["error"]
    assert requests.get(f"{served.url}/models", timeout=10).json() == {"models": []}


def test_a_restarted_tf_serving_gets_the_loaded_models_back(make_served, mme_root):
    import psutil

    from tests.integration.serve.test_lifecycle import tfs_children
    from tests.support.serving import wait_until

    served = make_served(mme_root, SAGEMAKER_MULTI_MODEL="true", BYOC_PING_CACHE_SECONDS="0")
    assert _load(served.url, "a", mme_root / "a" / "model").status_code == 200
    (tfs,) = tfs_children(served.process.pid)
    tfs.kill()
    psutil.wait_procs([tfs], timeout=30)
    # The supervisor restarts TF Serving from the config file the registry keeps: "a" comes back by itself.
    assert wait_until(lambda: _invoke(served.url, "a").status_code == 200, timeout=120), served.process.log()[-3000:]
    np.testing.assert_allclose(_predictions(_invoke(served.url, "a")), _expected(mme_root / "a" / "model" / "1"))
    assert [m["modelName"] for m in requests.get(f"{served.url}/models", timeout=10).json()["models"]] == ["a"]
