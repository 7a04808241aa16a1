"""JSON (TFS REST `instances` / `inputs`, or a plain list), JSON Lines, CSV and .npy payloads."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from serve_container import jsontext
from serve_container.decoders.arrays import conform
from serve_container.errors import BadRequest
from serve_container.signature import Signature

_SEVERAL_VALUES = object()  # what _parse_json returns for "{...} {...}" when the caller reads those as JSON Lines


def _parse_json(text: bytes | str, where: str, several_ok: bool = False):
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:
        if several_ok and exc.msg == "Extra data":
            return _SEVERAL_VALUES
        raise BadRequest(f"{where}: invalid JSON: {exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"{where}: invalid JSON: {exc}") from None
    except RecursionError:  # json recurses per nesting level: a '[[[[...' body must not be a 500
        raise BadRequest(f"{where}: JSON nested too deeply") from None


def _instances(rows: list, signature: Signature, where: str) -> dict[str, np.ndarray]:
    """Row format: a list of instances; dict instances name several inputs."""
    if not rows:
        raise BadRequest(f"{where}: no instances")
    if all(isinstance(row, dict) for row in rows):
        names = set(rows[0])
        if any(set(row) != names for row in rows):
            raise BadRequest(f"{where}: every instance must name the same inputs")
        if len(signature.inputs) == 1 and names == {"b64"} != {signature.inputs[0].name}:
            # a list of {"b64": ...} binary strings for a single string input
            spec = signature.inputs[0]
            return {spec.name: conform(rows, spec, where, add_batch_axis=False)}
        missing = set(signature.input_names()) - names
        if missing:
            raise BadRequest(f"{where}: instances lack inputs {sorted(missing)}")
        return {
            name: conform(
                [row[name] for row in rows], signature.input(name), f"{where} input {name!r}", False
            )
            for name in sorted(names)
        }
    if any(isinstance(row, dict) for row in rows):
        raise BadRequest(f"{where}: instances mix objects and values")
    spec = signature.single_input()
    return {spec.name: conform(rows, spec, where, add_batch_axis=False)}


def _columnar(inputs, signature: Signature, where: str) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict):
        missing = set(signature.input_names()) - set(inputs)
        if missing:
            raise BadRequest(f"{where}: 'inputs' lacks {sorted(missing)}")
        return {
            name: conform(value, signature.input(name), f"{where} input {name!r}")
            for name, value in inputs.items()
        }
    spec = signature.single_input()
    return {spec.name: conform(inputs, spec, where)}


def decode_json(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    """TF Serving's REST forms (`instances` rows, `inputs` columns), and what the DLC accepts around them: a plain
    list (of instances, or one instance when it has the rank of one), a bare object naming the inputs (one
    instance), and several JSON values one after another (read as JSON Lines)."""
    payload = _parse_json(body, "JSON body", several_ok=True)
    if payload is _SEVERAL_VALUES:
        return decode_jsonlines(body, signature)
    if isinstance(payload, list):
        if payload and not any(isinstance(row, dict) for row in payload) and len(signature.inputs) == 1:
            spec = signature.inputs[0]
            return {spec.name: conform(payload, spec, "JSON list")}  # a single instance gets its batch axis
        return _instances(payload, signature, "JSON list")
    if not isinstance(payload, dict):
        raise BadRequest("JSON body must be an object ('instances', 'inputs' or the model's inputs) or a list")
    keys = set(payload) - {"signature_name"}
    if keys == {"instances"}:
        if not isinstance(payload["instances"], list):
            raise BadRequest("'instances' must be a list")
        return _instances(payload["instances"], signature, "instances")
    if keys == {"inputs"}:
        return _columnar(payload["inputs"], signature, "inputs")
    if keys & {"instances", "inputs"}:
        raise BadRequest(f"JSON object must have exactly one of 'instances' or 'inputs' (got keys {sorted(keys)})")
    if "examples" in keys:
        raise BadRequest("'examples' are for tfs-method=classify or regress; predict takes 'instances' or 'inputs'")
    names = set(signature.input_names())
    if keys and (keys <= names or (keys == {"b64"} and len(names) == 1)):
        return _instances([payload], signature, "JSON object")  # one instance, as the DLC wraps it
    raise BadRequest(
        f"JSON object must have 'instances' or 'inputs', or name the model's inputs {sorted(names)} as one "
        f"instance (got keys {sorted(keys)})"
    )


def json_signature_name(body: bytes) -> str | None:
    """The TFS REST `signature_name` field, if the body is a JSON object carrying one."""
    if b"signature_name" not in body and b"\\" not in body and b"\0" not in body:
        # Not even spelt with escapes, nor in UTF-16/32 (which json.loads detects): skip parsing the body twice.
        return None
    try:
        payload = jsontext.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    name = payload.get("signature_name") if isinstance(payload, dict) else None
    return name if isinstance(name, str) else None


def decode_jsonlines(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            rows.append(_parse_json(line, f"JSON Lines line {number}"))
    if not rows:
        raise BadRequest("JSON Lines body has no records")
    return _instances(rows, signature, "JSON Lines")


def _csv_strings(text: str) -> np.ndarray:
    """Rows of text fields; quoted fields may hold commas, newlines and doubled quotes (RFC 4180)."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise BadRequest(f"CSV: {exc}") from None
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise BadRequest(f"CSV rows have different numbers of fields: {sorted(widths)}")
    table = np.empty((len(rows), widths.pop()), dtype=object)
    table[:] = rows
    return table


def decode_csv(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    """One instance per line, for the model's single input: numbers (quoted or not), or text fields for a string
    input. A row is reshaped to the input's fixed instance shape; one field per row feeds a scalar input."""
    spec = signature.single_input()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("CSV body is not UTF-8 text") from None
    if not text.strip():
        raise BadRequest("CSV body is empty")
    if spec.is_string:
        rows = _csv_strings(text)
    else:
        try:
            rows = np.loadtxt(io.StringIO(text), delimiter=",", quotechar='"', dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise BadRequest(f"CSV: {exc}") from None
    if spec.shape is not None and all(d is not None for d in spec.shape[1:]):
        per_instance = spec.shape[1:]
        width = int(np.prod(per_instance, dtype=np.int64))
        if rows.shape[1] != width:
            raise BadRequest(
                f"CSV rows have {rows.shape[1]} columns; {spec.describe()} needs {width} per row"
            )
        rows = rows.reshape((rows.shape[0], *per_instance))
    return {spec.name: conform(rows, spec, "CSV", add_batch_axis=False)}


_MAX_NPY_DIM = 2**31 - 1
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_npy_header(body: bytes) -> None:
    """Refuse a header whose declared size the body cannot hold: numpy allocates that size before reading."""
    stream = io.BytesIO(body)
    version = np.lib.format.read_magic(stream)
    if version not in _NPY_HEADER_READERS:
        raise ValueError(f".npy format version {version} is not supported (1.0 or 2.0)")
    try:
        shape, _, dtype = _NPY_HEADER_READERS[version](stream)
    except Exception as exc:  # numpy literal_evals the header: SyntaxError, TokenError, OverflowError...
        raise ValueError(f"unreadable .npy header: {type(exc).__name__}: {exc}") from None
    if any(dim > _MAX_NPY_DIM for dim in shape):
        # An empty array may declare absurd dimensions; casting it later overflows numpy's size arithmetic.
        raise ValueError(f"the header declares shape {shape}; dimensions are limited to {_MAX_NPY_DIM}")
    declared = dtype.itemsize * int(np.prod(shape, dtype=object))
    if declared > len(body) - stream.tell():
        raise ValueError(f"the header declares shape {shape} ({declared} bytes) but the payload is smaller")


def decode_npy(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    spec = signature.single_input()
    try:
        _check_npy_header(body)
        # allow_pickle=False: a .npy payload must never run code (object arrays refused).
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError, OverflowError, MemoryError) as exc:
        raise BadRequest(f"invalid .npy payload: {exc}") from None
    if array.dtype.kind in "SU" and spec.is_string:
        return {spec.name: conform(array.astype(object), spec, "npy")}
    return {spec.name: conform(array, spec, "npy")}
