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
# "cannot execute INSERT in a read-only transaction": connected to a standby, typically a primary
# demoted by a failover. Not our request's fault and not for good: 503, and the connection is
# dropped so the pool reconnects to the primary (store/pg_engine.py).
READ_ONLY_SQLSTATE = "25006"


def _is_unavailable_code(code: str) -> bool:
    return code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or code == READ_ONLY_SQLSTATE


def sqlstate_of(error: BaseException) -> str | None:
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
        code = sqlstate_of(error)
        if code is not None:
            return _is_unavailable_code(code)
        # SQLite "database is locked" past the busy timeout, or a lost asyncpg connection.
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    # Raised by asyncpg itself on the raw hot path (see raw_statements); PostgresStore also
    # invalidates the pooled connection on these.
    if isinstance(error, asyncpg.PostgresError):
        code = sqlstate_of(error)
        return code is not None and _is_unavailable_code(code)
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
            if sqlstate_of(error) == READ_ONLY_SQLSTATE:
                raise StoreUnavailable(
                    "the database is read-only (a standby, or a demoted primary): "
                    "reconnecting to the primary"
                ) from error
            raise StoreUnavailable(
                f"the database cannot be reached: {type(error).__name__}"
            ) from error
        raise
