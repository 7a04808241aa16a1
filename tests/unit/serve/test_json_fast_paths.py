"""The fast JSON paths give exactly what the stdlib + np.asarray gave: values, dtypes, errors and output bytes'
parsed values (serve_container/jsontext.py, decoders/arrays.rectangular)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serve_container import encoders, jsontext
from serve_container.decoders.arrays import rectangular
from serve_container.decoders.tabular import decode_json, json_signature_name
from serve_container.errors import BadRequest


def same(a, b) -> bool:
    """Equal values of equal types, all the way down (1 != 1.0 here; NaN == NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def outcome(parse, text):
    try:
        return "ok", parse(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return type(exc).__name__, str(exc)


BIG_INTS = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**19)])
SCALARS = (
    st.none() | st.booleans() | st.integers() | BIG_INTS | st.floats() | st.text(max_size=8)
    | st.floats(min_value=1e-4, max_value=1e-2)  # 17 significant digits after zeros: a 19-digit run, not an int
)  # fmt: skip
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, (",", ":"), (", ", ": ")]))
def test_loads_gives_the_stdlib_values_and_types(value, separators):
    text = json.dumps(value, separators=separators).encode()
    assert outcome(json.loads, text)[0] == "ok"
    assert same(jsontext.loads(text), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.integers(0, 10**6), st.sampled_from([b"", *(bytes([c]) for c in b'[]{},:"-.e0 \\\xff\x00')]))
def test_loads_of_damaged_text_fails_or_succeeds_as_the_stdlib(value, where, replacement):
    text = json.dumps(value).encode()
    at = where % (len(text) + 1)
    damaged = text[:at] + replacement + text[at + 1 :]
    ours, stdlib = outcome(jsontext.loads, damaged), outcome(json.loads, damaged)
    assert ours[0] == stdlib[0]
    assert same(ours[1], stdlib[1]) if ours[0] == "ok" else ours[1] == stdlib[1]


@pytest.mark.parametrize(
    "text",
    [
        b"[18446744073709551616]",  # past uint64: orjson reads a float, the stdlib an int
        b"[-9223372036854775809]",
        b"18446744073709551616",
        b'{"a": [1e999, -1e999, NaN, Infinity, -Infinity]}',
        b"\xef\xbb\xbf[1, 2]",  # UTF-8 BOM
        "[1, 2]".encode("utf-16"),
        "[1, 2]".encode("utf-32-le"),
        b'["\\ud800"]',  # a lone surrogate
        b"[" * 3000 + b"]" * 3000,  # deeper than both parsers go
        b"[" * 1100 + b"]" * 1100,  # deeper than orjson goes
        b"{not json",
        b"[1, 2,]",
        b"[01]",
        b"[1] [2]",  # several values (read as JSON Lines by the caller)
        b"\xff\xfe\xfa",
        b"",
        b'{"a": 1, "a": 2}',
        b"[0.00123456789012345678901, 1.5e-0000000000000000000007]",
    ],
)
def test_loads_edge_cases_match_the_stdlib(text):
    ours, stdlib = outcome(jsontext.loads, text), outcome(json.loads, text)
    assert ours[0] == stdlib[0]
    assert same(ours[1], stdlib[1]) if ours[0] == "ok" else ours[1] == stdlib[1]


def test_loads_of_text_from_hooks():
    assert jsontext.loads('{"x": [1, 2.5]}') == {"x": [1, 2.5]}


def test_loads_keeps_integers_past_64_bits_exact():
    assert same(jsontext.loads(b"[18446744073709551616, 1]"), [18446744073709551616, 1])


# --- rectangular: np.asarray's array, or None (np.asarray then decides, errors included)
def asarray_outcome(values):
    try:
        return np.asarray(values)
    except ValueError:
        return None


NUMBERS = st.integers(-300, 300) | st.floats(allow_nan=True) | st.booleans() | BIG_INTS
LEAVES = NUMBERS | st.none() | st.text(max_size=3) | st.just({"b64": "aGk="})


@st.composite
def nested(draw, leaves=NUMBERS):
    """Rectangular nested lists, then maybe one mutation: a ragged row, a leaf swapped for another kind, an
    empty list, a leaf where a list was or a list where a leaf was."""
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    flat = draw(st.lists(leaves, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    for width in reversed(shape[1:]):
        flat = [flat[i : i + width] for i in range(0, len(flat), width)]
    value = flat
    mutation = draw(st.sampled_from(["none", "ragged", "leaf", "empty", "flatten", "deepen"]))
    path = value
    while draw(st.booleans()) and isinstance(path[0], list):
        path = path[0]
    if mutation == "ragged":
        path.append(path[0])
    elif mutation == "leaf":
        path[-1] = draw(LEAVES)
    elif mutation == "empty":
        path[-1] = []
    elif mutation == "flatten" and isinstance(path[-1], list):
        path[-1] = draw(NUMBERS)
    elif mutation == "deepen":
        path[-1] = [path[-1]]
    return value


def check_against_asarray(values):
    fast, reference = rectangular(values), asarray_outcome(values)
    if fast is not None:
        assert reference is not None
        assert fast.dtype == reference.dtype and fast.shape == reference.shape
        assert np.array_equal(fast, reference, equal_nan=fast.dtype.kind == "f")
    return fast, reference


@settings(max_examples=500, deadline=None)
@given(nested())
def test_rectangular_is_np_asarray(values):
    check_against_asarray(values)


@settings(max_examples=200, deadline=None)
@given(nested(NUMBERS | st.text(max_size=2) | st.none() | st.just({"a": 1, "b": 2})))
def test_rectangular_refuses_what_is_not_all_numbers(values):
    fast, reference = check_against_asarray(values)
    if reference is not None and reference.dtype.kind not in "biuf":
        assert fast is None


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, np.float64, np.bool_])
@pytest.mark.parametrize("shape", [(1,), (3,), (1, 784), (2, 32, 32, 3), (1, 1, 1, 1, 1)])
def test_rectangular_takes_the_fast_path_for_arrays_of_numbers(dtype, shape):
    array = np.random.default_rng(0).integers(0, 255, size=shape).astype(dtype)
    fast, reference = check_against_asarray(array.tolist())
    assert fast is not None and reference is not None


@pytest.mark.parametrize(
    "values",
    [[], [[]], [[], []], [[1, 2], [3]], [[1, 2], 3], [1, [2]], [[1, 2], "ab"], [[1, 2], {"a": 1, "b": 2}], [None],
     [[1], [None]], ["1"], [{"b64": "aGk="}], [[[1], [2]], [3, 4]], 5, "abc", (1, 2)],
)  # fmt: skip
def test_rectangular_leaves_other_values_to_np_asarray(values):
    assert rectangular(values) is None


def test_rectangular_stops_at_numpys_rank_limit():
    deep = 1
    for _ in range(33):
        deep = [deep]
    assert rectangular(deep) is None
    assert rectangular(deep[0]).shape == (1,) * 32


# --- decode_json: the same arrays and the same 400s through the fast paths
def test_json_image_instances_decode_to_the_image(image_signature):
    image = np.random.default_rng(1).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    got = decode_json(json.dumps({"instances": image.tolist()}).encode(), image_signature)["image"]
    assert got.dtype == np.uint8 and np.array_equal(got, image)


def test_float_instances_decode_exactly(vector_signature):
    rows = np.random.default_rng(2).random((3, 4), dtype=np.float32)
    got = decode_json(json.dumps({"instances": rows.tolist()}).encode(), vector_signature)["x"]
    assert got.dtype == np.float32 and np.array_equal(got, rows)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [["a", 1, 2, 3]]}', "expected numbers for x float32 [-1,4], got 'U'-kind values"),
        (b'{"instances": [[1, 2, 3, null]]}', "expected numbers for x float32 [-1,4], got 'O'-kind values"),
        (b'{"instances": [[1, 2, 3, 18446744073709551616]]}', "got 'O'-kind values"),
        (b'{"instances": [[1, 2], [3]]}', "not a regular (rectangular) array"),
        (b'{"instances": [[1, 2, 3]]}', "got shape [1, 3] but the model expects x float32 [-1,4]"),
        (b"[" * 1100 + b"]" * 1100, "JSON nested too deeply"),
    ],
)
def test_json_errors_are_unchanged(vector_signature, body, message):
    with pytest.raises(BadRequest, match=re.escape(message)):
        decode_json(body, vector_signature)


def test_nan_and_infinity_inputs_are_read_as_before(vector_signature):
    got = decode_json(b'{"instances": [[NaN, Infinity, -Infinity, 1e999]]}', vector_signature)["x"]
    assert np.isnan(got[0, 0]) and got[0, 1:].tolist() == [np.inf, -np.inf, np.inf]


def test_integer_past_int64_for_an_integer_input_is_the_same_400(image_signature):
    body = json.dumps({"instances": [[[[2**64] * 3] * 32] * 32]}).encode()
    with pytest.raises(BadRequest, match="got 'O'-kind values"):
        decode_json(body, image_signature)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b'{"instances": [[1, 2, 3, 4]]}', None),
        (b'{"signature_name": "other", "instances": [[1, 2, 3, 4]]}', "other"),
        (b'{"signature\\u005fname": "escaped", "instances": [[1, 2, 3, 4]]}', "escaped"),
        ('{"signature_name": "wide", "instances": [[1, 2, 3, 4]]}'.encode("utf-16"), "wide"),
        (b'[{"signature_name": "not a field"}]', None),
    ],
)
def test_signature_name_with_and_without_parsing(body, name):
    assert json_signature_name(body) == name


# --- encoders: orjson bytes that parse to the stdlib's values; non-finite values written as before
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_encoded_predictions_parse_to_the_same_values(dtype):
    scores = np.random.default_rng(3).random((4, 10)).astype(dtype)
    body = encoders.encode("application/json", {"probabilities": scores})
    assert same(json.loads(body), {"predictions": scores.tolist()})
    assert np.array_equal(np.asarray(json.loads(body)["predictions"], dtype=dtype), scores)


def test_encoded_strings_parse_to_the_same_values():
    outputs = {"label": np.array([b"caf\xc3\xa9", b"\xff"], dtype=object), "total": np.array([1.5, 2.0])}
    expected = [{"label": "café", "total": 1.5}, {"label": {"b64": "/w=="}, "total": 2.0}]
    assert json.loads(encoders.encode("application/json", outputs)) == {"predictions": expected}
    lines = encoders.encode("application/jsonlines", outputs).decode().splitlines()
    assert [json.loads(line) for line in lines] == expected


def test_non_finite_predictions_are_written_as_before():
    outputs = {"y": np.array([[np.nan, np.inf, -np.inf, 1.0]], dtype=np.float32)}
    assert encoders.encode("application/json", outputs) == b'{"predictions": [[NaN, Infinity, -Infinity, 1.0]]}'
    assert encoders.encode("application/jsonlines", outputs) == b"[NaN, Infinity, -Infinity, 1.0]\n"
    assert encoders.encode_columnar(outputs) == b'{"outputs": [[NaN, Infinity, -Infinity, 1.0]]}'


def test_dumps_matches_the_stdlib_values():
    value = {"predictions": [[1e-05, 1e16, 0.1, -0.0, 3.4028234663852886e38, 2**64 - 1, True, "é"]]}
    assert same(json.loads(jsontext.dumps(value)), json.loads(json.dumps(value)))


@pytest.mark.parametrize(
    ("text", "long"),
    [
        (b"[1234567890123456789]", True),
        (b"1234567890123456789", True),
        (b"[-1234567890123456789]", True),
        (b"[1.5, 1234567890123456789]", True),
        (b"[0.12345678901234567890123, 1234567890123456789]", True),  # a fraction run, then an integer
        (b"[0.12345678901234567890123, 1e12345678901234567890]", False),
        (b"[123456789012345678, 0.5]", False),
        (b'["12345678901234567890"]', True),  # digits in a string too: over-reporting costs only a stdlib parse
    ],
)
def test_long_integer_scan(text, long):
    assert jsontext._long_integer(text.translate(jsontext._DIGIT_RUNS)) == long


def test_dumps_falls_back_to_the_stdlib_where_orjson_refuses():
    assert jsontext.dumps({"v": [2**70, None]}) == json.dumps({"v": [2**70, None]}).encode()
    with pytest.raises(TypeError):  # what the stdlib raises too
        jsontext.dumps({"v": np.float32(1.5)})
