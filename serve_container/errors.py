"""Error taxonomy. Request errors carry their HTTP status (app.py turns them into JSON responses); start-up errors
(a bad variable, an unservable model directory, a missing binary) stop the container with one line."""

from __future__ import annotations


class ServingError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ServingError):
    status = 400


class ModelNotFound(ServingError):
    status = 404


class Conflict(ServingError):
    """409: a multi-model load of a name already loaded."""

    status = 409


class NotAcceptable(ServingError):
    status = 406


class PayloadTooLarge(ServingError):
    status = 413


class UnsupportedMediaType(ServingError):
    status = 415


class UpstreamError(ServingError):
    status = 502


class ModelUnavailable(ServingError):
    status = 503


class DeadlineExceeded(ServingError):
    status = 504


class InsufficientStorage(ServingError):
    """507: SageMaker's multi-model signal to unload unused models and retry the load."""

    status = 507


class HookError(ServingError):
    """The user's inference.py raised: their bug, reported as a server error with its message."""

    status = 500


class SettingsError(ValueError):
    """A bad environment value; the message names the variable."""


class CatalogError(ValueError):
    """The model directory cannot be served as it is; the message says why."""


class StartupError(Exception):
    """Serving cannot start; the message says why and where."""
