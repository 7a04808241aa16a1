"""The command that runs the user's program, as the toolkit's process runner builds it.

A directory with setup.py is a package (pip-installed, then `python -m <module>`); a `.py` program runs with the
image's Python; anything else is a command run by /bin/sh from the code directory (made executable first).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from train_container.script.code import PIP_TIMEOUT_SECONDS, RequirementsError

PYTHON_PACKAGE, PYTHON_PROGRAM, COMMAND = "python_package", "python_program", "command"


def program_kind(code_dir: Path, program: str) -> str:
    if (code_dir / "setup.py").is_file():
        return PYTHON_PACKAGE
    return PYTHON_PROGRAM if program.endswith(".py") else COMMAND


def program_command(kind: str, program: str, args: Sequence[str], python: str = sys.executable) -> list[str]:
    if kind == PYTHON_PACKAGE:
        return [python, "-m", program.removesuffix(".py"), *args]
    if kind == PYTHON_PROGRAM:
        return [python, program, *args]
    return ["/bin/sh", "-c", " ".join([f"./{program}", *(shlex.quote(arg) for arg in args)])]


def prepare(code_dir: Path, program: str, python: str = sys.executable) -> str:
    """Install a package / make a command executable; returns the program kind."""
    kind = program_kind(code_dir, program)
    if kind == PYTHON_PACKAGE:
        done = subprocess.run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--root-user-action=ignore", "."],
            cwd=code_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            timeout=PIP_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
        print(done.stdout, end="", flush=True)
        if done.returncode != 0:
            tail = next((line for line in reversed(done.stdout.splitlines()) if line.strip()), "no output")
            raise RequirementsError(f"pip install of the package in {code_dir} failed: {tail.strip()}")
    elif kind == COMMAND:
        path = code_dir / program
        if path.is_file():
            path.chmod(path.stat().st_mode | 0o111)
    return kind
