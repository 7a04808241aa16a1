"""The hyperparameter table in train_container/README.md names every hyperparameter the trainer accepts, and no
other: users read the table, the job reads hyperparameters.py."""

from __future__ import annotations

import re
from pathlib import Path

from train_container.hyperparameters import HYPERPARAMETER_NAMES

README = Path(__file__).resolve().parents[3] / "train_container" / "README.md"


def documented_names() -> list[str]:
    section = README.read_text().split("## Hyperparameters", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])]


def test_the_readme_table_documents_every_hyperparameter_once():
    names = documented_names()
    assert sorted(names) == sorted(HYPERPARAMETER_NAMES)
    assert len(names) == len(set(names))
