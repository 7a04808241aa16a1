from __future__ import annotations

import io
import json

import numpy as np
import pytest

from serve_container import decoders
from serve_container.errors import BadRequest
from serve_container.signature import Signature, TensorSpec


def _json(payload, signature, options):
    return decoders.decode("application/json", json.dumps(payload).encode(), signature, options)


def test_instances_row_format(vector_signature, options):
    x = _json({"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}, vector_signature, options)["x"]
    assert x.dtype == np.float32 and x.shape == (2, 4)


def test_inputs_columnar_format_and_single_instance(vector_signature, options):
    x = _json({"inputs": [1, 2, 3, 4]}, vector_signature, options)["x"]
    assert x.shape == (1, 4)


def test_plain_list(vector_signature, options):
    assert _json([[0.5, 1, 2, 3]], vector_signature, options)["x"].tolist() == [[0.5, 1, 2, 3]]


def test_named_instances_for_several_inputs(multi_signature, options):
    got = _json({"instances": [{"a": [1, 2], "b": 3}, {"a": [3, 4], "b": 5}]}, multi_signature, options)
    assert got["a"].shape == (2, 2) and got["b"].dtype == np.int64 and got["b"].tolist() == [3, 5]


def test_named_columnar_inputs(multi_signature, options):
    got = _json({"inputs": {"a": [[1, 2]], "b": [7]}}, multi_signature, options)
    assert got["b"].tolist() == [7]


def test_signature_name_key_is_allowed(vector_signature, options):
    got = _json({"signature_name": "serving_default", "instances": [[1, 2, 3, 4]]}, vector_signature, options)
    assert got["x"].shape == (1, 4)


def test_b64_strings(options):
    signature = Signature("s", (TensorSpec("s", np.dtype(object), (None,)),), ())
    got = _json({"instances": [{"b64": "aGk="}, {"b64": "/w=="}]}, signature, options)
    assert got["s"].tolist() == [b"hi", b"\xff"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, "rectangular"),
        ({"instances": [[1, 2, 3]]}, r"expects x float32 \[-1,4\]"),
        ({"instances": [["a", "b", "c", "d"]]}, "expected numbers"),
        ({"instances": []}, "no instances"),
        ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "exactly one"),
        ({"instances": "x"}, "must be a list"),
        (3, "must be an object"),
    ],
)
def test_malformed_json_is_400(vector_signature, options, payload, message):
    with pytest.raises(BadRequest, match=message):
        _json(payload, vector_signature, options)


def test_invalid_json_text_is_400(vector_signature, options):
    with pytest.raises(BadRequest, match="invalid JSON"):
        decoders.decode("application/json", b"{not json", vector_signature, options)


def test_missing_named_input_is_400(multi_signature, options):
    with pytest.raises(BadRequest, match=r"lack inputs \['b'\]"):
        _json({"instances": [{"a": [1, 2]}]}, multi_signature, options)


def test_uint8_range_and_integrality_are_checked(image_signature, options):
    with pytest.raises(BadRequest, match="outside uint8"):
        _json({"instances": np.full((1, 32, 32, 3), 300).tolist()}, image_signature, options)
    with pytest.raises(BadRequest, match="fractional"):
        _json({"instances": np.full((1, 32, 32, 3), 1.5).tolist()}, image_signature, options)


def test_jsonlines_one_record_per_line(vector_signature, options):
    body = b"[1,2,3,4]\n\n[5,6,7,8]\n"
    assert decoders.decode("application/jsonlines", body, vector_signature, options)["x"].shape == (2, 4)


def test_jsonlines_bad_line_is_named(vector_signature, options):
    with pytest.raises(BadRequest, match="line 2"):
        decoders.decode("application/jsonlines", b"[1,2,3,4]\n[1,2,\n", vector_signature, options)


def test_csv_rows(vector_signature, options):
    x = decoders.decode("text/csv", b"1,2,3,4\n5,6,7,8\n", vector_signature, options)["x"]
    np.testing.assert_array_equal(x, [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_csv_flattened_images_are_reshaped(image_signature, options):
    row = ",".join(["7"] * 32 * 32 * 3).encode()
    assert decoders.decode("text/csv", row, image_signature, options)["image"].shape == (1, 32, 32, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1,2,abc,4\n", "could not convert string 'abc'"),
        (b"1,2,3\n", "3 columns"),
        (b"1,2,3,4\n1,2\n", "CSV"),
    ],
)
def test_bad_csv_is_400(vector_signature, options, body, message):
    with pytest.raises(BadRequest, match=message):
        decoders.decode("text/csv", body, vector_signature, options)


def test_csv_needs_a_single_input(multi_signature, options):
    with pytest.raises(BadRequest, match="one input"):
        decoders.decode("text/csv", b"1,2\n", multi_signature, options)


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_npy(vector_signature, options):
    array = np.arange(8, dtype=np.float64).reshape(2, 4)
    np.testing.assert_array_equal(
        decoders.decode("application/x-npy", _npy(array), vector_signature, options)["x"], array
    )


def test_npy_object_dtype_is_refused(vector_signature, options):
    body = _npy(np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadRequest, match="invalid .npy payload"):
        decoders.decode("application/x-npy", body, vector_signature, options)


def test_npy_garbage_is_400(vector_signature, options):
    with pytest.raises(BadRequest, match="invalid .npy payload"):
        decoders.decode("application/x-npy", b"\x93NUMPY garbage", vector_signature, options)


# Input forms the DLC accepts around TF Serving's own (its tensorflow-serving.js json/csv requests).


def test_bare_object_is_one_instance_naming_the_inputs(multi_signature, options):
    got = _json({"a": [1, 2], "b": 3}, multi_signature, options)
    assert got["a"].shape == (1, 2) and got["b"].tolist() == [3]


def test_bare_b64_object_is_one_binary_instance(options):
    signature = Signature("s", (TensorSpec("s", np.dtype(object), (None,)),), ())
    assert _json({"b64": "aGk="}, signature, options)["s"].tolist() == [b"hi"]


def test_flat_list_of_the_instance_rank_is_one_instance(vector_signature, options):
    assert _json([1, 2, 3, 4], vector_signature, options)["x"].tolist() == [[1, 2, 3, 4]]


def test_flat_list_for_a_scalar_input_is_a_batch(options):
    signature = Signature("s", (TensorSpec("v", np.dtype(np.float32), (None,)),), ())
    assert _json([1, 2, 3], signature, options)["v"].tolist() == [1, 2, 3]


def test_several_json_values_in_application_json_are_json_lines(vector_signature, options):
    body = b'{"x": [1, 2, 3, 4]}\n{"x": [5, 6, 7, 8]}'
    assert decoders.decode("application/json", body, vector_signature, options)["x"].shape == (2, 4)
    crlf = decoders.decode("application/json", b"[1,2,3,4]\r\n[5,6,7,8]", vector_signature, options)
    assert crlf["x"].shape == (2, 4)


def test_application_jsons_is_json_lines(vector_signature, options):
    assert decoders.canonical_media_type("application/jsons") == "application/jsonlines"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"examples": [{"x": [1.0]}]}, "tfs-method=classify or regress"),
        ({"y": [1, 2, 3, 4]}, r"name the model's inputs \['x'\]"),
        ({}, r"got keys \[\]"),
    ],
)
def test_objects_that_name_nothing_known_are_400(vector_signature, options, payload, message):
    with pytest.raises(BadRequest, match=message):
        _json(payload, vector_signature, options)


def test_bare_object_missing_an_input_is_400(multi_signature, options):
    with pytest.raises(BadRequest, match=r"lack inputs \['b'\]"):
        _json({"a": [1, 2]}, multi_signature, options)


def test_csv_quoted_numbers(vector_signature, options):
    x = decoders.decode("text/csv", b'"1","2.5",3,"4"\n', vector_signature, options)["x"]
    np.testing.assert_array_equal(x, [[1, 2.5, 3, 4]])


def test_csv_quoted_strings_for_a_string_input(options):
    signature = Signature("s", (TensorSpec("text", np.dtype(object), (None, 2)),), ())
    body = b'"hello, world",plain\n"say ""hi""","two\nlines"\n'
    got = decoders.decode("text/csv", body, signature, options)["text"]
    assert got.tolist() == [[b"hello, world", b"plain"], [b'say "hi"', b"two\nlines"]]


def test_csv_one_field_per_row_feeds_a_scalar_input(options):
    signature = Signature("s", (TensorSpec("text", np.dtype(object), (None,)),), ())
    got = decoders.decode("text/csv", b'"a, b"\nc\n', signature, options)["text"]
    assert got.tolist() == [b"a, b", b"c"]


@pytest.mark.parametrize(
    ("body", "message"),
    [(b'a,b\nc\n', "different numbers of fields"), (b'"a,b\n', "CSV: unexpected end of data")],
)
def test_bad_string_csv_is_400(options, body, message):
    signature = Signature("s", (TensorSpec("text", np.dtype(object), (None, 2)),), ())
    with pytest.raises(BadRequest, match=message):
        decoders.decode("text/csv", body, signature, options)
