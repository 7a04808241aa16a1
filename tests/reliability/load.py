"""A bounded closed-loop HTTP load generator: N client threads post the same body until told to stop."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import requests


class Load:
    def __init__(self, url: str, body: bytes, content_type: str, clients: int, keepalive: bool = True):
        self.url = f"{url}/invocations"
        self.body = body
        self.headers = {"Content-Type": content_type}
        if not keepalive:
            self.headers["Connection"] = "close"
        self.clients = clients
        self.keepalive = keepalive
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[float, float, int | str]] = []  # (sent at, latency s, status or error name)
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        post = requests.Session().post if self.keepalive else requests.post
        while not self.stop_event.is_set():
            sent = time.monotonic()
            try:
                outcome: int | str = post(self.url, data=self.body, headers=self.headers, timeout=60).status_code
            except requests.RequestException as error:
                outcome = type(error).__name__
            with self.lock:
                self.results.append((sent, time.monotonic() - sent, outcome))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=90)
        assert not any(t.is_alive() for t in self.threads), "a client hung for more than 90 s"

    def outcomes(self, since: float = 0.0) -> collections.Counter:
        with self.lock:
            return collections.Counter(o for sent, _, o in self.results if sent >= since)

    def latencies(self, status: int = 200) -> np.ndarray:
        with self.lock:
            return np.array([lat for _, lat, o in self.results if o == status])
