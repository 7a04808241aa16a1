"""Model outputs -> response body: JSON (TF Serving's `{"predictions": ...}`), JSON Lines or CSV.

Optional top-k labels (from `assets/labels.txt`) are asked for with an Accept parameter
(`application/json; top_k=3`) or by default with BYOC_TOP_K.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

import numpy as np

from serve_container.errors import BadRequest, NotAcceptable, UpstreamError
from serve_container.jsontext import dumps

ENCODINGS = ("application/json", "application/jsonlines", "text/csv")
_ACCEPT_ALIASES = {
    "application/json": "application/json",
    "application/jsonlines": "application/jsonlines",
    "application/jsonl": "application/jsonlines",
    "application/x-jsonlines": "application/jsonlines",
    "application/jsons": "application/jsonlines",
    "text/csv": "text/csv",
}
PROBABILITIES = "probabilities"


def negotiate(accept: str | None, default: str, default_top_k: int) -> tuple[str, int]:
    """(media type, top_k) from an Accept header: the first supported type in the list wins."""
    if not accept or not accept.strip():
        return default, default_top_k
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        if media in ("*/*", "application/*"):
            media = default
        if media in _ACCEPT_ALIASES:
            top_k = default_top_k
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "top_k":
                    if not value.strip().isdigit() or not 0 <= int(value) <= 1000:
                        raise BadRequest(f"Accept parameter top_k={value!r} must be an integer in 0..1000")
                    top_k = int(value)
            return _ACCEPT_ALIASES[media], top_k
    raise NotAcceptable(f"unsupported Accept {accept!r}; supported: {', '.join(ENCODINGS)}")


def read_labels(path: Path) -> tuple[str, ...] | None:
    if not path.is_file():
        return None
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def _jsonable(array: np.ndarray):
    if array.dtype.kind != "O":
        return array.tolist()
    flat = [_string(v) for v in array.reshape(-1)]
    return np.asarray(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]


def _string(value: bytes):
    # As TF Serving's REST API does: text when it is UTF-8, else {"b64": ...}.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def _rows(outputs: dict[str, np.ndarray]) -> list | None:
    """One entry per instance: the value of the single output, or a dict of all outputs. None when the outputs
    share no batch axis: TF Serving answers in columnar form then."""
    if len(outputs) == 1:
        (array,) = outputs.values()
        return _jsonable(array) if array.ndim else [_jsonable(array)]
    sizes = {a.shape[0] if a.ndim else None for a in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    names = sorted(outputs)
    columns = [_jsonable(outputs[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _top_k(outputs: dict[str, np.ndarray], labels: tuple[str, ...] | None, k: int) -> list:
    if labels is None:
        raise BadRequest("top_k needs assets/labels.txt in the model version directory")
    if PROBABILITIES in outputs:
        scores = outputs[PROBABILITIES]
    else:
        candidates = [a for a in outputs.values() if a.ndim == 2 and a.dtype.kind == "f"]
        if len(candidates) != 1:
            raise BadRequest(
                f"top_k needs one [batch, classes] float output (or one named {PROBABILITIES!r})"
            )
        scores = candidates[0]
    if scores.ndim != 2 or scores.shape[1] != len(labels):
        raise UpstreamError(f"scores of shape {list(scores.shape)} do not match {len(labels)} labels")
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1).tolist()
    names = np.asarray(labels, dtype=object)[order].tolist()
    return [
        [{"label": n, "score": s} for n, s in zip(row_names, row_scores, strict=True)]
        for row_names, row_scores in zip(names, top_scores, strict=True)
    ]


def encode_columnar(outputs: dict[str, np.ndarray]) -> bytes:
    """TF Serving REST's answer to a columnar (`inputs`) request: `outputs`, one value or a dict of them."""
    if len(outputs) == 1:
        (array,) = outputs.values()
        return dumps({"outputs": _jsonable(array)})
    return dumps({"outputs": {name: _jsonable(a) for name, a in sorted(outputs.items())}})


def encode(media_type: str, outputs: dict[str, np.ndarray], labels=None, top_k: int = 0) -> bytes:
    if not outputs:
        raise UpstreamError("the model returned no outputs")
    top = _top_k(outputs, labels, top_k) if top_k else None
    if media_type == "text/csv":
        return _csv(outputs, top)
    rows = _rows(outputs)
    if rows is None:
        if media_type != "application/json" or top:
            raise NotAcceptable("outputs have no common batch axis; only plain application/json fits")
        return encode_columnar(outputs)
    if media_type == "application/json":
        body = {"predictions": rows}
        if top is not None:
            body["top_k"] = top
        return dumps(body)
    if top is not None:
        rows = [{"prediction": row, "top_k": t} for row, t in zip(rows, top, strict=True)]
    return b"".join(dumps(row) + b"\n" for row in rows)


def encode_results(media_type: str, method: str, results: list) -> bytes:
    """Classify / Regress results as TF Serving's REST API answers them: `{"results": ...}` with, per example,
    [[label, score], ...] (classify) or a value (regress); JSON Lines: one example per line; CSV: one row per
    example (label,score,label,score... or the value)."""
    if method == "classify":
        results = [[[label, score] for label, score in classes] for classes in results]
    if media_type == "application/json":
        return dumps({"results": results})
    if media_type == "application/jsonlines":
        return b"".join(dumps(item) + b"\n" for item in results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for item in results:
        if method == "classify":
            writer.writerow([field for label, score in item for field in (label, f"{score:.9g}")])
        else:
            writer.writerow([f"{item:.9g}"])
    return buffer.getvalue().encode()


def _csv(outputs: dict[str, np.ndarray], top: list | None) -> bytes:
    if top is not None:
        lines = (",".join(f"{e['label']},{e['score']:.9g}" for e in row) for row in top)
        return ("\n".join(lines) + "\n").encode()
    columns = []
    for name in sorted(outputs):
        array = outputs[name]
        if array.dtype.kind == "O":
            raise NotAcceptable(f"output {name!r} holds strings; ask for application/json")
        columns.append(array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, 1))
    try:
        table = np.concatenate([c.astype(np.float64) for c in columns], axis=1)
    except ValueError:
        raise NotAcceptable("outputs have different batch sizes; ask for application/json") from None
    buffer = io.StringIO()
    np.savetxt(buffer, table, delimiter=",", fmt="%.9g")
    return buffer.getvalue().encode()
