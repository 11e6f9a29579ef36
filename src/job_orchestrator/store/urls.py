"""Database URL handling: users write plain URLs, SQLAlchemy needs the async driver named."""

from __future__ import annotations

import os
from pathlib import Path

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


def asyncpg_dsn(url: str) -> str:
    """The DSN asyncpg itself understands (for the LISTEN connection, outside SQLAlchemy)."""
    return normalize_database_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)
