"""The READMEs name every setting the code reads: each hyperparameter in train_container/README.md's table, each
SAGEMAKER_* / BYOC_* environment variable in README.md. Users read the docs; the jobs read the contract modules."""

from __future__ import annotations

import re
from pathlib import Path

from train_container.hyperparameters import HYPERPARAMETER_NAMES

ROOT = Path(__file__).resolve().parents[3]
CODE = ("serve_container", "train_container", "scripts")
ENV_NAME = re.compile(r"""["']((?:SAGEMAKER|BYOC)_[A-Z0-9_]+)["']""")


def hyperparameter_table() -> list[str]:
    text = (ROOT / "train_container" / "README.md").read_text()
    section = text.split("## Hyperparameters", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])]


def env_names_in_code() -> set[str]:
    return {
        name for package in CODE for path in (ROOT / package).rglob("*.py")
        for name in ENV_NAME.findall(path.read_text())
    }  # fmt: skip


def test_the_hyperparameter_table_has_one_row_name_per_hyperparameter():
    names = hyperparameter_table()
    assert sorted(names) == sorted(HYPERPARAMETER_NAMES)
    assert len(names) == len(set(names))


def test_every_environment_variable_the_code_reads_is_in_the_readme():
    names = env_names_in_code()
    assert "SAGEMAKER_GUNICORN_WORKERS" in names and "BYOC_TFS_BINARY" in names  # the scan finds them
    readme = (ROOT / "README.md").read_text()
    assert sorted(name for name in names if name not in readme) == []
