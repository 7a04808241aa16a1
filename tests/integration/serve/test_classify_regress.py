"""tfs-method classify / regress through a real `serve` process, and per-model hooks that share module names.

One container-like process serves several models from one model directory: an Estimator-style model with
classify and regress signatures (plain, with input/output hooks, and with a DLC `handler` posting to
context.rest_uri), a predict-only model, and two models whose code/ dirs both hold a `helper` module.
Answers are compared with the model run in-process.
"""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest

from serve_container.decoders.tfrecord import frame_record
from tests.support import example_models, models
from tests.support.serving import serve_env, start_serve

pytestmark = pytest.mark.slow  # one serve process with six models: ~60 s of set-up

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
ROWS = np.random.default_rng(8).normal(size=(3, 4)).astype(np.float32)
SERIALIZED = [example_models.make_example(row) for row in ROWS]
EXAMPLES = {"examples": [{"x": row.tolist()} for row in ROWS]}

BRIDGE_HOOKS = """
import json

def input_handler(data, context):
    rows = json.loads(data.read())  # the client's own format: a list of rows
    return {"signature_name": "regression", "examples": [{"x": row} for row in rows]}

def output_handler(response, context):
    return json.dumps({"status": response.status_code, "tfs": response.json(), "method": context.method}), \
        "application/json"
"""
REST_HANDLER = """
import json
import requests

def handler(data, context):
    # The DLC's pattern for classify: post TF Serving's REST JSON to context.rest_uri (":classify").
    response = requests.post(context.rest_uri, data=data.read(), timeout=30)
    return json.dumps({"uri": context.rest_uri, "status": response.status_code, "tfs": response.json()}), \
        "application/json"
"""
HELPER_HOOK = """
import helper

def handler(data, context):
    return helper.NAME, "text/plain"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, slim_protos, standin_python):
    root = tmp_path_factory.mktemp("classify-serve") / "model"
    example_models.export_example_model(root / "ex", 1, seed=2)
    models.export_vector_model(root / "vec", 1, seed=1)
    for name, script in (("hooked", BRIDGE_HOOKS), ("rest", REST_HANDLER)):
        shutil.copytree(root / "ex", root / name)
        (root / name / "code").mkdir()
        (root / name / "code" / "inference.py").write_text(script)
    for name, where in (("iso_a", "code"), ("iso_b", "code/lib")):
        models.export_vector_model(root / name, 1)
        (root / name / where).mkdir(parents=True)
        (root / name / where / "helper.py").write_text(f"NAME = 'helper of {name}'\n")
        (root / name / "code" / "inference.py").write_text(HELPER_HOOK)
    run = tmp_path_factory.mktemp("classify-run")
    env = serve_env(slim_protos, standin_python, root, run, SAGEMAKER_TFS_DEFAULT_MODEL_NAME="ex",
                    BYOC_PREDICT_CHUNK_SIZE="2")  # fmt: skip
    process = start_serve(env, run / "serve.log")
    try:
        process.wait_ping(200)
        yield process, root
    finally:
        process.process.stop(grace=35)


def _post(served, body, content_type="application/json", attributes="tfs-method=classify", accept=None):
    process, _ = served
    headers = {ATTRIBUTES: attributes} if attributes else {}
    return process.invoke(body, content_type, accept, **headers)


def _want(served, signature="classification", serialized=SERIALIZED):
    _, root = served
    return example_models.call_examples(root / "ex" / "1", serialized, signature)


def _scores(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all([label for label, _ in item] == list(example_models.LABELS) for item in results)
    return np.array([[score for _, score in item] for item in results])


def test_classify_from_json_json_lines_and_tfrecord(served):
    want = _want(served)["scores"]
    np.testing.assert_allclose(_scores(_post(served, json.dumps(EXAMPLES))), want, rtol=1e-6)
    lines = "\n".join(json.dumps(example) for example in EXAMPLES["examples"])
    np.testing.assert_allclose(_scores(_post(served, lines, "application/jsonlines")), want, rtol=1e-6)
    records = b"".join(frame_record(s) for s in SERIALIZED)
    np.testing.assert_allclose(_scores(_post(served, records, "application/x-tfrecord")), want, rtol=1e-6)


def test_regress_with_context_and_other_encodings(served):
    want = _want(served, "regression")["outputs"]
    body = {"examples": [{}, {}, {}], "context": {"x": ROWS[0].tolist()}}
    got = _post(served, json.dumps(body), attributes="tfs-method=regress,tfs-signature-name=regression")
    assert got.status_code == 200, got.text
    np.testing.assert_allclose(got.json()["results"], [want[0]] * 3, rtol=1e-6)
    body = json.dumps({"signature_name": "regression", **EXAMPLES})
    csv = _post(served, body, attributes="tfs-method=regress", accept="text/csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    np.testing.assert_allclose([float(v) for v in csv.text.split()], want, rtol=1e-6)
    lines = _post(served, json.dumps(EXAMPLES), accept="application/jsonlines").text.splitlines()
    assert len(lines) == 3 and json.loads(lines[0])[0][0] == "cat"


def test_models_without_such_a_signature_get_a_clear_400(served):
    predict_only = _post(served, json.dumps(EXAMPLES), attributes="tfs-method=classify,tfs-model-name=vec")
    assert predict_only.status_code == 400
    assert "'serving_default' is tensorflow/serving/predict; it has no classify signature" in predict_only.text
    wrong_kind = _post(served, json.dumps(EXAMPLES), attributes="tfs-method=regress")
    assert wrong_kind.status_code == 400
    assert "name one of its regress signatures ['regression']" in wrong_kind.json()["error"]
    not_examples = _post(served, json.dumps({"instances": ROWS.tolist()}))
    assert not_examples.status_code == 400 and "'examples'" in not_examples.json()["error"]
    csv = _post(served, "1,2,3,4", "text/csv")
    assert csv.status_code == 415 and "tf.train.Examples" in csv.json()["error"]
    ints = _post(served, json.dumps({"examples": [{"x": [1, 2, 3, 4]}]}))  # int64 feature: the model's parse refuses
    assert ints.status_code == 400 and "TF Serving INVALID_ARGUMENT" in ints.json()["error"]


def test_predict_still_answers_for_the_same_model(served):
    # serving_default is a classify signature: Predict takes it too, with the serialized Examples as `inputs`.
    body = json.dumps({"instances": [{"b64": base64.b64encode(s).decode()} for s in SERIALIZED]})
    got = _post(served, body, attributes="")
    assert got.status_code == 200, got.text
    np.testing.assert_allclose([p["scores"] for p in got.json()["predictions"]], _want(served)["scores"], rtol=1e-6)


def test_classify_hooks_bridge_and_rest_handler(served):
    bridged = _post(served, json.dumps(ROWS.tolist()), attributes="tfs-method=regress,tfs-model-name=hooked")
    assert bridged.status_code == 200, bridged.text
    answer = bridged.json()
    assert answer["status"] == 200 and answer["method"] == "regress"
    np.testing.assert_allclose(answer["tfs"]["results"], _want(served, "regression")["outputs"], rtol=1e-6)
    failing = _post(served, json.dumps([[1.0]]), attributes="tfs-method=regress,tfs-model-name=hooked")
    assert failing.json()["status"] == 400 and "error" in failing.json()["tfs"]  # TF Serving's failure, to the hook

    rest = _post(served, json.dumps(EXAMPLES), attributes="tfs-method=classify,tfs-model-name=rest")
    answer = rest.json()
    assert answer["uri"].endswith("/v1/models/rest:classify") and answer["status"] == 200
    scores = [[score for _, score in item] for item in answer["tfs"]["results"]]
    np.testing.assert_allclose(scores, _want(served)["scores"], rtol=1e-6)


def test_models_with_same_named_helpers_each_run_their_own(served):
    for _ in range(3):  # every worker thread, both models, in either order
        for name in ("iso_a", "iso_b"):
            got = _post(served, b"{}", attributes=f"tfs-model-name={name}")
            assert got.status_code == 200 and got.text == f"helper of {name}"


def test_tf_serving_and_the_workers_start_with_the_contracts_omp_threads(served):
    import os

    import psutil

    process, _ = served
    children = psutil.Process(process.process.pid).children(recursive=True)
    assert len(children) >= 3  # TF Serving, gunicorn's arbiter and its worker
    want = os.environ.get("OMP_NUM_THREADS") or "1"  # the DLC's default unless the environment sets it
    assert {child.environ().get("OMP_NUM_THREADS") for child in children} == {want}


def test_only_the_gunicorn_processes_start_with_the_malloc_tuning(served):
    import psutil

    from serve_container.contract import GUNICORN_MALLOC

    process, _ = served
    children = psutil.Process(process.process.pid).children(recursive=True)
    tuned = [(" ".join(c.cmdline()[:3]), {k: c.environ().get(k) for k in GUNICORN_MALLOC}) for c in children]
    gunicorn = [env for command, env in tuned if "gunicorn" in command]
    others = [env for command, env in tuned if "gunicorn" not in command]  # TF Serving (the stand-in here)
    assert len(gunicorn) >= 2 and all(env == GUNICORN_MALLOC for env in gunicorn), tuned  # arbiter + worker
    assert others and all(set(env.values()) == {None} for env in others), tuned
