"""Typed exceptions: every API error becomes one, carrying the contract's error code.

The mapping is by ``code`` first (the contract names them), then by HTTP status, so a code the
server adds later still lands on a sensible class.
"""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Base of every error this SDK raises."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.details = details

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status else ""
        return f"{prefix}{self.code}: {self.message}"


class ConnectionFailed(OrchestratorError):
    """The server could not be reached (refused, reset, timed out). Safe to retry."""

    code = "connection_failed"


class APIError(OrchestratorError):
    """The server answered with an error envelope."""


class InvalidRequest(APIError):
    code = "invalid_request"


class Unauthorized(APIError):
    code = "unauthorized"


class Forbidden(APIError):
    code = "forbidden"


class NotFound(APIError):
    code = "not_found"


class Conflict(APIError):
    code = "conflict"


class LeaseLost(Conflict):
    code = "lease_lost"


class AlreadyCompleted(Conflict):
    code = "already_completed"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PayloadTooLarge(APIError):
    code = "payload_too_large"


class RateLimited(APIError):
    code = "rate_limited"


class Unavailable(APIError):
    """503: the server cannot reach its database. Safe to retry."""

    code = "unavailable"


class ServerError(APIError):
    code = "server_error"


# ---- outcomes of waiting for a job ------------------------------------------------------------
class JobError(OrchestratorError):
    """A job ended without a result; ``job`` is its final state."""

    def __init__(self, message: str, *, job: Any) -> None:
        super().__init__(message, details=getattr(job, "last_error", None))
        self.job = job


class JobFailed(JobError):
    """The job ended in the dead-letter queue; ``details`` is its last error."""

    code = "job_failed"


class JobCancelled(JobError):
    code = "job_cancelled"


class WaitTimeout(OrchestratorError):
    """``wait()`` gave up before the job finished; the job keeps running."""

    code = "wait_timeout"


# ---- raised by handlers ------------------------------------------------------------------------
class NonRetryableError(Exception):
    """Raise from a handler to fail the job with ``retryable: false`` (straight to the DLQ)."""


class RetryAfter(Exception):
    """Raise from a handler to be retried after ``retry_after_seconds`` instead of the job's
    backoff (e.g. a rate-limited API said when to come back). The attempt still counts: with
    ``max_attempts`` used up the job goes to the DLQ as usual.

    Any exception with a numeric ``retry_after_seconds`` attribute is honoured the same way.
    """

    def __init__(self, message: str = "", *, retry_after_seconds: float) -> None:
        super().__init__(message or f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class HandlerCancelled(Exception):
    """Raised inside a sync handler by ``heartbeat()`` once the job is cancelled, its lease is
    lost, or its deadline passed, so a thread can stop cooperatively (threads cannot be killed)."""


_BY_CODE: dict[str, type[APIError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        LeaseLost,
        AlreadyCompleted,
        InvalidTransition,
        IdempotencyConflict,
        PayloadTooLarge,
        RateLimited,
        Unavailable,
    )
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
}


def error_from_response(status: int, body: Any) -> APIError:
    """The typed exception for an error answer (``body`` is the decoded JSON, or anything)."""
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict):
        code = str(envelope.get("code") or "")
        message = str(envelope.get("message") or "")
        details = envelope.get("details")
    else:
        code, message, details = "", "", None
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or ServerError
    return cls(message or f"HTTP {status}", code=code or None, status=status, details=details)


def is_transient(error: BaseException) -> bool:
    """Worth retrying with the same request: the server was unreachable or said so."""
    return isinstance(error, ConnectionFailed | Unavailable) or (
        isinstance(error, APIError) and error.status is not None and error.status in (502, 504)
    )
