"""Turning driver failures into domain errors: a database we cannot reach is a 503, not a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from job_orchestrator.domain.errors import StoreUnavailable

# SQLSTATE classes that mean "the server is not there right now": connection exceptions (08),
# operator intervention such as shutdown or startup (57), and insufficient resources (53).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (error, getattr(error, "orig", None), getattr(error, "__cause__", None)):
        for attribute in ("sqlstate", "pgcode"):
            code = getattr(candidate, attribute, None)
            if isinstance(code, str):
                return code
    return None


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _sqlstate(error)
        if code is not None:
            return code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
        # SQLite "database is locked" past the busy timeout, or a lost asyncpg connection.
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    # Raised by asyncpg itself on the raw hot path (see raw_statements); PostgresStore also
    # invalidates the pooled connection on these.
    if isinstance(error, asyncpg.PostgresError):
        code = _sqlstate(error)
        return code is not None and code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    # "connection is closed", or a protocol stuck after the server dropped the connection.
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    return isinstance(error, OSError | TimeoutError | sa_exc.TimeoutError)


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise StoreUnavailable(
                f"the database cannot be reached: {type(error).__name__}"
            ) from error
        raise
