"""Every decoder, called directly with hostile bodies: it returns arrays that fit the signature or raises a
4xx ServingError. Anything else (an uncaught exception, a 5xx) would be a 500 or a dead worker in production."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serve_container import decoders
from serve_container.errors import ServingError
from tests.reliability import budget, figures
from tests.reliability.conftest import IMAGE_SIGNATURE, VECTOR_SIGNATURE
from tests.reliability.payloads import IMAGE_TYPES, STRATEGIES

OPTIONS = decoders.DecodeOptions("image/encoded", 25_000_000)
FUZZ_SETTINGS = settings(
    max_examples=budget.FUZZ_CASES_PER_TYPE,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def check_decode(media: str, body: bytes, signature) -> str:
    """'accepted' or the 4xx status; fails the test on any other outcome."""
    try:
        inputs = decoders.decode(media, body, signature, OPTIONS)
    except ServingError as error:
        assert 400 <= error.status < 500, f"{media}: {error.status} {error.message}"
        assert error.message
        return str(error.status)
    spec = signature.inputs[0]
    array = inputs[spec.name]
    assert isinstance(array, np.ndarray) and array.dtype == spec.dtype
    assert array.ndim == len(spec.shape) and array.shape[1:] == tuple(spec.shape[1:])
    return "accepted"


@pytest.mark.parametrize("media", sorted(STRATEGIES))
def test_decoder_survives_hostile_bodies(media):
    outcomes: collections.Counter = collections.Counter()
    signatures = [IMAGE_SIGNATURE] if media in IMAGE_TYPES else [VECTOR_SIGNATURE, IMAGE_SIGNATURE]

    @FUZZ_SETTINGS
    @given(body=STRATEGIES[media], signature=st.sampled_from(signatures))
    def run(body, signature):
        outcomes[check_decode(media, body, signature)] += 1

    run()
    total = sum(outcomes.values())
    figures.record("fuzz_decoders", **{media: dict(outcomes, total=total)})
    assert total >= budget.FUZZ_CASES_PER_TYPE
    # The strategies must reach both sides: some bodies decode, some are refused.
    assert outcomes["accepted"] and total - outcomes["accepted"]
