"""Optional user hooks from `model/code/inference.py`, DLC-compatible.

Either `input_handler(data, context)` and/or `output_handler(response, context)`, or one
`handler(data, context)`.
The DLC's hooks speak TF Serving's REST JSON; we bridge that to gRPC: a JSON string (or dict/list) returned by
`input_handler` goes through the JSON decoder, and `output_handler` receives a requests.Response-like object
whose `.content` is the TFS REST JSON body.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import dataclasses
import importlib.util
import io
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np

from serve_container import jsontext
from serve_container.errors import HookError

# Same fields, same order as the DLC's tfs_utils.Context, so user code written for it keeps working.
Context = collections.namedtuple(
    "Context",
    "model_name, model_version, method, rest_uri, grpc_port, channel, "
    "custom_attributes, request_content_type, accept_header, content_length",
)


@dataclasses.dataclass
class TfsResponse:
    """The slice of requests.Response that DLC output handlers use."""

    content: bytes
    status_code: int = 200
    outputs: dict[str, np.ndarray] | None = None  # ours: the raw arrays, for handlers that want them

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self) -> Any:
        return jsontext.loads(self.content)


@dataclasses.dataclass(frozen=True)
class Hooks:
    input_handler: Any = None
    output_handler: Any = None
    handler: Any = None

    @property
    def any(self) -> bool:
        return bool(self.input_handler or self.output_handler or self.handler)


NO_HOOKS = Hooks()


def _code_paths(code_dir: Path) -> list[Path]:
    """Where inference.py's own imports are found, first first: code/ then code/lib/ (the DLC's --pythonpath)."""
    return [path for path in (code_dir, code_dir / "lib") if path.is_dir()]


def _importable_names(paths: list[Path]) -> set[str]:
    """Top-level module names these directories provide (helper.py, a package dir, an extension module)."""
    names = set()
    for path in paths:
        for entry in path.iterdir():
            if entry.name.startswith((".", "__")):
                continue
            if entry.is_dir():
                names.add(entry.name)
            elif entry.suffix in (".py", ".pyc", ".so", ".pyd"):
                names.add(entry.name.split(".", 1)[0])
    return names


def _comes_from(module, paths: list[Path]) -> bool:
    files = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    roots = [str(path) + os.sep for path in paths]
    return any(isinstance(f, str) and f.startswith(tuple(roots)) for f in files)


# Held while sys.path / sys.modules are rearranged for one model's imports, so two models never interleave.
_IMPORT_LOCK = threading.RLock()


class _OwnImports:
    """One model's modules from its code/ and code/lib/ (the DLC appends a model's code/lib to sys.path for the
    worker's life, shared by every model; ours stay this model's).

    While its inference.py runs, and whenever one of its functions imports later (a request-time `import
    helper` inside a hook), its own directories come first on sys.path and modules of the same names that other
    code imported are set aside, so the model gets its own helper.py. Afterwards its modules leave sys.modules
    again (kept here, so a repeated import returns the same module) and sys.path is as before.
    Covered: import statements in inference.py's own code. Not covered: importlib.import_module, and imports
    inside a helper module's functions at request time (those see the shared sys.path).
    """

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.names = _importable_names(paths)
        self.modules: dict[str, types.ModuleType] = {}
        self._active = False

    @contextlib.contextmanager
    def active(self):
        with _IMPORT_LOCK:
            if self._active:  # an import inside one of ours: everything is already in place
                yield
                return
            set_aside = {name: m for name, m in sys.modules.items() if name.partition(".")[0] in self.names}
            for name in set_aside:
                del sys.modules[name]
            sys.modules.update(self.modules)
            saved_path = list(sys.path)
            sys.path[:0] = [str(path) for path in self.paths]
            self._active = True
            try:
                yield
            finally:
                self._active = False
                sys.path[:] = saved_path
                for name, module in list(sys.modules.items()):
                    if _comes_from(module, self.paths):
                        self.modules[name] = sys.modules.pop(name)
                sys.modules.update(set_aside)

    def import_(self, name, globals=None, locals=None, fromlist=(), level=0):
        """__import__ for the model's inference.py: its own names privately, every other name as usual."""
        absolute = name if level == 0 else (globals or {}).get("__package__") or ""
        if absolute.partition(".")[0] not in self.names:
            return builtins.__import__(name, globals, locals, fromlist, level)
        if level == 0 and name in self.modules and all(hasattr(self.modules[name], item) for item in fromlist or ()):
            return self.modules[name] if fromlist else self.modules[name.partition(".")[0]]  # imported before
        with self.active():
            return builtins.__import__(name, globals, locals, fromlist, level)


def load_hooks(code_dir: Path, module_name: str = "inference", private: bool = False) -> Hooks:
    """Import inference.py once per worker; a broken script fails the worker at start, not per request.

    The shared script (`private=False`) gets its directories on sys.path for the worker's life, as the DLC's
    --pythonpath does. A model's own script (`private=True`) imports its helpers without sharing their names
    with other models, at import time and at request time (see _OwnImports).
    """
    script = code_dir / "inference.py"
    if not script.is_file():
        return Hooks()
    paths = [path.resolve() for path in _code_paths(code_dir)]
    spec = importlib.util.spec_from_file_location(module_name, script)
    module = importlib.util.module_from_spec(spec)
    if private:
        own = _OwnImports(paths)
        # Its functions keep these builtins: their import statements go through own.import_ at any time.
        module.__builtins__ = {**vars(builtins), "__import__": own.import_}
        with own.active():
            sys.modules[module_name] = module  # while it runs: dataclasses look their module up there
            spec.loader.exec_module(module)
    else:
        for path in reversed(paths):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        spec.loader.exec_module(module)
    hooks = Hooks(
        getattr(module, "input_handler", None),
        getattr(module, "output_handler", None),
        getattr(module, "handler", None),
    )
    if hooks.handler and (hooks.input_handler or hooks.output_handler):
        raise ValueError(f"{script}: define handler, or input_handler/output_handler, not both")
    if not hooks.any:
        raise ValueError(f"{script} defines none of input_handler, output_handler, handler")
    return hooks


def call_hook(func, *args):
    try:
        return func(*args)
    except Exception as exc:  # the user's code: report it, never kill the worker
        raise HookError(f"{func.__name__} in inference.py raised {type(exc).__name__}: {exc}") from exc


def input_stream(body: bytes) -> io.BytesIO:
    return io.BytesIO(body)


class HookSet:
    """The hooks a model runs: its own `<model>/code/inference.py`, else the shared one (model dir's `code/`).

    Per-model scripts are imported on a model's first request in each worker and kept per (path, generation), so
    a multi-model reload under the same name imports the new script. A broken per-model script fails that
    model's requests (500 naming it), never the worker.
    """

    def __init__(self, shared: Hooks, shared_dir: Path | None, enabled: bool = True):
        self.shared = shared
        self.shared_dir = shared_dir.resolve() if shared_dir else None
        self.enabled = enabled
        self._own: dict[tuple[Path, int], Hooks] = {}
        # Every request asks: the answer per (code dir as given, generation) is kept, so the file system is
        # looked at once per model version, not per request (a reload is a new generation).
        self._answers: dict[tuple[Path, int], Hooks] = {}
        self._lock = threading.Lock()

    def for_model(self, code_dir: Path, generation: int = 0) -> Hooks:
        if not self.enabled:
            return NO_HOOKS
        answer = self._answers.get((code_dir, generation))
        if answer is None:
            answer = self._answers[(code_dir, generation)] = self._find(code_dir, generation)
        return answer

    def _find(self, given: Path, generation: int) -> Hooks:
        code_dir = given.resolve()
        if code_dir == self.shared_dir or not (code_dir / "inference.py").is_file():
            return self.shared
        key = (code_dir, generation)
        with self._lock:
            if key not in self._own:
                module = f"inference_{abs(hash(key)):x}"
                try:
                    self._own[key] = load_hooks(code_dir, module, private=True)
                except Exception as exc:  # not kept: the next request tries again and reports it again
                    script = code_dir / "inference.py"
                    raise HookError(f"{script} failed to import: {type(exc).__name__}: {exc}") from exc
            return self._own[key]
