"""moto's server on a thread of the test process: for tests that need moto's backend in reach (to script a job's
states) or just a short-lived S3; tests/integration/scripts/moto_server.py runs it as a recorded subprocess."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.support.processes import free_port


@contextlib.contextmanager
def threaded_moto() -> Iterator[str]:
    """Yields the server's URL; stopped on exit."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
