"""Running the Alembic migrations programmatically (``orchestrator migrate``, server start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from job_orchestrator.store.urls import dialect_of, normalize_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_database_url(database_url))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``. Safe to run again: a migrated database is a no-op."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def engine_for(database_url: str) -> AsyncEngine:
    """A short-lived engine: PostgreSQL's connects the way the server does (any libpq URL,
    PgBouncer-safe; see store/pg_engine.py)."""
    url = normalize_database_url(database_url)
    if dialect_of(url) == "postgresql":
        from job_orchestrator.store.pg_engine import (
            PgConnector,
            create_postgres_engine,
            pooler_mode_from_env,
        )

        connector = PgConnector(url, mode=pooler_mode_from_env())
        return create_postgres_engine(connector, poolclass=NullPool)
    return create_async_engine(url)


async def is_up_to_date(database_url: str) -> bool:
    engine = engine_for(database_url)
    try:
        return await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


# ---- startup checks: a database the server cannot use, said in a line or two -----------------
class DatabaseProblem(Exception):
    """What is wrong with the database and what to do, for a person at a terminal.
    ``unreachable``: nothing answered (the server may still start and wait for it)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


def safe_url(database_url: str) -> str:
    """The URL as the user wrote it, without its password."""
    plain = normalize_database_url(database_url).replace("+asyncpg", "").replace("+aiosqlite", "")
    return str(make_url(plain).render_as_string(hide_password=True))


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps (SQLAlchemy's DBAPIError, its driver adapter, asyncpg)."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        item = pending.pop(0)
        if item is None or any(item is seen for seen in chain):
            continue
        chain.append(item)
        orig = getattr(item, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None]
        pending += [item.__cause__, item.__context__]
    return chain


def describe_connection_error(error: BaseException, database_url: str) -> DatabaseProblem:
    """One line per way a first connection fails, each saying what to do."""
    url = make_url(normalize_database_url(database_url))
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    shown = safe_url(database_url)
    for cause in _causes(error):
        name = type(cause).__name__
        if name == "InvalidCatalogNameError":
            flags = "".join(
                f" {flag} {value}"
                for flag, value in (("-h", url.host), ("-p", url.port), ("-U", url.username))
                if value
            )
            return DatabaseProblem(
                f"database {url.database!r} does not exist on {where}: create it with "
                f"`createdb{flags} {url.database}`, then run `orchestrator migrate "
                f"--database-url {shown}`"
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return DatabaseProblem(
                f"PostgreSQL at {where} refused user {url.username!r}: {cause}; check the user "
                "and password in --database-url (or ORCHESTRATOR_DATABASE_URL)"
            )
        if isinstance(cause, OSError | TimeoutError) and url.get_backend_name() == "postgresql":
            reason = (
                "connection refused"
                if isinstance(cause, ConnectionRefusedError)
                else getattr(cause, "strerror", None) or str(cause) or name
            )
            return DatabaseProblem(
                f"cannot reach PostgreSQL at {where} ({reason}): is it running, and are the host "
                "and port in --database-url right?",
                unreachable=True,
            )
        if type(cause).__module__ == "sqlite3" and url.get_backend_name() == "sqlite":
            return DatabaseProblem(
                f"cannot open the SQLite database {url.database!r} ({cause}): does its directory "
                "exist, and may this user write there?"
            )
    return DatabaseProblem(f"cannot use the database {shown}: {type(error).__name__}: {error}")


def _known_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in script.walk_revisions()]  # newest first


def read_revision(database_url: str) -> str | None:
    """The schema revision of the database (None: not migrated), or DatabaseProblem."""

    async def read() -> str | None:
        engine = create_async_engine(normalize_database_url(database_url))
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    url = make_url(normalize_database_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # Checked here: aiosqlite's thread would print its own traceback after the loop ends.
        directory = Path(url.database).parent
        if not directory.is_dir():
            raise DatabaseProblem(
                f"cannot create the SQLite database {url.database!r}: the directory "
                f"{str(directory)!r} does not exist"
            )
    try:
        return asyncio.run(read())
    except Exception as error:
        raise describe_connection_error(error, database_url) from None


def _newer_schema(revision: str) -> DatabaseProblem:
    return DatabaseProblem(
        f"the database schema is at revision {revision}, which this version of job-orchestrator "
        f"does not know (its newest is {head_revision()}): the database was migrated by a newer "
        "version; upgrade job-orchestrator, or point --database-url at another database"
    )


def check_schema(database_url: str) -> None:
    """Refuse to serve a database without this version's schema, saying what to run."""
    current = read_revision(database_url)
    command_line = f"orchestrator migrate --database-url {safe_url(database_url)}"
    if current is None:
        raise DatabaseProblem(
            f"the database {safe_url(database_url)} has no job-orchestrator schema yet: "
            f"run `{command_line}` first"
        )
    if current not in _known_revisions():
        raise _newer_schema(current)
    if current != head_revision():
        raise DatabaseProblem(
            f"the database schema is at revision {current}, this version needs "
            f"{head_revision()}: run `{command_line}`"
        )


def migrate_reporting(database_url: str) -> list[str]:
    """Migrate to head; the revisions applied, oldest first, as "0002 (title)". Problems are
    DatabaseProblem, a schema newer than this code included (it is left untouched)."""
    before = read_revision(database_url)
    known = _known_revisions()
    if before is not None and before not in known:
        raise _newer_schema(before)
    try:
        migrate(database_url)
    except Exception as error:
        raise describe_connection_error(error, database_url) from None
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    applied = known[: known.index(before)] if before is not None else known
    return [_title(script.get_revision(rev)) for rev in reversed(applied)]


def _title(revision: Script | None) -> str:
    if revision is None:
        return "?"
    doc = (revision.doc or "").strip().splitlines()
    return f"{revision.revision} ({doc[0].rstrip('.')})" if doc else revision.revision
