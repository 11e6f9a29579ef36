"""Domain errors. The API maps each to a status code and an error ``code``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class JobNotFound(DomainError):
    code = "not_found"


class LeaseLost(DomainError):
    """The token is not the job's current, unexpired lease: nothing was changed."""

    code = "lease_lost"


class AlreadyCompleted(DomainError):
    code = "already_completed"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class StoreUnavailable(DomainError):
    """The database cannot be reached; the caller may retry."""

    code = "unavailable"
