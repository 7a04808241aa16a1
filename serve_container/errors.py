"""Error taxonomy: each class carries its HTTP status; app.py turns them into JSON responses."""

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


class HookError(ServingError):
    """The user's inference.py raised: their bug, reported as a server error with its message."""

    status = 500
