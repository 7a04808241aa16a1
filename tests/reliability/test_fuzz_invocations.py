"""/invocations through the real app with hostile bodies: never a 5xx, every refusal a 4xx JSON error.

Volume runs in-process (Werkzeug test client, real gRPC client, real TF Serving stand-in with real models);
a smaller sample goes over HTTP through the real `serve` supervisor and gunicorn to catch worker deaths.
"""

from __future__ import annotations

import collections
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability import budget, figures
from tests.reliability.conftest import gunicorn_workers
from tests.reliability.payloads import IMAGE_TYPES, STRATEGIES

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
ROUTES = {"image": "", "vector": "tfs-model-name=vector"}


def fuzz_settings(cases: int):
    return settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def check_response(media: str, status: int, content_type: str, body: bytes) -> str:
    assert status < 500, f"{media}: {status} {body[:500]!r}"
    if status >= 400:
        assert content_type.startswith("application/json"), (status, content_type, body[:200])
        assert json.loads(body)["error"], body[:200]
        return str(status)
    assert status == 200, (status, body[:200])
    assert "predictions" in json.loads(body)
    return "200"


@pytest.mark.parametrize("media", sorted(STRATEGIES))
def test_app_answers_hostile_bodies_with_4xx_json(app_client, media):
    outcomes: collections.Counter = collections.Counter()
    routes = ["image"] if media in IMAGE_TYPES else ["vector", "image"]

    @fuzz_settings(budget.FUZZ_CASES_PER_TYPE)
    @given(body=STRATEGIES[media], route=st.sampled_from(routes))
    def run(body, route):
        response = app_client.post("/invocations", data=body, headers={"Content-Type": media, HEADER: ROUTES[route]})
        outcomes[check_response(media, response.status_code, response.content_type, response.data)] += 1

    run()
    total = sum(outcomes.values())
    figures.record("fuzz_app", **{media: dict(outcomes, total=total)})
    assert total >= budget.FUZZ_CASES_PER_TYPE
    assert outcomes["200"] and total - outcomes["200"], outcomes


def test_gunicorn_workers_survive_hostile_bodies_over_http(make_served, image_model_dir):
    served = make_served(image_model_dir, SAGEMAKER_GUNICORN_WORKERS=2)
    workers_before = sorted(p.pid for p in gunicorn_workers(served))
    assert len(workers_before) == 2
    session = requests.Session()
    outcomes: collections.Counter = collections.Counter()

    @fuzz_settings(budget.HTTP_FUZZ_CASES_PER_TYPE)
    @given(body=st.data())
    def run(media, body):
        body = body.draw(STRATEGIES[media])
        response = session.post(f"{served.url}/invocations", data=body, headers={"Content-Type": media}, timeout=60)
        outcome = check_response(media, response.status_code, response.headers["Content-Type"], response.content)
        outcomes[(media, outcome)] += 1

    for media in sorted(STRATEGIES):
        run(media)

    assert sorted(p.pid for p in gunicorn_workers(served)) == workers_before, "a gunicorn worker was replaced"
    log = served.process.log()
    assert log.count("Booting worker") == 2 and "WORKER TIMEOUT" not in log and "Traceback" not in log
    assert served.ping() == 200
    per_type = collections.defaultdict(dict)
    for (media, outcome), number in outcomes.items():
        per_type[media][outcome] = number
    figures.record(
        "fuzz_http",
        **{m: dict(v, total=sum(v.values())) for m, v in per_type.items()},
        worker_deaths=0,
        workers=2,
    )
    assert all(sum(v.values()) >= budget.HTTP_FUZZ_CASES_PER_TYPE for v in per_type.values())
