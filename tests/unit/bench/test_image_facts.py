"""P7's model-load time from the supervisor's log lines and P8's split of an image history at its base."""

from __future__ import annotations

import pytest

from bench.cold_start import model_load_seconds
from bench.docker_images import added_layers

LOG = """\
2026-11-22 05:50:01,250 INFO serve_container.supervisor model 'model' versions [1] from /opt/ml/model
2026-11-22 05:50:01,500 INFO serve_container.supervisor starting TF Serving: tensorflow_model_server --port=9000
2026-11-22 05:50:13,750 INFO serve_container.supervisor model 'model' is AVAILABLE
"""


def test_model_load_time_from_supervisor_log():
    assert model_load_seconds(LOG) == pytest.approx(12.25)


def test_model_load_time_unknown_without_both_lines():
    assert model_load_seconds(LOG.splitlines()[1]) is None
    assert model_load_seconds("") is None


class FakeImage:
    def __init__(self, image_id, history=(), tags=()):
        self.id = image_id
        self._history = list(history)
        self.tags = list(tags)

    def history(self):
        return self._history


def test_layers_above_the_base_are_ours():
    history = [{"Id": "sha256:top", "Size": 5}, {"Id": "<missing>", "Size": 7}, {"Id": "sha256:base", "Size": 100}]
    product = FakeImage("sha256:top", history)
    other, base = FakeImage("sha256:other"), FakeImage("sha256:base")
    found, ours = added_layers(product, [other, base])
    assert found is base
    assert [entry["Size"] for entry in ours] == [5, 7]


def test_no_base_in_history_is_an_error():
    product = FakeImage("sha256:top", [{"Id": "sha256:top", "Size": 5}], tags=["byoc/x:1"])
    with pytest.raises(RuntimeError, match="byoc/x:1"):
        added_layers(product, [FakeImage("sha256:else")])
