"""The bugs the fuzzers and fault tests found, pinned as plain examples (each was a 500 or a lying /ping)."""

from __future__ import annotations

import struct

import pytest

from serve_container import decoders
from serve_container.app import create_app
from serve_container.contract import load_settings
from serve_container.errors import BadRequest
from tests.reliability.conftest import IMAGE_SIGNATURE, VECTOR_SIGNATURE
from tests.reliability.payloads import npy_header
from tests.support.processes import start_tfs_standin

OPTIONS = decoders.DecodeOptions("image/encoded", 25_000_000)


@pytest.mark.parametrize(
    ("media", "body"),
    [
        ("application/json", b"[" * 100_000 + b"]" * 100_000),  # was RecursionError -> 500
        ("application/json", b'{"instances":' * 2000 + b"1" + b"}" * 2000),
        ("application/jsonlines", b"[" * 5000 + b"]" * 5000),
        # a 16 TiB declared array: numpy allocated it before reading -> MemoryError -> 500
        ("application/x-npy", npy_header("<f4", (2**40, 4)) + b"\0" * 16),
        ("application/x-npy", npy_header("<f4", (0, 2**64))),  # was OverflowError -> 500
        ("application/x-npy", npy_header("|u1", (0, 2**62))),  # empty, but astype overflowed -> 500 (soak)
        ("application/x-npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 10) + b"{'descr':\n"),  # was SyntaxError
        ("application/x-npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 12) + b"'{'descr': \n"),  # was TokenError
        ("application/x-npy", npy_header("<f4", (1, 4), version=(3, 0)) + b"\0" * 16),
    ],
)
def test_hostile_body_is_a_400(media, body):
    for signature in (VECTOR_SIGNATURE, IMAGE_SIGNATURE):
        with pytest.raises(BadRequest):
            decoders.decode(media, body, signature, OPTIONS)


def test_ping_turns_503_as_soon_as_a_request_finds_tf_serving_down(image_model_dir):
    server = start_tfs_standin(image_model_dir)
    settings = load_settings(
        {
            "BYOC_TFS_GRPC_PORT": str(server.port),
            "BYOC_MODEL_DIR": str(image_model_dir),
            "BYOC_ENABLE_HOOKS": "false",
            "BYOC_PING_CACHE_SECONDS": "60",
        }
    )
    client = create_app(settings).test_client()
    try:
        assert client.get("/ping").status_code == 200
    finally:
        server.stop()
    assert client.get("/ping").status_code == 200  # the cached answer, still within 60 s
    response = client.post("/invocations", data=b"[[1]]", headers={"Content-Type": "application/json"})
    assert response.status_code == 503
    assert client.get("/ping").status_code == 503
