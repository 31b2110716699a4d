"""Errors that carry the data a response needs.

Hierarchy::

    BridgeError                 status, message, outcome (self-metric label)
    ├── BadRequest              400 undecodable body, bad gzip
    ├── Unauthorized            401 token missing
    ├── Forbidden               403 token wrong
    ├── MethodNotAllowed        405
    ├── RequestTimeout          408 body not received in time
    ├── PayloadTooLarge         413 body over the limit (counted after decompression)
    ├── UnsupportedMediaType    415 content type or content encoding
    └── Overloaded              503 with Retry-After
    ConfigError                 bad configuration: one line, exit code 2
"""

from __future__ import annotations


class BridgeError(Exception):
    """An OTLP request that cannot be accepted; maps to one HTTP status."""

    status = 500
    outcome = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(BridgeError):
    status = 400
    outcome = "bad_request"


class Unauthorized(BridgeError):
    status = 401
    outcome = "unauthorized"


class Forbidden(BridgeError):
    status = 403
    outcome = "forbidden"


class MethodNotAllowed(BridgeError):
    status = 405
    outcome = "method_not_allowed"


class RequestTimeout(BridgeError):
    status = 408
    outcome = "timeout"


class PayloadTooLarge(BridgeError):
    status = 413
    outcome = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes (limit applies after decompression)")
        self.limit = limit


class UnsupportedMediaType(BridgeError):
    status = 415
    outcome = "unsupported_media_type"


class Overloaded(BridgeError):
    status = 503
    outcome = "overloaded"

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ConfigError(Exception):
    """Invalid configuration; the CLI prints it on one line and exits with 2."""
