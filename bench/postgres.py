"""PostgreSQL administration for the benchmark: the server on 127.0.0.1:5432, a database per
system (recreated for each run, dropped after), and the few statements the harness runs itself."""

from __future__ import annotations

from bench.common import poll_until

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def pg_unreachable_reason() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432, else why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed in this environment"
    try:
        conn = await asyncpg.connect(pg_dsn("postgres"), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({exc.__class__.__name__})"
    await conn.close()
    return None


async def recreate_database(name: str) -> None:
    """Drop and create `name`, so each run starts from an empty database."""
    import asyncpg

    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def pg_execute(database: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def pg_fetch_floats(database: str, sql: str) -> list[float]:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return [float(r[0]) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def pg_fetch_int(database: str, sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def wait_for_count(database: str, sql: str, n: int, seconds: float) -> bool:
    """Wait until a count query reaches n; False if it did not within `seconds`."""

    async def reached() -> bool:
        return await pg_fetch_int(database, sql) >= n

    return await poll_until(reached, seconds)
