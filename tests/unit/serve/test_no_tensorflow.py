"""The serving image's Python has no TensorFlow runtime: every serve_container module imports without it."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import serve_container

REPO_ROOT = Path(__file__).resolve().parents[3]

# `tensorflow` becomes a bare namespace over the installed package directory, so its __init__ (the runtime)
# never runs; only the generated protobuf modules under tensorflow.core / tensorflow.tsl may load.
_BLOCKER = r"""
import importlib.abc, importlib.machinery, importlib.util, sys

TF_DIR = sys.argv[1]
ALLOWED = ("tensorflow.core", "tensorflow.tsl")
BLOCKED_TOP = ("tf_keras", "keras", "tensorboard")


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow":
            spec = importlib.machinery.ModuleSpec("tensorflow", None, is_package=True)
            spec.submodule_search_locations = [TF_DIR]
            return spec
        if name.startswith("tensorflow.") and not name.startswith(ALLOWED):
            raise ImportError(f"serving code imported the TensorFlow runtime: {name}")
        if name.split(".")[0] in BLOCKED_TOP:
            raise ImportError(f"serving code imported {name}")
        return None


sys.meta_path.insert(0, NoTensorFlow())
import importlib
for module in sys.argv[2:]:
    importlib.import_module(module)
leaked = sorted(m for m in sys.modules if m.startswith("tensorflow.") and not m.startswith(ALLOWED))
assert not leaked, leaked
protos = sum(m.startswith("tensorflow.") for m in sys.modules)
print("imported", len(sys.argv) - 2, "modules;", protos, "protos")
"""


def _all_modules() -> list[str]:
    names = ["serve_container"]
    for info in pkgutil.walk_packages(serve_container.__path__, "serve_container."):
        names.append(info.name)
    return names


def _tf_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("tensorflow")  # locating it does not import it
    return str(Path(spec.origin).parent)


def test_every_module_imports_without_tensorflow_runtime():
    modules = _all_modules()
    assert "serve_container.app" in modules and "serve_container.decoders.tfrecord" in modules
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKER, _tf_dir(), *modules],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"imported {len(modules)} modules" in result.stdout


def test_blocker_catches_a_runtime_import():
    # The guard itself must be able to fail: importing the TF runtime through it is refused.
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKER, _tf_dir(), "tensorflow.python"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "imported the TensorFlow runtime: tensorflow.python" in result.stderr
