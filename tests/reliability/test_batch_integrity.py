"""Batch Transform integrity: N records in -> exactly N predictions out, in order, for SplitType None / Line /
TFRecord with MultiRecord batches packed up to MaxPayloadInMB, as SageMaker packs them.

The model reads each record's tag back: pixel (0, 0) of every image encodes its index (R*65536 + G*256 + B),
the rest is noise so records have realistic sizes. A swapped, dropped or duplicated record changes the output.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serve_container.decoders.tfrecord import frame_record
from tests.reliability import budget, figures
from tests.reliability.payloads import example
from tests.support.models import _publish

SIZE = 32
MB = 1024 * 1024


def export_index_model(base: Path) -> Path:
    """`image` uint8 [None,32,32,3] -> `index` float32 [None]: the tag in pixel (0, 0), exact below 2**24."""
    import tensorflow as tf

    def save(target: Path) -> None:
        module = tf.Module()

        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.uint8, name="image")])
        def serve(image):
            corner = tf.cast(image[:, 0, 0, :], tf.float32)
            return {"index": corner[:, 0] * 65536.0 + corner[:, 1] * 256.0 + corner[:, 2]}

        tf.saved_model.save(module, str(target), signatures={"serving_default": serve})

    return _publish(base, 1, save)


def tagged_pixels(index: int) -> np.ndarray:
    pixels = np.random.default_rng(index).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    pixels[0, 0] = ((index >> 16) & 255, (index >> 8) & 255, index & 255)
    return pixels


def tagged_png(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(tagged_pixels(index)).save(buffer, format="PNG")
    return buffer.getvalue()


def pack(records: list[bytes], max_bytes: int, separator: bytes = b"") -> list[bytes]:
    """SageMaker's MultiRecord: as many whole records per request as fit under MaxPayloadInMB."""
    requests_, current, size = [], [], 0
    for record in records:
        extra = len(record) + (len(separator) if current else 0)
        if current and size + extra > max_bytes:
            requests_.append(separator.join(current))
            current, size = [], 0
            extra = len(record)
        current.append(record)
        size += extra
    if current:
        requests_.append(separator.join(current))
    return requests_


@pytest.fixture(scope="module")
def index_model_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("index-model") / "model"
    export_index_model(base)
    return base


@pytest.fixture(scope="module")
def batch_endpoint(index_model_dir, slim_protos, standin_python, tmp_path_factory):
    from tests.support.serving import serve_env, start_serve

    run = tmp_path_factory.mktemp("batch-serve")
    env = serve_env(
        slim_protos, standin_python, index_model_dir, run / "run",
        SAGEMAKER_MAX_PAYLOAD_IN_MB=budget.BATCH_MAX_PAYLOAD_MB, SAGEMAKER_BATCH="true",
    )  # fmt: skip
    served = start_serve(env, run / "serve.log")
    try:
        served.wait_ping(200)
        yield served
    finally:
        served.process.stop(grace=35)


def predictions(response) -> list[int]:
    assert response.status_code == 200, response.text[:500]
    return [int(round(v)) for v in response.json()["predictions"]]


def test_split_none_one_record_per_request(batch_endpoint):
    indices = [0, 1, 255, 256, 65535, 65536, 1_000_003, 16_777_215]
    got = [predictions(batch_endpoint.invoke(tagged_png(i), "application/x-image"))[0] for i in indices]
    assert got == indices
    figures.record("batch_split_none", requests=len(indices), records_in=len(indices), predictions_out=len(got))


def test_split_tfrecord_multirecord_up_to_max_payload(batch_endpoint):
    limit = budget.BATCH_MAX_PAYLOAD_MB * MB
    records = []
    size = 0
    while size < 2.5 * limit:  # enough for two full requests and a partial third
        records.append(frame_record(example({"image/encoded": tagged_png(len(records))})))
        size += len(records[-1])
    bodies = pack(records, limit)
    assert len(bodies) >= 3 and max(map(len, bodies)) > 0.95 * limit
    got = []
    for body in bodies:
        assert len(body) <= limit
        got += predictions(batch_endpoint.invoke(body, "application/x-tfrecord"))
    assert got == list(range(len(records)))
    over = bodies[0] + records[-1]
    refused = batch_endpoint.invoke(over, "application/x-tfrecord")
    assert refused.status_code == 413 and "error" in refused.json()
    figures.record(
        "batch_split_tfrecord",
        max_payload_mb=budget.BATCH_MAX_PAYLOAD_MB,
        requests=len(bodies),
        largest_request_bytes=max(map(len, bodies)),
        records_in=len(records),
        predictions_out=len(got),
        over_limit_status=413,
    )


@pytest.mark.parametrize(
    ("content_type", "accept"),
    [("application/jsonlines", "application/jsonlines"), ("text/csv", "text/csv")],
)
def test_split_line_multirecord_assembled_by_line(batch_endpoint, content_type, accept):
    limit = budget.BATCH_MAX_PAYLOAD_MB * MB

    def line(index: int) -> bytes:
        flat = tagged_pixels(index)
        if content_type == "text/csv":
            return ",".join(map(str, flat.reshape(-1).tolist())).encode()
        return json.dumps(flat.tolist(), separators=(",", ":")).encode()

    count = int(2.5 * limit / len(line(0)))  # two full requests and a partial third
    records = [line(i) for i in range(count)]
    bodies = pack(records, limit, b"\n")
    out_lines = []
    for body in bodies:
        response = batch_endpoint.invoke(body, content_type, accept=accept)
        assert response.status_code == 200, response.text[:500]
        lines = response.text.splitlines()
        assert len(lines) == body.count(b"\n") + 1  # one output line per input line (AssembleWith=Line)
        out_lines += lines
    if accept == "text/csv":
        got = [int(round(float(text))) for text in out_lines]
    else:
        got = [int(round(json.loads(text)[0] if isinstance(json.loads(text), list) else json.loads(text)))
               for text in out_lines]  # fmt: skip
    assert got == list(range(count))
    figures.record(
        f"batch_split_line_{content_type.split('/')[1]}",
        requests=len(bodies),
        records_in=count,
        predictions_out=len(got),
        largest_request_bytes=max(map(len, bodies)),
    )
