"""SIGTERM as a request: SageMaker (StopTrainingJob, spot reclaim) sends it, then SIGKILL after 120 s.

The handler only records the request; the training callbacks act on it between steps, where the
model is consistent and a checkpoint can be written.
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str) -> None:
        self.reason = reason
        self._event.set()

    def install(self, signals: tuple[int, ...] = (signal.SIGTERM,)) -> StopRequest:
        """Route the signals here (main thread only, as Python requires)."""
        for signum in signals:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.request(signal.Signals(signum).name)
