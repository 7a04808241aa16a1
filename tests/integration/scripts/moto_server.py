"""A real moto server process on 127.0.0.1 that records every request it receives.

AWS cannot be reached here, so the launchers talk to moto through `AWS_ENDPOINT_URL` (honoured by boto3
and so by sagemaker-core). moto's describe calls do not echo every field back (it invents its own
MetricDefinitions, for one), so tests read the requests as moto received them from its recorder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.processes import ManagedProcess, free_port, run_process

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/byoc-sagemaker"


def client_env(url: str) -> dict[str, str]:
    """Variables that point boto3 (and everything built on it) at the moto server at `url`, with fake
    credentials and no user AWS config."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@dataclass
class MotoServer:
    process: ManagedProcess
    url: str
    recording: Path

    def client_env(self) -> dict[str, str]:
        return client_env(self.url)

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(f"{self.url}/moto-api/recorder/reset-recording", timeout=10).raise_for_status()

    def _entries(self) -> Iterator[tuple[dict, str, bytes]]:
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            body = entry["body"] or ""
            raw = base64.b64decode(body) if entry["body_encoded"] else body.encode()
            yield {k.lower(): v for k, v in entry["headers"].items()}, entry["url"], raw

    def recorded(self, target: str) -> list[dict]:
        """JSON bodies of the recorded calls to `target` (e.g. `SageMaker.CreateTrainingJob`), in order."""
        return [json.loads(body) for headers, _, body in self._entries() if headers.get("x-amz-target") == target]


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[MotoServer]:
    port = free_port()
    recording = workdir / "moto-recording.jsonl"
    recording.touch()
    env = {
        "MOTO_ENABLE_RECORDING": "True",
        "MOTO_RECORDER_FILEPATH": str(recording),
        "PATH": "/usr/bin:/bin",
    }
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with run_process(args, env=env, cwd=workdir, log_path=workdir / "moto.log") as process:
        process.wait_for_port(port)
        yield MotoServer(process=process, url=f"http://127.0.0.1:{port}", recording=recording)
