"""Container tier: the product images under test, and running commands inside them.

`make test` builds the images (dev/images.py) and exports their refs as BYOC_TRAIN_IMAGE / BYOC_SERVE_IMAGE.
Without them these tests FAIL rather than skip: a container tier that silently does nothing proves nothing.
"""

from __future__ import annotations

import pytest

from tests.support.docker import image_from_env


@pytest.fixture(scope="session")
def train_image() -> str:
    return image_from_env("BYOC_TRAIN_IMAGE")


@pytest.fixture(scope="session")
def serve_image() -> str:
    return image_from_env("BYOC_SERVE_IMAGE")
