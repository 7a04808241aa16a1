"""Bodies for tfs-method classify / regress -> tf.train.Examples, with TF Serving REST's value rules."""

from __future__ import annotations

import json

import pytest

from serve_container.decoders import examples
from serve_container.decoders.tfrecord import frame_record
from serve_container.errors import BadRequest, UnsupportedMediaType
from serve_container.protos import example_pb2


def _decode(payload, media="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return examples.decode_examples(media, body)


def _kind(example, name):
    return example.features.feature[name].WhichOneof("kind")


def test_json_values_become_features_as_tf_serving_makes_them():
    got = _decode({"examples": [{"i": 3, "f": [1.5, 2.0], "s": "héllo", "b": {"b64": "/w=="}, "t": True, "e": []}]})
    (example,) = got.examples
    feature = example.features.feature
    assert _kind(example, "i") == "int64_list" and list(feature["i"].int64_list.value) == [3]
    assert list(feature["f"].float_list.value) == [1.5, 2.0]
    assert list(feature["s"].bytes_list.value) == ["héllo".encode()]
    assert list(feature["b"].bytes_list.value) == [b"\xff"]
    assert list(feature["t"].int64_list.value) == [1]
    assert _kind(example, "e") is None  # an empty list: a feature with no kind, as TF Serving makes it
    assert got.context is None and got.signature_name is None


def test_context_and_signature_name():
    got = _decode({"signature_name": "regression", "context": {"x": [1.0]}, "examples": [{}, {"y": 2}]})
    assert got.signature_name == "regression"
    assert list(got.context.features.feature["x"].float_list.value) == [1.0]
    assert len(got.examples) == 2


def test_json_lines_one_example_per_line():
    got = _decode(b'{"x": [1.0, 2.0]}\n\n{"x": [3.0, 4.0]}\n', "application/jsonlines")
    assert [list(e.features.feature["x"].float_list.value) for e in got.examples] == [[1, 2], [3, 4]]


def test_tfrecord_of_serialized_examples():
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.extend([1.0, 2.0])
    body = frame_record(example.SerializeToString()) * 3
    got = _decode(body, "application/x-tfrecord")
    assert len(got.examples) == 3 and got.examples[0] == example


def test_chunks_keep_the_context():
    got = _decode({"context": {"c": 1}, "examples": [{"x": i} for i in range(5)]})
    parts = list(got.chunks(2))
    assert [len(p.examples) for p in parts] == [2, 2, 1]
    assert all(p.context == got.context for p in parts)
    assert list(got.chunks(0)) == [got]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"instances": [[1]]}, "with 'examples'"),
        ([{"x": 1}], "with 'examples'"),
        ({"examples": []}, "non-empty list"),
        ({"examples": [[1, 2]]}, "must be a JSON object of features"),
        ({"examples": [{"x": [1, 2.5]}]}, "'x' mixes float and int64"),
        ({"examples": [{"x": [[1]]}]}, "JSON type list"),
        ({"examples": [{"x": None}]}, "JSON type NoneType"),
        ({"examples": [{"x": 2**64}]}, "does not fit int64"),
        ({"examples": [{"x": 1e39}]}, "does not fit a float32"),
        ({"examples": [{"x": {"b64": "***"}}]}, "invalid base64"),
        ({"examples": [{"x": 1}], "context": 3}, "context: an example must be"),
    ],
)
def test_bad_examples_are_400(payload, message):
    with pytest.raises(BadRequest, match=message):
        _decode(payload)


def test_bad_bodies_are_400_or_415():
    with pytest.raises(BadRequest, match="invalid JSON"):
        _decode(b"{nope")
    with pytest.raises(BadRequest, match="line 2"):
        _decode(b'{"x": 1}\n{"x": \n', "application/jsonlines")
    with pytest.raises(BadRequest, match="record 0 is not a serialized tf.train.Example"):
        _decode(frame_record(b"\xff\xff\xff"), "application/x-tfrecord")
    with pytest.raises(UnsupportedMediaType, match="application/x-tfrecord"):
        _decode(b"1,2", "text/csv")


def test_input_handler_results():
    assert len(examples.from_hook('{"examples": [{"x": 1}]}').examples) == 1
    assert len(examples.from_hook({"examples": [{"x": 1}, {"x": 2}]}).examples) == 2
    with pytest.raises(BadRequest, match="input_handler result: invalid JSON"):
        examples.from_hook(b"[")


@pytest.mark.parametrize("media", ["application/json", "application/jsonlines", "application/x-tfrecord"])
def test_mangled_bodies_are_400_never_a_crash(media):
    import random

    from serve_container.errors import ServingError

    valid = {
        "application/json": json.dumps({"context": {"c": [1]}, "examples": [{"x": [1.5, 2.5], "s": "a"}]}).encode(),
        "application/jsonlines": b'{"x": [1.5]}\n{"s": {"b64": "aGk="}}\n',
        "application/x-tfrecord": frame_record(_decode({"examples": [{"x": 1}]}).examples[0].SerializeToString()),
    }[media]
    rng = random.Random(7)
    for _ in range(300):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        try:
            examples.decode_examples(media, bytes(body))
        except ServingError as error:
            assert error.status == 400
