"""Models other than the image classifier: the app learns input names, dtypes and shapes from metadata."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.support import models


@pytest.fixture(scope="module")
def multi_model_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("multi") / "model"
    models.export_multi_io_model(base, 1)
    return base


@pytest.fixture(scope="module")
def vector_model_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("vector") / "model"
    models.export_vector_model(base, 1, features=4, outputs=3, input_name="features", output_name="scores")
    return base


def test_two_inputs_two_outputs_including_strings(make_served, multi_model_dir):
    served = make_served(multi_model_dir)
    payload = {"instances": [{"a": [1.0, 2.0], "b": 3}, {"a": [0.5, 0.5], "b": -1}]}
    response = served.invoke(json.dumps(payload), "application/json")
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [{"label": "n3", "total": 6.0}, {"label": "n-1", "total": 0.0}]}
    columnar = served.invoke(json.dumps({"inputs": {"a": [[1, 1]], "b": [2]}}), "application/json")
    assert columnar.json()["predictions"] == [{"label": "n2", "total": 4.0}]
    lines = served.invoke(json.dumps(payload), "application/json", accept="application/jsonlines")
    assert [json.loads(x)["label"] for x in lines.text.splitlines()] == ["n3", "n-1"]
    missing = served.invoke(json.dumps({"instances": [{"a": [1, 2]}]}), "application/json")
    assert missing.status_code == 400 and "'b'" in missing.json()["error"]
    image = served.invoke(b"\x89PNG\r\n", "image/png")
    assert image.status_code == 400 and "takes an image" in image.json()["error"]


def test_vector_model_over_csv_json_and_npy(make_served, vector_model_dir):
    served = make_served(vector_model_dir)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    want = models.load_and_call(vector_model_dir / "1", x)["scores"]
    csv = served.invoke("\n".join(",".join(f"{v:.9g}" for v in row) for row in x), "text/csv", accept="text/csv")
    assert csv.status_code == 200, csv.text
    np.testing.assert_allclose(np.loadtxt(io.StringIO(csv.text), delimiter=",", ndmin=2), want, rtol=1e-5)
    single = served.invoke(json.dumps({"inputs": x[0].tolist()}), "application/json")
    np.testing.assert_allclose(single.json()["predictions"], want[:1], rtol=1e-5)
    buffer = io.BytesIO()
    np.save(buffer, x.astype(np.float64))
    npy = served.invoke(buffer.getvalue(), "application/x-npy")
    np.testing.assert_allclose(npy.json()["predictions"], want, rtol=1e-5)
    wrong = served.invoke("1,2,3\n", "text/csv")
    assert wrong.status_code == 400 and "features float32 [-1,4]" in wrong.json()["error"]
