"""The training image's Processing tools: pip installs only what the base lacks (nothing on the DLC)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "docker" / "build"))
import missing_requirements  # noqa: E402


def test_names_skip_comments_options_and_version_specifiers():
    text = (
        "# why\n-c dev-constraints.txt\npillow\nscikit-learn>=1.0  # sklearn\n\n"
        "matplotlib[extra]==3.9 ; python_version>'3'\n"
    )
    assert missing_requirements.requirement_names(text) == ["pillow", "scikit-learn", "matplotlib"]


def test_only_absent_distributions_are_printed(tmp_path):
    requirements = tmp_path / "processing.txt"
    requirements.write_text("numpy\nbyoc-no-such-distribution\nscikit-learn\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "build" / "missing_requirements.py"), str(requirements)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["byoc-no-such-distribution"]


def test_the_processing_requirements_are_pinned_by_the_file_they_include():
    text = (ROOT / "requirements" / "processing.txt").read_text()
    assert "-c dev-constraints.txt" in text.splitlines()
    pins = (ROOT / "requirements" / "dev-constraints.txt").read_text() + (
        ROOT / "requirements" / "constraints.txt"
    ).read_text()
    pinned = {line.split("==")[0].strip().lower() for line in pins.splitlines() if "==" in line}
    assert set(missing_requirements.requirement_names(text)) <= pinned
