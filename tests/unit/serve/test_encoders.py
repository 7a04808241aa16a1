from __future__ import annotations

import json

import numpy as np
import pytest

from serve_container import encoders
from serve_container.errors import BadRequest, NotAcceptable

PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], np.float32)


def test_json_single_output_is_tfs_shaped():
    body = json.loads(encoders.encode("application/json", {"probabilities": PROBS}))
    assert set(body) == {"predictions"}
    np.testing.assert_allclose(body["predictions"], PROBS)


def test_json_several_outputs_give_one_object_per_instance():
    outputs = {"total": np.array([1.5, 2.5], np.float32), "label": np.array([b"n1", b"\xff"], dtype=object)}
    body = json.loads(encoders.encode("application/json", outputs))
    assert body["predictions"] == [{"label": "n1", "total": 1.5}, {"label": {"b64": "/w=="}, "total": 2.5}]


def test_outputs_without_a_common_batch_axis_are_columnar():
    body = json.loads(encoders.encode("application/json", {"a": np.zeros(2), "b": np.zeros(3)}))
    assert body == {"outputs": {"a": [0.0, 0.0], "b": [0.0, 0.0, 0.0]}}


def test_jsonlines_one_line_per_record():
    lines = encoders.encode("application/jsonlines", {"probabilities": PROBS}).decode().splitlines()
    assert len(lines) == 2
    np.testing.assert_allclose(json.loads(lines[1]), PROBS[1])


def test_csv_one_row_per_record():
    text = encoders.encode("text/csv", {"probabilities": PROBS}).decode()
    np.testing.assert_allclose(np.loadtxt(text.splitlines(), delimiter=",", ndmin=2), PROBS, rtol=1e-6)


def test_csv_refuses_string_outputs():
    with pytest.raises(NotAcceptable):
        encoders.encode("text/csv", {"s": np.array([b"a"], dtype=object)})


def test_top_k_labels():
    body = json.loads(encoders.encode("application/json", {"probabilities": PROBS}, ("a", "b", "c"), 2))
    assert [e["label"] for e in body["top_k"][0]] == ["b", "c"]
    assert [e["label"] for e in body["top_k"][1]] == ["a", "c"]
    assert body["top_k"][0][0]["score"] == pytest.approx(0.7)
    lines = encoders.encode(
        "application/jsonlines", {"probabilities": PROBS}, ("a", "b", "c"), 1
    ).splitlines()
    assert json.loads(lines[0])["top_k"] == [{"label": "b", "score": pytest.approx(0.7)}]
    rows = [
        r.split(",")
        for r in encoders.encode("text/csv", {"probabilities": PROBS}, ("a", "b", "c"), 1).decode().split()
    ]
    assert [r[0] for r in rows] == ["b", "a"] and float(rows[0][1]) == pytest.approx(0.7)


def test_top_k_without_labels_is_a_clear_error():
    with pytest.raises(BadRequest, match="labels.txt"):
        encoders.encode("application/json", {"probabilities": PROBS}, None, 1)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ("application/json", 0)),
        ("*/*", ("application/json", 0)),
        ("text/csv", ("text/csv", 0)),
        ("application/xml, application/jsonlines", ("application/jsonlines", 0)),
        ("application/json; top_k=3", ("application/json", 3)),
    ],
)
def test_negotiate(accept, expected):
    assert encoders.negotiate(accept, "application/json", 0) == expected


def test_negotiate_refuses_unsupported_and_bad_top_k():
    with pytest.raises(NotAcceptable, match="text/csv"):
        encoders.negotiate("image/png", "application/json", 0)
    with pytest.raises(BadRequest, match="top_k"):
        encoders.negotiate("application/json; top_k=x", "application/json", 0)


def test_labels_file(tmp_path):
    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    assert encoders.read_labels(tmp_path / "labels.txt") == ("cat", "dog")
    assert encoders.read_labels(tmp_path / "missing.txt") is None


def test_columnar_outputs_refuse_other_encodings():
    with pytest.raises(NotAcceptable, match="no common batch axis"):
        encoders.encode("application/jsonlines", {"a": np.zeros(2), "b": np.zeros(3)})


CLASSES = [[("cat", 0.25), ("dog, wild", 0.75)], [("cat", 0.5), ("dog, wild", 0.5)]]


def test_classify_and_regress_results_as_tf_serving_rest_answers():
    assert json.loads(encoders.encode_results("application/json", "classify", CLASSES)) == {
        "results": [[["cat", 0.25], ["dog, wild", 0.75]], [["cat", 0.5], ["dog, wild", 0.5]]]
    }
    assert json.loads(encoders.encode_results("application/json", "regress", [1.5, -2.0])) == {"results": [1.5, -2.0]}


def test_classify_and_regress_results_in_json_lines_and_csv():
    lines = encoders.encode_results("application/jsonlines", "classify", CLASSES).decode().splitlines()
    assert [json.loads(line) for line in lines] == [[list(pair) for pair in row] for row in CLASSES]
    csv = encoders.encode_results("text/csv", "classify", CLASSES)
    assert csv == b'cat,0.25,"dog, wild",0.75\ncat,0.5,"dog, wild",0.5\n'
    assert encoders.encode_results("text/csv", "regress", [1.5, -2.0]) == b"1.5\n-2\n"
    assert encoders.negotiate("application/jsons", "application/json", 0) == ("application/jsonlines", 0)
