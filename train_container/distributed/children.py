"""Ending the helper processes a launcher started (sshd, ps/worker servers): one rule for all of them."""

from __future__ import annotations

import subprocess


def stop_child(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace_seconds`; reaped either way. A process already gone is left alone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
