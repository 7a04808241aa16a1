"""Run a module as `python -m` would, with only the given third-party packages importable.

    python extras_guard.py ALLOWED_JSON MODULE [ARGS...]

ALLOWED_JSON is a JSON list of top-level import names (the closure of an extra's requirements). Anything else
that is not the standard library or this repository fails with ModuleNotFoundError, as it would in a fresh
venv holding only that extra: a quicker stand-in for building one (TensorFlow alone is ~600 MB).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import runpy
import sys
import sysconfig

LOCAL = {"scripts", "train_container", "serve_container", "tests"}
# The interpreter's own library (a venv's sysconfig paths point into the venv, i.e. at site-packages).
_BASE = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
STDLIB = tuple({_BASE["stdlib"], _BASE["platstdlib"]})


class ExtraOnly(importlib.abc.MetaPathFinder):
    def __init__(self, allowed: set[str]):
        self.allowed = allowed

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if "." in fullname or top in sys.stdlib_module_names or top in LOCAL or top in self.allowed:
            return None  # submodules follow their (already admitted) parent; the normal finders take over
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec and spec.origin and spec.origin.startswith(STDLIB) and "-packages" not in spec.origin:
            return None  # stdlib internals that stdlib_module_names does not list (_sysconfigdata_*)
        raise ModuleNotFoundError(f"No module named {fullname!r} (not in the extra)", name=fullname)


def main() -> None:
    allowed, module, args = set(json.loads(sys.argv[1])), sys.argv[2], sys.argv[3:]
    sys.meta_path.insert(0, ExtraOnly(allowed))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
