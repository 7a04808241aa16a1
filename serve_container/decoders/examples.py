"""Request bodies for tfs-method classify / regress: the tf.train.Examples TF Serving's Classify and Regress take.

  application/json        TF Serving REST: {"examples": [{feature: value or [values]}, ...], "context": {...},
                          "signature_name": "..."} (other keys are ignored, as TF Serving ignores them)
  application/jsonlines   one example object per line
  application/x-tfrecord  serialized tf.train.Example records (Batch Transform with SplitType=TFRecord)

JSON values become features as TF Serving's REST API makes them (json_tensor.cc): integers and booleans an
int64_list, decimals a float_list, strings and {"b64": "..."} a bytes_list; one feature holds one kind.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math

from google.protobuf.message import DecodeError

from serve_container import jsontext
from serve_container.decoders import tfrecord
from serve_container.errors import BadRequest, UnsupportedMediaType
from serve_container.protos import example_pb2

MEDIA_TYPES = ("application/json", "application/jsonlines", "application/x-tfrecord")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


@dataclasses.dataclass(frozen=True)
class ExampleInput:
    """What one Classify / Regress call sends (TF Serving's Input: an example list, with or without context)."""

    examples: tuple[example_pb2.Example, ...]
    context: example_pb2.Example | None = None
    signature_name: str | None = None

    def chunks(self, size: int):
        """At most `size` examples per call (0: one call); the context goes with every chunk."""
        if not size or len(self.examples) <= size:
            yield self
            return
        for start in range(0, len(self.examples), size):
            yield dataclasses.replace(self, examples=self.examples[start : start + size])


def _kind_and_value(value, feature: str):
    if isinstance(value, bool):
        return "int64", int(value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise BadRequest(f"feature {feature!r}: {value} does not fit int64 (only int64 is supported)")
        return "int64", value
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise BadRequest(f"feature {feature!r}: {value} does not fit a float32")
        return "float", value
    if isinstance(value, str):
        return "bytes", value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return "bytes", base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"feature {feature!r}: invalid base64 in 'b64' value") from None
    raise BadRequest(
        f"feature {feature!r} has a value of JSON type {type(value).__name__}; expected numbers, strings, "
        'booleans or {"b64": ...}'
    )


def example_from_json(features, where: str) -> example_pb2.Example:
    if not isinstance(features, dict):
        raise BadRequest(f"{where}: an example must be a JSON object of features, got {type(features).__name__}")
    example = example_pb2.Example()
    for name, content in features.items():
        values = content if isinstance(content, list) else [content]
        kinds, converted = set(), []
        for value in values:
            kind, item = _kind_and_value(value, name)
            kinds.add(kind)
            converted.append(item)
        if len(kinds) > 1:
            raise BadRequest(f"{where}: feature {name!r} mixes {' and '.join(sorted(kinds))} values")
        feature = example.features.feature[name]  # no values: a feature with no kind, as TF Serving makes it
        if kinds:
            getattr(feature, f"{kinds.pop()}_list").value.extend(converted)
    return example


def examples_from_json(payload) -> ExampleInput:
    """TF Serving's REST classify / regress request (also what an input_handler may return, as a dict)."""
    if not isinstance(payload, dict) or "examples" not in payload:
        raise BadRequest(
            "tfs-method classify / regress takes a JSON object with 'examples' (a list of feature objects), "
            "and optionally 'context' and 'signature_name'"
        )
    examples = payload["examples"]
    if not isinstance(examples, list) or not examples:
        raise BadRequest("'examples' must be a non-empty list of feature objects")
    context = payload.get("context")
    name = payload.get("signature_name")
    return ExampleInput(
        tuple(example_from_json(features, f"example {index}") for index, features in enumerate(examples)),
        None if context is None else example_from_json(context, "context"),
        name if isinstance(name, str) and name else None,
    )


def _parse(text, where: str):
    try:
        return jsontext.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"{where}: invalid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"{where}: JSON nested too deeply") from None


def from_hook(result) -> ExampleInput:
    """What an input_handler returned for classify / regress: TF Serving's REST JSON (str, bytes or dict)."""
    if isinstance(result, (str, bytes)):
        result = _parse(result, "input_handler result")
    return examples_from_json(result)


def decode_examples(media_type: str, body: bytes) -> ExampleInput:
    if media_type == "application/json":
        return examples_from_json(_parse(body, "JSON body"))
    if media_type == "application/jsonlines":
        lines = [(n, line) for n, line in enumerate(body.splitlines(), start=1) if line.strip()]
        if not lines:
            raise BadRequest("JSON Lines body has no examples")
        return ExampleInput(
            tuple(example_from_json(_parse(line, f"JSON Lines line {n}"), f"JSON Lines line {n}") for n, line in lines)
        )
    if media_type == "application/x-tfrecord":
        found = []
        for index, record in enumerate(tfrecord.split_records(body)):
            try:
                found.append(example_pb2.Example.FromString(record))
            except DecodeError:
                raise BadRequest(f"TFRecord record {index} is not a serialized tf.train.Example") from None
        return ExampleInput(tuple(found))
    raise UnsupportedMediaType(
        f"tfs-method classify / regress takes {', '.join(MEDIA_TYPES)} (tf.train.Examples), not {media_type}"
    )
