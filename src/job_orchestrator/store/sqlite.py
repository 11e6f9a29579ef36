"""Embedded SQLite: WAL, a busy timeout, one writer connection with BEGIN IMMEDIATE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from job_orchestrator.domain.models import Completed, Completion, Job, LeaseRequest
from job_orchestrator.store.dialect import SQLITE
from job_orchestrator.store.rows import completion_key, encode_json, hash_token, job_of
from job_orchestrator.store.sql_store import SqlStore
from job_orchestrator.store.urls import normalize_database_url

BUSY_TIMEOUT_MS = 10_000


def _configure(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching to WAL needs a lock too, and without the timeout a
        # connection opened while another process writes failed at once with "locked".
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: a claim never upgrades a read lock
            # midway (which SQLite answers with SQLITE_BUSY instead of waiting).
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteStore(SqlStore):
    def __init__(self, url: str, *, readers: int = 4) -> None:
        url = normalize_database_url(url)
        # One writer connection per process: writes serialize anyway, and waiting on an
        # in-process pool is cheaper than spinning on the file lock.
        writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)
        reader = create_async_engine(url, pool_size=readers, max_overflow=0, pool_timeout=30)
        _configure(writer, writer=True)
        _configure(reader, writer=False)
        super().__init__(SQLITE, writer, reader)

    async def _claim(
        self,
        conn: AsyncConnection,
        request: LeaseRequest,
        token_hashes: list[str],
        now: datetime | None,
    ) -> Sequence[Sequence[Any]]:
        statement = self._q.claim(types=bool(request.types))
        params = self._claim_params(request, orjson.dumps(token_hashes).decode(), now)
        rows = list(await conn.execute(statement, params))
        if rows:
            ids = [row._mapping["id"] for row in rows]
            await conn.execute(self._q.record_attempts, {"ids": ids})
        return rows

    async def _complete_guarded(
        self,
        conn: AsyncConnection,
        items: list[Completion],
        now: datetime | None,
        return_jobs: bool,
    ) -> dict[int, Job | Completed]:
        """Three set-based statements for the whole batch, inside the caller's transaction.

        A job named twice in one batch is completed by its first position; the others then
        resolve as replays or conflicts, exactly as a second call would.
        """
        first: dict[int, int] = {}
        for i, item in enumerate(items):
            first.setdefault(item.job_id, i)
        batch = [
            {"id": items[i].job_id, "token_hash": hash_token(items[i].lease_token)}
            for i in first.values()
        ]
        statement = self._q.sqlite_complete if return_jobs else self._q.sqlite_complete_light
        rows = list(
            await conn.execute(
                statement, {"items": orjson.dumps(batch).decode(), "now": self._t(now)}
            )
        )
        if not rows:
            return {}
        done: dict[int, Job | Completed] = {}
        stored = []
        for row in rows:
            i = first[row._mapping["id"]]
            item = items[i]
            result = encode_json(item.result)
            stored.append(
                {
                    "id": item.job_id,
                    "key": completion_key(item),
                    "result": result,
                    "attempt": row._mapping["attempts"],
                }
            )
            done[i] = job_of(row, result=result) if return_jobs else Completed(item.job_id)
        await conn.execute(
            self._q.insert_completions,
            {"items": orjson.dumps(stored).decode(), "now": self._t(now)},
        )
        await conn.execute(
            self._q.finish_attempts_succeeded,
            {"ids": orjson.dumps([s["id"] for s in stored]).decode(), "now": self._t(now)},
        )
        return done
