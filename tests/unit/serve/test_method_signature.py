"""tfs-method classify / regress run a signature of their own kind (SignatureDef.method_name), as TF Serving does."""

from __future__ import annotations

import numpy as np
import pytest

from serve_container.app import pick_method_signature
from serve_container.errors import BadRequest
from serve_container.signature import METHOD_NAMES, Signature, TensorSpec


def _signature(name: str, method: str) -> Signature:
    spec = TensorSpec("inputs", np.dtype(object), (None,))
    return Signature(name, (spec,), (), METHOD_NAMES[method])


def test_classify_and_regress_pick_a_signature_of_their_kind():
    signatures = {
        "serving_default": _signature("serving_default", "predict"),
        "classification": _signature("classification", "classify"),
    }
    assert pick_method_signature(signatures, "classification", "classify").name == "classification"
    with pytest.raises(BadRequest, match=r"'serving_default' is tensorflow/serving/predict; name one of its classify"):
        pick_method_signature(signatures, None, "classify")
    with pytest.raises(BadRequest, match="it has no regress signature"):
        pick_method_signature(signatures, None, "regress")
    with pytest.raises(BadRequest, match="has no signature 'nope'"):
        pick_method_signature(signatures, "nope", "classify")
