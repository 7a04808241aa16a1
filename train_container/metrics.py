"""One metrics line per epoch, and the SageMaker MetricDefinitions that parse it (HPO, CloudWatch).

Line format (stable; launchers and tuning jobs depend on it), epochs 1-based, only the chief prints:
    epoch=3 loss=0.5123 accuracy=0.8123 val_loss=0.6100 val_accuracy=0.8000
and after training, when an `eval` channel is given:
    eval_loss=0.6012 eval_accuracy=0.8050
No TensorFlow import at module level: `scripts/` imports METRIC_DEFINITIONS.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
EVAL_METRICS = ("eval_loss", "eval_accuracy")
_NUMBER = r"([-+]?(?:[0-9]*\.)?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf)"


def _regex(name: str) -> str:
    # Plain syntax (no lookbehind, no anchors) so any regex engine and any log prefix (mpirun's
    # --tag-output) work; requiring a space before the name keeps `loss=` out of `val_loss=`.
    if name in EPOCH_METRICS:
        return rf"epoch=\d+ (?:\S+ )*{name}={_NUMBER}"
    return rf"{name}={_NUMBER}"


# SageMaker's MetricDefinitions shape: estimator(metric_definitions=...), HPO objective metric names.
METRIC_DEFINITIONS: tuple[dict[str, str], ...] = tuple(
    {"Name": name, "Regex": _regex(name)} for name in EPOCH_METRICS + EVAL_METRICS
)
OBJECTIVE_METRIC = "val_accuracy"


def format_metrics(values: Mapping[str, Any], names: tuple[str, ...], epoch: int | None = None) -> str:
    parts = [f"epoch={epoch}"] if epoch is not None else []
    parts += [f"{name}={float(values[name]):.4f}" for name in names if values.get(name) is not None]
    return " ".join(parts)


def format_epoch_line(epoch: int, logs: Mapping[str, Any]) -> str:
    """`epoch` is 1-based; unknown keys in `logs` are left out so the line shape never drifts."""
    return format_metrics(logs, EPOCH_METRICS, epoch=epoch)


def format_eval_line(results: Mapping[str, Any]) -> str:
    return format_metrics({f"eval_{k}": v for k, v in results.items()}, EVAL_METRICS)


def parse_line(line: str) -> dict[str, float]:
    """What SageMaker would extract from one log line with METRIC_DEFINITIONS."""
    found = {}
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], line)
        if match:
            found[definition["Name"]] = float(match.group(1))
    return found


def epoch_logger(is_chief: bool = True, stream: TextIO | None = None):
    """A Keras callback printing `format_epoch_line` after each epoch (silent on non-chief ranks)."""
    import tf_keras

    class EpochMetricsLogger(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if is_chief:
                print(format_epoch_line(epoch + 1, logs or {}), file=stream or sys.stdout, flush=True)

    return EpochMetricsLogger()
