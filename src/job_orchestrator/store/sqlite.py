"""Embedded SQLite: WAL, a busy timeout, one writer connection with BEGIN IMMEDIATE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from job_orchestrator.domain.models import (
    Completed,
    Completion,
    Heartbeat,
    HeartbeatResult,
    Job,
    LeaseRequest,
    NewJob,
)
from job_orchestrator.store.dialect import SQLITE
from job_orchestrator.store.rows import (
    completion_key,
    encode_json,
    hash_token,
    heartbeat_result_of,
    job_of,
)
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

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[AsyncConnection]:
        """A write that the dialect can do in one statement (claim, batch completion,
        heartbeat): PostgreSQL runs it without BEGIN/COMMIT, two round trips fewer; a single
        statement is atomic on its own. SQLite: an ordinary write transaction."""
        async with self._write() as conn:
            yield conn

    async def _announce(self, conn: AsyncConnection, queues: Iterable[str]) -> None:
        """Tell waiting long-polls that ``queues`` have ready jobs, once this transaction commits.

        SQLite wakes in-process waiters right away: SQLite writers
        are serialized, so the commit is microseconds away, and a waiter that runs early simply
        finds nothing and waits again.
        """
        if self._on_ready is not None:
            for queue in set(queues):
                self._on_ready(queue)

    async def _insert_jobs(
        self, conn: AsyncConnection, jobs: Sequence[NewJob], now: datetime | None
    ) -> list[Job]:
        """Insert the jobs, announce their queues; the stored jobs in request order."""
        rows_param = orjson.dumps([self._enqueue_row(job, i) for i, job in enumerate(jobs)])
        params = {"rows": rows_param.decode(), "now": self._t(now)}
        result = await conn.execute(self._q.jobs.insert_jobs, params)
        inserted = sorted((job_of(r) for r in result), key=lambda j: j.id)
        await self._announce(conn, {job.queue for job in inserted})
        return inserted

    def _enqueue_row(self, job: NewJob, ord_: int) -> dict[str, Any]:
        return {
            "ord": ord_,
            "queue": job.queue,
            "type": job.type,
            "payload": encode_json(job.payload) if job.payload is not None else "null",
            "priority": job.priority,
            "max_attempts": job.max_attempts,
            "run_at": self._d.encode_time_json(job.run_at),
            "delay_seconds": job.delay_seconds,
            "lease_seconds": job.lease_seconds,
            "timeout_seconds": job.timeout_seconds,
            "retry_initial_seconds": job.retry.initial_seconds,
            "retry_multiplier": job.retry.multiplier,
            "retry_max_seconds": job.retry.max_seconds,
            "retry_jitter": job.retry.jitter,
            "idempotency_key": job.idempotency_key,
            "owner": job.owner,
            "schedule": job.schedule,
            "scheduled_for": self._d.encode_time_json(job.scheduled_for),
        }

    async def _heartbeat_guarded(
        self, conn: AsyncConnection, items: list[Heartbeat], now: datetime | None
    ) -> dict[int, HeartbeatResult]:
        """The items whose guarded update matched, by position. SQLite: one statement per
        item, all in one transaction (in-process, so no round trips to save)."""
        done: dict[int, HeartbeatResult] = {}
        for i, beat in enumerate(items):
            params = {
                "job_id": beat.job_id,
                "token_hash": hash_token(beat.lease_token),
                "set_details": beat.set_details,
                "details": encode_json(beat.details),
                "now": self._t(now),
            }
            row = (await conn.execute(self._q.worker_calls.heartbeat, params)).first()
            if row is not None:
                done[i] = heartbeat_result_of(row[1], row[2])
        return done

    async def _claim(
        self,
        conn: AsyncConnection,
        request: LeaseRequest,
        token_hashes: list[str],
        now: datetime | None,
    ) -> Sequence[Sequence[Any]]:
        statement = self._q.leasing.claim(types=bool(request.types))
        params = self._claim_params(request, orjson.dumps(token_hashes).decode(), now)
        rows = list(await conn.execute(statement, params))
        if rows:
            ids = [row._mapping["id"] for row in rows]
            await conn.execute(self._q.leasing.record_attempts, {"ids": ids})
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
        statement = (
            self._q.worker_calls.sqlite_complete
            if return_jobs
            else self._q.worker_calls.sqlite_complete_light
        )
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
            self._q.worker_calls.insert_completions,
            {"items": orjson.dumps(stored).decode(), "now": self._t(now)},
        )
        await conn.execute(
            self._q.worker_calls.finish_attempts_succeeded,
            {"ids": orjson.dumps([s["id"] for s in stored]).decode(), "now": self._t(now)},
        )
        return done

    async def _insert_schedule_keys(
        self, conn: AsyncConnection, rows: list[tuple[str, int, str]], now: datetime
    ) -> int:
        items = [{"key": k, "job_id": j, "fingerprint": f} for k, j, f in rows]
        params = {"rows": orjson.dumps(items).decode(), "now": self._t(now)}
        return len(list(await conn.execute(self._q.schedules.insert_keys, params)))

    async def _advance_schedules(
        self,
        conn: AsyncConnection,
        rows: list[tuple[str, datetime | None, datetime, datetime | None, int | None]],
    ) -> int:
        if not rows:
            return 0
        t = self._t
        items = [
            {"name": n, "old_next": t(o), "new_next": t(x), "last_fire": t(f), "last_job": j}
            for n, o, x, f, j in rows
        ]
        params = {"rows": orjson.dumps(items).decode()}
        return len(list(await conn.execute(self._q.schedules.advance, params)))
