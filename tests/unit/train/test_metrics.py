"""Metrics lines and the MetricDefinitions regexes SageMaker applies to them."""

from __future__ import annotations

import io
import math
import re

import pytest

from train_container import metrics


def test_epoch_line_format_is_stable():
    logs = {"loss": 0.51234, "accuracy": 0.8123, "val_loss": 0.61, "val_accuracy": 0.8, "learning_rate": 0.1}
    assert metrics.format_epoch_line(3, logs) == (
        "epoch=3 loss=0.5123 accuracy=0.8123 val_loss=0.6100 val_accuracy=0.8000"
    )


@pytest.mark.parametrize("prefix", ["", "[1,0]<stdout>:", "2026-01-01T00:00:00 algo-1 "])
def test_each_definition_extracts_its_own_value(prefix):
    logs = {"loss": 1.25, "accuracy": 0.5, "val_loss": 2.5, "val_accuracy": 0.75}
    parsed = metrics.parse_line(prefix + metrics.format_epoch_line(12, logs))
    assert parsed == logs


def test_loss_regex_does_not_match_val_loss():
    assert metrics.parse_line("epoch=1 val_loss=0.3000 val_accuracy=0.9000") == {
        "val_loss": 0.3,
        "val_accuracy": 0.9,
    }


def test_eval_line_is_parsed_and_not_mistaken_for_an_epoch():
    line = metrics.format_eval_line({"loss": 0.25, "accuracy": 0.875})
    assert line == "eval_loss=0.2500 eval_accuracy=0.8750"
    assert metrics.parse_line(line) == {"eval_loss": 0.25, "eval_accuracy": 0.875}


def test_nan_loss_is_reported_not_dropped():
    parsed = metrics.parse_line(metrics.format_epoch_line(1, {"loss": float("nan"), "accuracy": 0.1}))
    assert math.isnan(parsed["loss"]) and parsed["accuracy"] == 0.1


def test_definitions_have_sagemaker_shape_and_compile():
    names = [d["Name"] for d in metrics.METRIC_DEFINITIONS]
    assert names == ["loss", "accuracy", "val_loss", "val_accuracy", "eval_loss", "eval_accuracy"]
    assert metrics.OBJECTIVE_METRIC in names
    for definition in metrics.METRIC_DEFINITIONS:
        assert set(definition) == {"Name", "Regex"}
        assert re.compile(definition["Regex"]).groups == 1


def test_callback_prints_on_chief_only():
    chief, worker = io.StringIO(), io.StringIO()
    metrics.epoch_logger(True, chief).on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    metrics.epoch_logger(False, worker).on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    assert chief.getvalue() == "epoch=1 loss=1.0000 accuracy=0.5000\n"
    assert worker.getvalue() == ""
