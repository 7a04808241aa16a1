"""Extract from the TensorFlow wheel only the generated *_pb2.py modules the TF Serving API needs.

The DLC inference image has no TensorFlow in its Python, yet `tensorflow_serving.apis.*_pb2` import
`tensorflow.core...._pb2` messages (TensorProto, SignatureDef, Example...). We copy that closure, and nothing
else, out of the pinned wheel as a `tensorflow` *namespace* package: no `tensorflow/__init__.py`, so no TF
runtime is importable and `importlib.metadata` still reports TensorFlow as not installed.

Usage: extract_tf_protos.py TF_WHEEL TFS_API_WHEEL DEST [EXTRA_MODULE ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

# `from tensorflow.core.framework import tensor_pb2 as ...` is the only import form protoc emits.
_PB2_IMPORT = re.compile(r"^from ((?:tensorflow|tsl|xla)[\w.]*) import (\w+_pb2)\b", re.MULTILINE)
# Served models need these even when no TFS api module imports them directly (TFRecord requests).
DEFAULT_EXTRA_MODULES = ("tensorflow.core.example.example_pb2",)


def module_to_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def pb2_imports(source: str) -> list[str]:
    return [f"{package}.{name}" for package, name in _PB2_IMPORT.findall(source)]


def closure(roots: list[str], read_module) -> dict[str, str]:
    """{module: source} of modules reachable from roots via pb2 imports (read_module: None if absent)."""
    found: dict[str, str] = {}
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module in found:
            continue
        source = read_module(module)
        if source is None:
            raise LookupError(f"{module} is imported but not in the TensorFlow wheel")
        found[module] = source
        pending.extend(pb2_imports(source))
    return found


def package_inits(module_paths: list[str], wheel_names: set[str]) -> list[str]:
    """The wheel's __init__.py of every enclosing package, except the top-level one (it loads the runtime)."""
    inits = set()
    for path in module_paths:
        parents = PurePosixPath(path).parents
        for parent in list(parents)[:-2]:  # drop "." and the top-level package
            init = f"{parent}/__init__.py"
            if init in wheel_names:
                inits.add(init)
    return sorted(inits)


def extract(tf_wheel: Path, tfs_wheel: Path, dest: Path, extra_modules: list[str]) -> list[str]:
    with zipfile.ZipFile(tfs_wheel) as tfs:
        roots = []
        for name in tfs.namelist():
            if name.startswith("tensorflow_serving/") and name.endswith("_pb2.py"):
                roots.extend(m for m in pb2_imports(tfs.read(name).decode()) if m.startswith("tensorflow."))
    with zipfile.ZipFile(tf_wheel) as tf:
        names = set(tf.namelist())

        def read_module(module: str) -> str | None:
            path = module_to_path(module)
            return tf.read(path).decode() if path in names else None

        modules = closure(roots + extra_modules, read_module)
        paths = sorted(module_to_path(m) for m in modules)
        to_copy = paths + package_inits(paths, names)
        for path in to_copy:
            if not path.startswith("tensorflow/") or path == "tensorflow/__init__.py":
                raise ValueError(f"refusing to extract {path}: outside the tensorflow namespace")
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tf.read(path))
    return to_copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tf_wheel", type=Path)
    parser.add_argument("tfs_api_wheel", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("extra_modules", nargs="*", default=list(DEFAULT_EXTRA_MODULES))
    args = parser.parse_args(argv)
    try:
        copied = extract(args.tf_wheel, args.tfs_api_wheel, args.dest, args.extra_modules)
    except (OSError, zipfile.BadZipFile, LookupError, ValueError) as error:
        print(f"extract_tf_protos: {error}", file=sys.stderr)
        return 1
    print(f"extract_tf_protos: {len(copied)} files from {args.tf_wheel.name} into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
