"""Which trainer a job runs: the user's program when `sagemaker_program` is set (script mode, as the DLC), else
the built-in one. The one place that decides; both read the same /opt/ml and share the launchers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from train_container.hyperparameters import decode_value
from train_container.script.job import PROGRAM_KEY

SCRIPT = "script"
BUILTIN = "builtin"


def select(raw_hyperparameters: Mapping[str, Any]) -> str:
    program = decode_value(raw_hyperparameters.get(PROGRAM_KEY))
    return SCRIPT if program not in (None, "") else BUILTIN
