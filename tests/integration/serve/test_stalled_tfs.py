"""A TF Serving that accepts TCP but is slow to answer (loaded, paused) is waited for within the deadline.

Regression: `grpc.min_reconnect_backoff_ms` is also gRPC's minimum *connect timeout*; set low, a handshake slower
than it turned into an instant UNAVAILABLE (HTTP 503) for requests that would have succeeded.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from serve_container.errors import DeadlineExceeded
from serve_container.tfs_client import TfsClient


def test_a_stalled_tf_serving_is_waited_for_not_failed_fast():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes TCP handshakes; nothing ever answers HTTP/2
        client = TfsClient(f"127.0.0.1:{listener.getsockname()[1]}", deadline_seconds=2.0)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.predict("model", None, "serving_default", {"x": np.zeros((1, 2), np.float32)})
        assert time.monotonic() - started >= 1.9
        client.close()
