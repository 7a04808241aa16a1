"""Saving under MultiWorkerMirroredStrategy is collective: every worker must run the same save.

If only the chief saves, its save blocks in an all-reduce the other workers never join, and the job dies
on TF's heartbeat timeout. TF's documented pattern: non-chief workers save too, into a throwaway
directory, and only the chief's copy is kept.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from train_container.contract import TrainingEnv


def export_as_non_chief(model, settings: TrainingEnv) -> None:
    from train_container.export import export_model

    with tempfile.TemporaryDirectory(prefix="export-worker-") as scratch:
        export_model(model, replace(settings, root=Path(scratch)))
