from __future__ import annotations

import pytest

from serve_container.custom_attributes import Route, parse_route
from serve_container.errors import BadRequest


def test_absent_header_routes_to_the_default_model():
    assert parse_route(None, "model") == Route("model")


def test_dlc_attributes_are_parsed():
    route = parse_route("tfs-model-name=other,tfs-model-version=2,tfs-method=predict", "model")
    assert route == Route("other", 2, "predict", None)


def test_user_attributes_pass_and_spaces_are_tolerated():
    route = parse_route("trace=abc, tfs-model-version=7 ,user=x", "model")
    assert route == Route("model", 7)


@pytest.mark.parametrize("method", ["classify", "regress"])
def test_classify_and_regress_methods_are_routed(method):
    assert parse_route(f"tfs-method={method}", "m").method == method


def test_signature_name_attribute():
    assert parse_route("tfs-signature-name=classify_v2", "m").signature_name == "classify_v2"


@pytest.mark.parametrize(
    "header",
    [
        "tfs-model-name=../../etc/passwd",
        "tfs-model-name=a/b",
        "tfs-model-version=latest",
        "tfs-model-version=-1",
        "tfs-method=explain",
        "tfs-unknown=1",
        "tfs-model-name",
        "tfs-signature-name=a b",
    ],
)
def test_invalid_attributes_are_400(header):
    with pytest.raises(BadRequest) as info:
        parse_route(header, "model")
    assert info.value.status == 400
