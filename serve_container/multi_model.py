"""Multi-model endpoint loads and unloads (SageMaker's LoadModel / UnloadModel), for any gunicorn worker.

A load or unload runs under the registry's file lock, so two workers never send TF Serving competing model lists.
The registry changes only once TF Serving agrees: a request is routed to a model only after it is AVAILABLE, and
an unloaded model is refused (404) before TF Serving drops it. Other models stay in every list sent, so TF
Serving never touches them and their in-flight requests never notice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

from serve_container import memory
from serve_container.contract import MB, Settings
from serve_container.errors import Conflict, InsufficientStorage, ModelUnavailable, ServingError
from serve_container.model_catalog import ModelEntry, Registry, directory_bytes, model_from_url
from serve_container.tfs_client import TfsClient

log = logging.getLogger("serve_container.multi_model")


class MultiModelManager:
    def __init__(self, settings: Settings, client: TfsClient, registry: Registry):
        self.settings = settings
        self.client = client
        self.registry = registry

    def load(self, name: str, url: str) -> ModelEntry:
        entry = model_from_url(name, url)
        with self.registry.locked():
            current = dict(self.registry.models())
            if name in current:
                raise Conflict(f"model {name!r} is already loaded (from {current[name].url})")
            self._check_memory(entry)
            entry = dataclasses.replace(entry, generation=time.time_ns())
            started = time.monotonic()
            try:
                self.client.reload_config([*current.values(), entry], self.settings.mme_load_timeout_seconds)
            except ServingError as error:
                # Take the failed model out of TF Serving's list again; the others are the same as before.
                with contextlib.suppress(ServingError):
                    self.client.reload_config(list(current.values()), self.settings.mme_load_timeout_seconds)
                if "RESOURCE_EXHAUSTED" in error.message:
                    raise InsufficientStorage(f"model {name!r} could not be loaded: {error.message}") from None
                if isinstance(error, ModelUnavailable):
                    raise
                raise type(error)(f"model {name!r} from {url} could not be loaded: {error.message}") from None
            self.registry.save({**current, name: entry})
        log.info(
            "loaded model %r versions %s from %s in %.1fs", name, list(entry.versions), url, time.monotonic() - started
        )
        return entry

    def unload(self, name: str) -> None:
        with self.registry.locked():
            current = dict(self.registry.models())
            if name not in current:
                self.registry.get(name)  # raises the 404
            del current[name]
            self.registry.save(current)  # new requests for it are refused from here on, in every worker
            self.client.reload_config(list(current.values()), self.settings.mme_load_timeout_seconds)
        log.info("unloaded model %r", name)

    def _check_memory(self, entry: ModelEntry) -> None:
        available = memory.available_bytes()
        if available is None:
            return
        needed = directory_bytes(entry.base_path) + self.settings.mme_memory_reserve_mb * MB
        if available < needed:
            raise InsufficientStorage(
                f"not enough memory to load model {entry.name!r}: it needs {needed / MB:.0f} MB (its size on disk "
                f"plus BYOC_MME_MEMORY_RESERVE_MB={self.settings.mme_memory_reserve_mb}) and "
                f"{available / MB:.0f} MB are available"
            )
