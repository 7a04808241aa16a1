"""A recording stand-in for the SageMaker Runtime API (`POST /endpoints/<name>/invocations`).

moto's InvokeEndpoint decodes the body as UTF-8 and answers 500 to any image, so `launch predict` is tested
against this instead: it records what botocore sent and answers like a TF Serving endpoint would.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = {"predictions": [[0.1, 0.7, 0.2]]}


class RuntimeStandin:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                standin.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "accept": self.headers.get("Accept"),
                        "signed": self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"),
                        "body": body,
                    }
                )
                payload = json.dumps(ANSWER).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RuntimeStandin:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
