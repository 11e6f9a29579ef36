"""Database URL handling: users write plain URLs, SQLAlchemy needs the async driver named.

PostgreSQL URLs are read by asyncpg itself (``asyncpg_dsn``), never by SQLAlchemy's URL parser,
so every form libpq accepts works: several hosts (``postgresql://u@H1:P1,H2:P2/db``), the query
form (``postgresql://u@/db?host=H1,H2&port=P1,P2``) and ``target_session_attrs=read-write``,
which is how a server finds the new primary after a failover.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_SQLITE_FILE = "job-orchestrator.db"


def normalize_database_url(url: str | None) -> str:
    """``postgresql://`` -> asyncpg, ``sqlite:///`` -> aiosqlite; None -> a file in the CWD."""
    if not url:
        return f"sqlite+aiosqlite:///{Path(os.getcwd()) / DEFAULT_SQLITE_FILE}"
    for prefix in (
        "postgresql://",
        "postgres://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def dialect_of(url: str) -> str:
    name = normalize_database_url(url).split(":", 1)[0].split("+", 1)[0]
    if name not in ("postgresql", "sqlite"):
        raise ValueError(
            f"unsupported database URL scheme {name!r}: use postgresql:// or sqlite://"
        )
    return name


# Client-side options SQLAlchemy's asyncpg adapter or asyncpg take as arguments: in a DSN asyncpg
# would send them to the server as settings (PgBouncer refuses an unknown startup parameter,
# PostgreSQL an unknown setting). The store chooses them itself (see store/pg_engine.py).
_CLIENT_SIDE_OPTIONS = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "statement_cache_size"}
)


def asyncpg_dsn(url: str) -> str:
    """The DSN asyncpg itself understands: ``postgresql://``, any host list libpq accepts, with
    the client-side options SQLAlchemy users put in URLs removed."""
    dsn = normalize_database_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in query if key not in _CLIENT_SIDE_OPTIONS]
    if len(kept) == len(query):
        return dsn
    return urlunsplit(parts._replace(query=urlencode(kept, safe=",")))
