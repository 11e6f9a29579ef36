"""Mapping every failure to the contract's error envelope: never a stack trace, never a bare 500."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from job_orchestrator.api.responses import error_response
from job_orchestrator.domain.errors import (
    AlreadyCompleted,
    DomainError,
    IdempotencyConflict,
    InvalidTransition,
    JobNotFound,
    LeaseLost,
    StoreUnavailable,
)
from job_orchestrator.domain.schedules import InvalidSchedule, ScheduleNotFound

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    JobNotFound: 404,
    LeaseLost: 409,
    AlreadyCompleted: 409,
    InvalidTransition: 409,
    IdempotencyConflict: 409,
    StoreUnavailable: 503,
}

CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class InvalidInput(DomainError):
    """Input that passed schema validation but cannot be stored (checked in the route)."""

    code = "invalid_request"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, details={"retry_after_seconds": round(retry_after, 3)})
        self.retry_after = retry_after


STATUS_BY_ERROR[PayloadTooLarge] = 413
STATUS_BY_ERROR[InvalidInput] = 422
STATUS_BY_ERROR[Unauthorized] = 401
STATUS_BY_ERROR[Forbidden] = 403
STATUS_BY_ERROR[RateLimited] = 429
STATUS_BY_ERROR[ScheduleNotFound] = 404
STATUS_BY_ERROR[InvalidSchedule] = 422


def status_of(error: DomainError) -> int:
    return STATUS_BY_ERROR.get(type(error), 500)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location) or "request"


def describe_validation_errors(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        parts.append(f"{_field_path(error.get('loc', ()))}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _safe_details(errors: list[Any]) -> list[dict[str, Any]]:
    # Echoing the raw input back could be large or unserializable: keep location and message.
    return [
        {"field": _field_path(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in errors[:20]
    ]


async def _on_domain_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    status = status_of(error)
    headers = {"Retry-After": "1"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    return error_response(status, error.code, error.message, error.details, headers)


# Arrays and objects nested this deep always parse; a little deeper (~900 levels, where
# Python's JSON parser runs out of stack) is refused with a message naming this limit.
MAX_JSON_NESTING = 500


def _invalid_json(error: RequestValidationError) -> Response | None:
    """Malformed JSON as a place a person can find (FastAPI reports a character offset as if it
    were a field: ``body.13``)."""
    for item in error.errors():
        if item.get("type") != "json_invalid":
            continue
        document = error.body if isinstance(error.body, str) else ""
        offset = item.get("loc", ("body", 0))[-1]
        offset = offset if isinstance(offset, int) else 0
        line = document.count("\n", 0, offset) + 1
        column = offset - (document.rfind("\n", 0, offset) + 1) + 1
        reason = str(item.get("ctx", {}).get("error") or "malformed")
        return error_response(
            400,
            "invalid_request",
            f"invalid JSON at line {line} column {column}: {reason}",
            {"line": line, "column": column, "reason": reason},
        )
    return None


async def _on_validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    invalid_json = _invalid_json(error)
    if invalid_json is not None:
        return invalid_json
    errors = list(error.errors())
    return error_response(
        422, "invalid_request", describe_validation_errors(errors), _safe_details(errors)
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
        match, _ = route.matches({**request.scope, "method": "POST"})
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if isinstance(error.__cause__, RecursionError):  # FastAPI's "error parsing the body"
        return error_response(
            400,
            "invalid_request",
            "request body: JSON nested too deeply; arrays and objects may nest up to "
            f"{MAX_JSON_NESTING} levels",
            {"max_nesting": MAX_JSON_NESTING},
        )
    code = CODE_BY_STATUS.get(error.status_code, "error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(error.status_code, code, message, headers=headers)


async def _on_unexpected(_request: Request, error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    return error_response(500, "internal", "an unexpected error occurred; it was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
