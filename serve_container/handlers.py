"""Optional user hooks from `model/code/inference.py`, DLC-compatible.

Either `input_handler(data, context)` and/or `output_handler(response, context)`, or one
`handler(data, context)`.
The DLC's hooks speak TF Serving's REST JSON; we bridge that to gRPC: a JSON string (or dict/list) returned by
`input_handler` goes through the JSON decoder, and `output_handler` receives a requests.Response-like object
whose `.content` is the TFS REST JSON body.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

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
        return json.loads(self.content)


@dataclasses.dataclass(frozen=True)
class Hooks:
    input_handler: Any = None
    output_handler: Any = None
    handler: Any = None

    @property
    def any(self) -> bool:
        return bool(self.input_handler or self.output_handler or self.handler)


def load_hooks(code_dir: Path) -> Hooks:
    """Import inference.py once per worker; a broken script fails the worker at start, not per request."""
    script = code_dir / "inference.py"
    if not script.is_file():
        return Hooks()
    for path in (code_dir / "lib", code_dir):
        if path.is_dir() and str(path) not in sys.path:
            sys.path.insert(0, str(path))
    spec = importlib.util.spec_from_file_location("inference", script)
    module = importlib.util.module_from_spec(spec)
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
