"""docker/base_images.json is the one home of the DLC tags; the Dockerfiles' defaults must agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BASES = json.loads((ROOT / "docker" / "base_images.json").read_text())


def dlc_uri(kind: str, device: str, region: str) -> str:
    """The URI template base_images.json documents (account and domain vary by region)."""
    account = BASES["accounts"].get(region, BASES["default_account"])
    domain = BASES["domains"].get(region, BASES["domains"]["default"])
    image = BASES["images"][kind]
    return f"{account}.dkr.ecr.{region}.{domain}/{image['repository']}:{image[device]}"


def dockerfile_default(dockerfile: str) -> str:
    text = (ROOT / "docker" / dockerfile).read_text()
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert match, f"{dockerfile} has no ARG BASE_IMAGE default"
    return match.group(1)


@pytest.mark.parametrize(
    ("dockerfile", "kind"), [("train.Dockerfile", "training"), ("serve.Dockerfile", "inference")]
)
def test_dockerfile_default_base_is_the_us_west_2_cpu_entry(dockerfile, kind):
    assert BASES["default_region"] == "us-west-2"
    assert dockerfile_default(dockerfile) == dlc_uri(kind, "cpu", "us-west-2")


def test_pinned_dlc_versions_match_design():
    assert dlc_uri("training", "cpu", "us-west-2") == (
        "763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.16.2-cpu-py310-ubuntu20.04-sagemaker"
    )
    assert BASES["images"]["training"]["gpu"] == "2.16.2-gpu-py310-cu123-ubuntu20.04-sagemaker"
    assert BASES["images"]["inference"]["gpu"] == "2.16.1-gpu-py310-cu122-ubuntu20.04-sagemaker"


def test_china_regions_use_their_own_account_and_domain():
    uri = dlc_uri("inference", "cpu", "cn-north-1")
    assert uri.startswith("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_local_stand_in_tags_are_the_shared_ones():
    assert BASES["local"] == {
        "training": "byoc-local/tensorflow-training:2.16.2-cpu",
        "inference": "byoc-local/tensorflow-inference:2.16-cpu",
    }


def test_product_dockerfiles_use_exec_form_entrypoint_and_cmd():
    for dockerfile, command in (("train.Dockerfile", "train"), ("serve.Dockerfile", "serve")):
        text = (ROOT / "docker" / dockerfile).read_text()
        assert 'ENTRYPOINT ["/usr/local/bin/byoc-entrypoint"]' in text
        assert f'CMD ["{command}"]' in text


def test_product_dockerfiles_never_copy_a_ca_bundle():
    for dockerfile in ("train.Dockerfile", "serve.Dockerfile"):
        lines = (ROOT / "docker" / dockerfile).read_text().splitlines()
        copies = [line for line in lines if line.startswith("COPY")]
        assert not [line for line in copies if re.search(r"\.(crt|pem)\b|ca-certificates", line)], copies
