"""Which versions are on disk, loaded, and in what state: a small ServerCore + ServableStateMonitor.

Mirrors TF Serving's defaults: numeric subdirectories of base_path are versions (anything else, e.g. `code/`
or a hidden staging dir, is ignored); the version policy picks the aspired versions (latest 1 by default);
a new version is loaded before the one it replaces is unloaded (AvailabilityPreservingPolicy); states go
START -> LOADING -> AVAILABLE -> UNLOADING -> END, and a load that fails after its retries ends in END with
the error. Unloaded versions stay in the status list, as TFS's monitor keeps them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable

import grpc
import standin_config
from standin_servable import Servable, ServingError
from tensorflow_serving.apis import get_model_status_pb2

State = get_model_status_pb2.ModelVersionStatus.State
log = logging.getLogger("tfs_standin")


@dataclasses.dataclass
class VersionState:
    version: int
    state: int = State.START
    error_code: int = 0  # tensorflow.error.Code; 0 = OK
    error_message: str = ""
    servable: Servable | None = None


@dataclasses.dataclass(frozen=True)
class LoadSettings:
    tags: frozenset[str]
    batching: standin_config.BatchingSettings | None
    max_num_load_retries: int
    retry_interval_seconds: float
    load_delay_seconds: float  # test-only hook, see standin_flags.TestHooks


def versions_on_disk(base_path: str) -> set[int] | None:
    """Numeric subdirectories of base_path; None if base_path cannot be listed."""
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return None
    return {int(e.name) for e in entries if e.name.isdigit() and e.is_dir()}


def request_text(name: str, version: int | None) -> str:
    """ServableRequest::DebugString, used in TFS's NOT_FOUND message."""
    return f"Latest({name})" if version is None else f"Specific({name}, {version})"


class ModelManager:
    def __init__(
        self,
        models: tuple[standin_config.ModelConfig, ...],
        settings: LoadSettings,
        loader: Callable[..., Servable] = Servable.load,
    ):
        self._models = {m.name: m for m in models}
        self._settings = settings
        self._loader = loader
        self._lock = threading.Lock()
        self._versions: dict[str, dict[int, VersionState]] = {m.name: {} for m in models}
        self._warned: set[str] = set()
        # One loader at a time, as TFS's single load thread: the poller and HandleReloadConfigRequest share it.
        self._load_lock = threading.RLock()

    # ---- polling and loading (one thread; TFS's default is also one load thread)
    def poll_once(self) -> None:
        with self._load_lock:
            for model in list(self._models.values()):
                self._poll_model(model)

    def _poll_model(self, model: standin_config.ModelConfig) -> None:
        on_disk = versions_on_disk(model.base_path)
        if on_disk is None:
            self._warn_once(model, f"Could not find base path {model.base_path} for servable {model.name}")
            return
        if not on_disk:
            self._warn_once(
                model,
                f"No versions of servable {model.name} found under base path {model.base_path}. Did you "
                "forget to name your leaf directories as numbers (eg. '/1/' vs. '/1/1')?",
            )
            return
        self._warned.discard(model.name)
        aspired = model.policy.aspired(on_disk)
        for version in sorted(aspired):
            if self._needs_load(model.name, version):
                self._load(model, version)
        self._unload_unaspired(model, aspired)

    def _needs_load(self, name: str, version: int) -> bool:
        """New versions load; a cleanly unloaded one reloads if aspired again; a failed one stays failed."""
        with self._lock:
            entry = self._versions[name].get(version)
            return entry is None or (entry.state == State.END and not entry.error_code)

    def _warn_once(self, model: standin_config.ModelConfig, message: str) -> None:
        if model.name not in self._warned:
            log.warning(message)
            self._warned.add(model.name)

    def _set(self, name: str, version: int, **fields) -> VersionState:
        with self._lock:
            entry = self._versions[name].setdefault(version, VersionState(version))
            for key, value in fields.items():
                setattr(entry, key, value)
            return entry

    def _load(self, model: standin_config.ModelConfig, version: int) -> None:
        path = os.path.join(model.base_path, str(version))
        log.info("Loading servable version {name: %s version: %d} from %s", model.name, version, path)
        self._set(model.name, version, state=State.LOADING)
        if self._settings.load_delay_seconds:
            time.sleep(self._settings.load_delay_seconds)
        attempts = self._settings.max_num_load_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                servable = self._loader(model.name, version, path, self._settings.tags, self._settings.batching)
            except Exception as err:  # any load failure becomes the version's END status, as in TFS
                code, message = _error_of(err)
                log.error(
                    "Loading servable {name: %s version: %d} failed (attempt %d/%d): %s",
                    model.name,
                    version,
                    attempt,
                    attempts,
                    message,
                )
                if attempt < attempts:
                    time.sleep(self._settings.retry_interval_seconds)
                    continue
                self._set(model.name, version, state=State.END, error_code=code, error_message=message)
                return
            self._set(model.name, version, state=State.AVAILABLE, servable=servable)
            log.info("Successfully loaded servable version {name: %s version: %d}", model.name, version)
            return

    def _unload_unaspired(self, model: standin_config.ModelConfig, aspired: set[int]) -> None:
        with self._lock:
            states = self._versions[model.name]
            any_aspired_available = any(s.state == State.AVAILABLE for v, s in states.items() if v in aspired)
            doomed = [
                s
                for v, s in states.items()
                if v not in aspired and s.state == State.AVAILABLE and any_aspired_available
            ]
            for entry in doomed:
                entry.state = State.UNLOADING
        for entry in doomed:
            log.info("Unloading servable version {name: %s version: %d}", model.name, entry.version)
            self._set(model.name, entry.version, state=State.END, servable=None)

    def reload(self, models: tuple[standin_config.ModelConfig, ...], still_waiting: Callable[[], bool]) -> str:
        """ServerCore::ReloadConfig: the new list replaces the old one. Models no longer listed unload; new ones
        load and the call returns once they are available (error text if one failed, as WaitUntilModelsAvailable
        reports it); models whose config is unchanged are not touched, so their requests never notice."""
        with self._load_lock:
            with self._lock:
                old = self._models
                removed = [name for name in old if name not in {m.name for m in models}]
                added = [m.name for m in models if m.name not in old]
                self._models = {m.name: m for m in models}
                for name in added:
                    # A model listed again gets a fresh load, even if an earlier one failed.
                    states = self._versions.setdefault(name, {})
                    for version in [v for v, s in states.items() if s.state == State.END]:
                        del states[version]
                for name in removed:
                    self._warned.discard(name)
            for name in removed:
                self._unload_all(name)
            for model in models:
                if model.name in added or old[model.name] != model:
                    self._poll_model(model)
        while True:
            done, error = self._load_result(added)
            if done or not still_waiting():
                return error
            # A new model with no version on disk yet: TFS keeps waiting (polling the file system) for it.
            time.sleep(0.2)
            with self._load_lock:
                for name in added:
                    if name in self._models:
                        self._poll_model(self._models[name])

    def _unload_all(self, name: str) -> None:
        with self._lock:
            doomed = [s for s in self._versions.get(name, {}).values() if s.state == State.AVAILABLE]
            for entry in doomed:
                entry.state = State.UNLOADING
        for entry in doomed:
            log.info("Unloading servable version {name: %s version: %d}", name, entry.version)
            self._set(name, entry.version, state=State.END, servable=None)

    def run(self, stop: threading.Event, poll_seconds: int) -> None:
        """Poll until `stop`: once if poll_seconds == 0, never if negative (as TFS's flag says)."""
        if poll_seconds < 0:
            return
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the poller must survive anything a filesystem can throw at it
                log.exception("file system poll failed")
            if poll_seconds == 0:
                return
            stop.wait(poll_seconds)

    # ---- queries
    def initial_load_result(self) -> tuple[bool, str]:
        """(done, error): done once every model's latest aspired version is AVAILABLE or ended in error."""
        return self._load_result(list(self._models))

    def _load_result(self, names: list[str]) -> tuple[bool, str]:
        with self._lock:
            failures = []
            for name in names:
                states = self._versions.get(name, {})
                if any(s.state == State.AVAILABLE for s in states.values()):
                    continue
                ended = [s for s in states.values() if s.state == State.END and s.error_code]
                if not ended:
                    return False, ""
                failures.extend(f"{{name: {name} version: {s.version}}}: {s.error_message}" for s in ended)
            if failures:
                return True, "Some models did not become available: {" + ", ".join(failures) + "}"
            return True, ""

    def servable(self, name: str, version: int | None = None, label: str = "") -> Servable:
        if label:
            labels = dict(self._models[name].labels) if name in self._models else {}
            if label not in labels:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}")
            version = labels[label]
        with self._lock:
            states = self._versions.get(name, {})
            available = {v: s for v, s in states.items() if s.state == State.AVAILABLE and s.servable}
            chosen = (
                available.get(version) if version is not None else (available[max(available)] if available else None)
            )
        if chosen is None:
            raise ServingError(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request_text(name, version)}"
            )
        return chosen.servable

    def status(self, name: str, version: int | None = None) -> list[VersionState]:
        """Version states, newest first; NOT_FOUND texts as in TFS's get_model_status_impl.cc."""
        with self._lock:
            states = self._versions.get(name, {})
            if version is not None:
                if version not in states:
                    raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
                return [dataclasses.replace(states[version])]
            if not states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
            return [dataclasses.replace(states[v]) for v in sorted(states, reverse=True)]


def _error_of(err: BaseException) -> tuple[int, str]:
    if isinstance(err, ServingError):
        return err.code.value[0], err.message
    import tensorflow as tf

    if isinstance(err, tf.errors.OpError):
        return err.error_code, err.message
    if isinstance(err, OSError):
        # What TFS reports for a missing or unparsable saved_model.pb.
        code = grpc.StatusCode.NOT_FOUND if "does not exist" in str(err) else grpc.StatusCode.DATA_LOSS
        return code.value[0], str(err)
    return grpc.StatusCode.UNKNOWN.value[0], f"{type(err).__name__}: {err}"
