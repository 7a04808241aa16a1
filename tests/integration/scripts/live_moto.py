"""moto's server on a thread of this process, so a test can drive a job's status through moto's own backend.

moto finishes every job the moment it is created; a `--wait` path that sees InProgress, Failed or a
FailureReason needs the job moved through those states. The subprocess server (moto_server.py) cannot be
reached from here, so these tests run `ThreadedMotoServer` in-process and script the statuses the backend
reports: the launchers still talk HTTP to a real moto server, and the states are set on moto's own job objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from tests.integration.scripts.moto_server import ACCOUNT, REGION, client_env
from tests.support.moto import threaded_moto


@dataclass
class LiveMoto:
    url: str
    scripts: dict[tuple[str, str], list[dict] | Callable[[], dict]] = field(default_factory=dict)

    def client_env(self) -> dict[str, str]:
        return client_env(self.url)

    @property
    def backend(self):
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    def script(self, describe: str, name: str, *states: dict) -> None:
        """The next describes of `name` by `describe` (e.g. describe_training_job) set these attributes on
        moto's job object first, one state per call; the last state then stays. A single callable state is
        called for each describe instead."""
        self.scripts[(describe, name)] = states[0] if len(states) == 1 and callable(states[0]) else list(states)


def _in(store: str) -> tuple[Callable, Callable]:
    return (lambda name: name), (lambda backend, name: getattr(backend, store)[name])


def _pipeline_execution_key(arn: str) -> str:
    """An execution's ARN is made at its start, so it is scripted by its pipeline's name."""
    from moto.sagemaker.utils import get_pipeline_name_from_execution_arn

    return get_pipeline_name_from_execution_arn(arn)


def _pipeline_execution(backend, arn: str):
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    return get_pipeline_execution_from_arn(backend.pipelines, arn)


# describe -> (its name argument, (the script's key for a name, moto's object for a name))
_JOB_STORES = {
    "describe_training_job": ("training_job_name", _in("training_jobs")),
    "describe_transform_job": ("transform_job_name", _in("transform_jobs")),
    "describe_processing_job": ("processing_job_name", _in("processing_jobs")),
    "describe_endpoint": ("endpoint_name", _in("endpoints")),
    "describe_hyper_parameter_tuning_job": ("hyper_parameter_tuning_job_name", _in("hyper_parameter_tuning_jobs")),
    "describe_pipeline_execution": ("pipeline_execution_arn", (_pipeline_execution_key, _pipeline_execution)),
}


def _install(live: LiveMoto, monkeypatch) -> None:
    backend = live.backend
    for describe, (key, (script_key, job_of)) in _JOB_STORES.items():
        original = getattr(backend, describe)

        def scripted(*args, _original=original, _describe=describe, _key=key, _script=script_key, _job=job_of,
                     **kwargs):  # fmt: skip
            name = kwargs.get(_key, args[0] if args else None)
            states = live.scripts.get((_describe, _script(name)))
            if states:
                state = states() if callable(states) else states.pop(0) if len(states) > 1 else states[0]
                for attribute, value in state.items():
                    setattr(_job(backend, name), attribute, value)
            answer = _original(*args, **kwargs)
            if _describe == "describe_pipeline_execution":  # moto keeps the reason but always answers ""
                answer["FailureReason"] = _job(backend, name).pipeline_execution_failure_reason or ""
            return answer

        monkeypatch.setattr(backend, describe, scripted)


@contextlib.contextmanager
def live_moto(monkeypatch) -> Iterator[LiveMoto]:
    from sagemaker.core.utils.utils import SageMakerClient

    with threaded_moto() as url:
        live = LiveMoto(url=url)
        try:
            requests.post(f"{live.url}/moto-api/reset", timeout=10).raise_for_status()
            for name, value in live.client_env().items():
                monkeypatch.setenv(name, value)
            for name in ("SAGEMAKER_ROLE_ARN", "BYOC_REGISTRY", "AWS_PROFILE", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"):
                monkeypatch.delenv(name, raising=False)
            SageMakerClient.reset()  # sagemaker-core caches its client (and so the endpoint URL) per region
            _install(live, monkeypatch)
            yield live
        finally:
            SageMakerClient.reset()
