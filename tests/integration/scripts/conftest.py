from __future__ import annotations

import pytest

from tests.integration.scripts.moto_server import ROLE_ARN, MotoServer, moto_server
from tests.integration.scripts.runtime_standin import RuntimeStandin


@pytest.fixture(scope="session")
def moto(tmp_path_factory) -> MotoServer:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def runtime_standin() -> RuntimeStandin:
    with RuntimeStandin() as standin:
        yield standin


@pytest.fixture
def aws(moto: MotoServer, runtime_standin: RuntimeStandin, monkeypatch) -> MotoServer:
    """A clean moto (state and recording) with this process's AWS clients pointed at it.

    SageMaker Runtime goes to `runtime_standin` for the whole session (SDK clients are cached per region).
    """
    moto.reset()
    runtime_standin.requests.clear()
    for name, value in moto.client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_standin.url)
    for name in ("SAGEMAKER_ROLE_ARN", "BYOC_REGISTRY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return moto


@pytest.fixture
def role() -> str:
    return ROLE_ARN
