"""Fixtures for the training unit tests: SageMaker-shaped trees and TFRecords written independently."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def sm_root(tmp_path):
    """A minimal tree: a train channel with labels.txt; tests add config files as they need."""
    train = tmp_path / "input" / "data" / "train"
    train.mkdir(parents=True)
    (train / "labels.txt").write_text("cat\ndog\nbird\n")
    (tmp_path / "input" / "config").mkdir(parents=True)
    return tmp_path
