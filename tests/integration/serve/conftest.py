"""Serving integration tests: the models they serve. The `serve` process itself: tests/support/serving.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import models


@pytest.fixture(scope="session")
def image_model_dir(tmp_path_factory) -> Path:
    """Two versions of the project's image classifier (different weights) with labels."""
    base = tmp_path_factory.mktemp("image-model") / "model"
    models.export_image_classifier(base, version=1, seed=1)
    models.export_image_classifier(base, version=2, seed=2)
    return base
