"""Which models exist: found in /opt/ml/model at start, or loaded and unloaded at run time (multi-model endpoint).

Layouts found in a model directory, as the DLC's `find_models` finds them (a numeric version directory holding
`saved_model.pb`, the model being its parent):
  <root>/<version>/saved_model.pb               one model, named SAGEMAKER_TFS_DEFAULT_MODEL_NAME (else "model")
  <root>/<name>/<version>/saved_model.pb        several models, each named after its directory
  <root>/export/Servo/<version>/saved_model.pb  Estimator exports: the model is named "Servo", as in the DLC
The default model (requests without tfs-model-name) is SAGEMAKER_TFS_DEFAULT_MODEL_NAME when set, else the root
model, else the first model by path.

Multi-model endpoints: gunicorn workers are separate processes, so which models are loaded lives in one file
(`models.json` in the run directory), changed only under an exclusive file lock; TF Serving is told through
ModelService/HandleReloadConfigRequest with the whole list, as its API requires.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import re
from pathlib import Path

from serve_container.contract import MODEL_NAME_PATTERN, Settings
from serve_container.errors import BadRequest, CatalogError, ModelNotFound

_VERSION_DIR = re.compile(r"^[0-9]+$")
REGISTRY_FILE = "models.json"
LOCK_FILE = "models.lock"
CONFIG_FILE = "model_config.pbtxt"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    base_path: Path
    versions: tuple[int, ...]
    url: str = ""  # multi-model: the url SageMaker gave
    generation: int = 0  # multi-model: changes on every load, so per-worker caches never outlive a reload

    @functools.cached_property  # asked on every request
    def code_dir(self) -> Path:
        return self.base_path / "code"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "base_path": str(self.base_path),
            "versions": list(self.versions),
            "url": self.url,
            "generation": self.generation,
        }

    @classmethod
    def from_json(cls, data: dict) -> ModelEntry:
        return cls(data["name"], Path(data["base_path"]), tuple(data["versions"]), data["url"], data["generation"])


def has_saved_model(directory: Path) -> bool:
    return (directory / "saved_model.pb").is_file() or (directory / "saved_model.pbtxt").is_file()


def find_versions(model_dir: Path) -> list[int]:
    """Numeric version directories holding a SavedModel, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(entry.name) for entry in model_dir.iterdir() if _VERSION_DIR.match(entry.name) and has_saved_model(entry)
    )


def _model_dirs(root: Path, depth: int = 0) -> list[Path]:
    """Directories with numeric SavedModel version children, under root (root included), sorted by path."""
    if depth > 6 or not root.is_dir():
        return []
    found = [root] if find_versions(root) else []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.is_symlink() and not _VERSION_DIR.match(child.name) and child.name != "code":
            found.extend(_model_dirs(child, depth + 1))
    return found


def discover(root: Path, root_name: str) -> list[ModelEntry]:
    """Every model under root; raises CatalogError for two models with one name."""
    entries, seen = [], {}
    for directory in _model_dirs(root):
        name = root_name if directory == root else directory.name
        if not MODEL_NAME_PATTERN.match(name):
            raise CatalogError(f"model directory {directory} is not a valid model name ({MODEL_NAME_PATTERN.pattern})")
        if name in seen:
            raise CatalogError(f"two models are named {name!r}: {seen[name]} and {directory}; rename one directory")
        seen[name] = directory
        entries.append(ModelEntry(name, directory.resolve(), tuple(find_versions(directory))))
    return entries


def no_model_message(root: Path) -> str:
    return (
        f"no SavedModel found: expected {root}/<version>/saved_model.pb, {root}/<name>/<version>/saved_model.pb "
        f"or {root}/export/Servo/<version>/saved_model.pb (numeric version directories, as the training container "
        "exports)"
    )


@dataclasses.dataclass(frozen=True)
class StaticCatalog:
    """The models of /opt/ml/model, fixed for the container's life."""

    entries: tuple[ModelEntry, ...]
    default: str

    @classmethod
    def from_settings(cls, settings: Settings) -> StaticCatalog:
        entries = discover(settings.model_dir, settings.model_name)
        if not entries:
            raise CatalogError(no_model_message(settings.model_dir))
        names = [e.name for e in entries]
        if settings.model_name in names:
            default = settings.model_name
        elif settings.default_model_explicit:
            raise CatalogError(
                f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME={settings.model_name!r} names no model in "
                f"{settings.model_dir}; found {names}"
            )
        else:
            default = names[0]
        return cls(tuple(entries), default)

    def get(self, name: str) -> ModelEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise ModelNotFound(f"model {name!r} is not served here; models: {[e.name for e in self.entries]}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_config_text(entries: list[ModelEntry] | tuple[ModelEntry, ...]) -> str:
    """ModelServerConfig (text proto) serving every exported version, so tfs-model-version can pick one."""
    blocks = []
    for entry in entries:
        versions = "".join(f"        versions: {v}\n" for v in entry.versions)
        blocks.append(
            "  config {\n"
            f"    name: {_quote(entry.name)}\n"
            f"    base_path: {_quote(str(entry.base_path))}\n"
            '    model_platform: "tensorflow"\n'
            "    model_version_policy {\n"
            "      specific {\n"
            f"{versions}"
            "      }\n"
            "    }\n"
            "  }\n"
        )
    return "model_config_list {\n" + "".join(blocks) + "}\n"


def write_atomic(path: Path, text: str) -> Path:
    # Write-then-rename: a reader (a worker, a restarted TF Serving) never sees a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def directory_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def model_from_url(name: str, url: str) -> ModelEntry:
    """What POST /models may load: an existing directory holding exactly one model (any layout above)."""
    if not MODEL_NAME_PATTERN.match(name or ""):
        raise BadRequest(f"model_name {name!r} is not a valid model name ({MODEL_NAME_PATTERN.pattern})")
    if not url or not os.path.isabs(url):
        raise BadRequest(f"url {url!r} must be an absolute path to the model's directory")
    path = Path(url)
    if not path.is_dir():
        raise ModelNotFound(f"url {url!r} is not a directory: could not find valid base path for model {name!r}")
    try:
        found = discover(path, name)
    except CatalogError as error:
        raise BadRequest(str(error)) from None
    if not found:
        raise BadRequest(no_model_message(path))
    if len(found) > 1:
        raise BadRequest(f"url {url!r} holds several models {[e.name for e in found]}; load them one by one")
    return dataclasses.replace(found[0], name=name, url=url)


class Registry:
    """The multi-model endpoint's loaded models, shared by every worker through files in the run directory."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / REGISTRY_FILE
        self.config_path = run_dir / CONFIG_FILE
        self.lock_path = run_dir / LOCK_FILE
        self._cache: tuple[tuple[int, int], dict[str, ModelEntry]] | None = None

    def reset(self) -> None:
        """At container start: no models (also after a restart reusing the run directory)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.locked():
            self.save({})

    @contextlib.contextmanager
    def locked(self):
        """One load/unload at a time across worker processes; readers need no lock (files are renamed in)."""
        with open(self.lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def models(self) -> dict[str, ModelEntry]:
        """Re-read only when the file changed: one stat per request."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (stat.st_ino, stat.st_mtime_ns)
        if self._cache is None or self._cache[0] != key:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._cache = (key, {d["name"]: ModelEntry.from_json(d) for d in data["models"]})
        return self._cache[1]

    def save(self, models: dict[str, ModelEntry]) -> None:
        ordered = [models[name] for name in sorted(models)]
        # TF Serving's own config file first: a TF Serving restarted by the supervisor reloads exactly these.
        write_atomic(self.config_path, model_config_text(ordered))
        write_atomic(self.path, json.dumps({"models": [e.to_json() for e in ordered]}))

    def get(self, name: str) -> ModelEntry:
        entry = self.models().get(name)
        if entry is None:
            raise ModelNotFound(f"model {name!r} is not loaded")
        return entry

    def page(self, token: str | None, size: int) -> tuple[list[ModelEntry], str | None]:
        """Models by name after the token's name; the token is opaque to SageMaker (base64 of the last name)."""
        after = ""
        if token:
            try:
                after = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
            except (ValueError, UnicodeError):
                raise BadRequest(f"next_page_token {token!r} is not one this container issued") from None
        names = sorted(name for name in self.models() if name > after)
        chosen = names[:size]
        more = len(names) > size
        next_token = base64.urlsafe_b64encode(chosen[-1].encode("utf-8")).decode("ascii") if more else None
        models = self.models()
        return [models[name] for name in chosen], next_token
