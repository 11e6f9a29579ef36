"""PostgreSQL: SKIP LOCKED claims, one-statement batch completions, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import TextClause, event
from sqlalchemy.ext.asyncio import AsyncConnection

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import (
    Completed,
    Completion,
    Heartbeat,
    HeartbeatResult,
    Job,
    LeaseRequest,
    NewJob,
)
from job_orchestrator.store.base import QueueReadyCallback
from job_orchestrator.store.dialect import POSTGRESQL
from job_orchestrator.store.errors import is_unavailable, translate_errors
from job_orchestrator.store.pg_engine import (
    LISTEN_URL_ENV,
    PgConnector,
    PoolerMode,
    create_postgres_engine,
    pooler_mode_from_env,
)
from job_orchestrator.store.raw_statements import RawStatements
from job_orchestrator.store.rows import (
    completion_key,
    encode_json,
    hash_token,
    heartbeat_result_of,
    job_of,
)
from job_orchestrator.store.sql_store import SqlStore
from job_orchestrator.store.statements.connections import ACCEPTS_WRITES

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "job_orchestrator_ready"
_LISTEN_RETRY_SECONDS = 1.0
# Behind a transaction pooler without a direct LISTEN URL: how often long polls look anyway.
POLL_ONLY_SECONDS = 0.5

# The queues announced inside the store call in progress (see PostgresStore._waking_locally),
# with the task running it: a task started inside the block inherits this variable, and must
# not take that block for its own.
_ANNOUNCED: ContextVar[tuple[asyncio.Task[Any] | None, set[str]] | None] = ContextVar(
    "job_orchestrator_announced", default=None
)


def _identity(value: str) -> str:
    return value


class PostgresStore(SqlStore):
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 10,
        pgbouncer: PoolerMode | None = None,
        listen_url: str | None = None,
    ) -> None:
        """``pgbouncer`` and ``listen_url`` default to ``ORCHESTRATOR_PGBOUNCER`` and
        ``ORCHESTRATOR_LISTEN_DATABASE_URL``, so the CLI and migrations agree with the server."""
        self._connector = PgConnector(
            url,
            mode=pgbouncer or pooler_mode_from_env(),
            server_settings={"application_name": "job-orchestrator"},
        )
        engine = create_postgres_engine(
            self._connector,
            # Sized for the steady state: overflow connections are closed on return, and a
            # connection opened per request (TLS negotiation, statement preparation) was seen
            # to cost more than the request itself.
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=10,
            # Hand json back as text: the store decodes it with orjson, the same on both dialects.
            json_deserializer=_identity,
            # No pre-ping (a round trip per checkout on the hot path): a dead connection is
            # detected on use, SQLAlchemy invalidates the pool, and the request answers 503.
        )
        super().__init__(POSTGRESQL, engine, engine)
        # Same pool, no BEGIN/COMMIT: for the operations that are one statement (see _statement).
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        listen_url = listen_url or os.environ.get(LISTEN_URL_ENV) or None
        # LISTEN needs a session of its own: never through a transaction pooler (see
        # _listen_forever), so a direct URL when one is given.
        self._listen_connector = (
            PgConnector(listen_url, mode="off") if listen_url else self._connector
        )
        self._listener: asyncio.Task[None] | None = None
        self._raw = RawStatements(engine.dialect)
        # Backend pids of this process's pooled connections: their NOTIFYs were already
        # delivered in-process (see _waking_locally), so the LISTEN connection skips them.
        self._own_backends: set[int] = set()
        event.listen(engine.sync_engine, "connect", self._note_backend)
        for gone in ("close", "invalidate", "soft_invalidate"):
            event.listen(engine.sync_engine, gone, self._forget_backend)
        event.listen(engine.sync_engine, "close_detached", self._forget_backend)

    # ---- connections ------------------------------------------------------------------------
    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._waking_locally(), super()._write() as conn:
            yield conn

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[AsyncConnection]:
        async with self._waking_locally(), translate_errors(), self._autocommit.connect() as conn:
            try:
                yield conn
            except Exception as error:
                # A connection that failed under the raw driver path: SQLAlchemy did not see
                # it fail, so tell the pool not to hand it out again (the same test that makes
                # the error a 503).
                if is_unavailable(error):
                    await conn.invalidate()
                raise

    @asynccontextmanager
    async def _waking_locally(self) -> AsyncIterator[None]:
        """Wake this process's long polls for the queues announced inside the block as soon as
        it ends (committed), without waiting for PostgreSQL to deliver the NOTIFY back.

        The round trip through the LISTEN connection was one of the hops of pickup latency
        (this process -> PostgreSQL -> LISTEN backend -> this process). Other server
        processes still learn from the NOTIFY, whose payload is unchanged, so servers of
        different versions keep waking each other during a rolling upgrade.
        """
        task = asyncio.current_task()
        outer = _ANNOUNCED.get()
        if outer is not None and outer[0] is task:  # nested: the outermost block wakes
            yield
            return
        announced: set[str] = set()
        token = _ANNOUNCED.set((task, announced))
        try:
            yield
        finally:
            _ANNOUNCED.reset(token)
            # Also when the block failed: it may have failed after its commit (a cancelled
            # request), and a wake-up for nothing only costs the woken poll one look.
            if self._on_ready is not None:
                for queue in sorted(announced):
                    self._on_ready(queue)

    def _note_announced(self, queues: Iterable[str]) -> None:
        block = _ANNOUNCED.get()
        # Every write runs in _write or _statement; a NOTIFY sent elsewhere would be skipped
        # by the listener below without the local wake-up that stands in for it.
        assert block is not None and block[0] is asyncio.current_task(), (
            "announce outside a _write/_statement block"
        )
        block[1].update(queues)

    def _note_backend(self, dbapi_connection: Any, _record: Any) -> None:
        if self._connector.pooled:
            # The pid a pooler hands out is not a backend's: NOTIFYs name the real backend, so
            # none would match (and a chance match would skip another server's wake-up). Our own
            # wake-ups come back through the LISTEN connection: one extra look each.
            return
        driver = getattr(dbapi_connection, "driver_connection", None)
        if isinstance(driver, asyncpg.Connection):
            self._own_backends.add(driver.get_server_pid())

    def _forget_backend(self, dbapi_connection: Any, *_args: Any) -> None:
        # Forgetting early is harmless (a skipped-at-worst duplicate wake-up); remembering a
        # pid too long would skip a NOTIFY from another server's backend that reused it.
        driver = getattr(dbapi_connection, "driver_connection", None)
        if isinstance(driver, asyncpg.Connection):
            self._own_backends.discard(driver.get_server_pid())

    async def _fetch(
        self, conn: AsyncConnection, statement: TextClause, params: dict[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Run a hot-path statement. Outside a transaction (a ``_statement()`` connection) it
        goes straight to asyncpg: SQLAlchemy's per-execution work (compiled-cache lookup,
        greenlet hop, cursor and row adaptation) measured about 280 us of a ~1 ms claim or
        batch completion. Inside a transaction it stays on SQLAlchemy, which owns the BEGIN."""
        if conn.in_transaction():
            return list(await conn.execute(statement, params))
        raw = await conn.get_raw_connection()
        return await self._raw.fetch(raw.driver_connection, statement, params)

    async def _claim(
        self,
        conn: AsyncConnection,
        request: LeaseRequest,
        token_hashes: list[str],
        now: datetime | None,
    ) -> Sequence[Sequence[Any]]:
        statement = self._q.leasing.claim(types=bool(request.types))
        return await self._fetch(conn, statement, self._claim_params(request, token_hashes, now))

    async def _complete_guarded(
        self,
        conn: AsyncConnection,
        items: list[Completion],
        now: datetime | None,
        return_jobs: bool,
    ) -> dict[int, Job | Completed]:
        params = {
            "ids": [item.job_id for item in items],
            "token_hashes": [hash_token(item.lease_token) for item in items],
            "keys": [completion_key(item) for item in items],
            "results": [encode_json(item.result) for item in items],
            "set_details": [item.set_details for item in items],
            "details": [encode_json(item.details) for item in items],
            "now": self._t(now),
        }
        statement = (
            self._q.worker_calls.complete_many
            if return_jobs
            else self._q.worker_calls.complete_many_light
        )
        rows = await self._fetch(conn, statement, params)
        # A job appears at most once in the output even if the batch named it twice; give it to
        # the first position that carried the winning key, the others resolve as replays.
        position = {
            (item.job_id, completion_key(item)): i for i, item in reversed(list(enumerate(items)))
        }
        done: dict[int, Job | Completed] = {}
        for row in rows:
            if return_jobs:  # JOB_COLUMNS, completion_key, completion_result
                i = position[(row[0], row[-2])]
                done[i] = job_of(row[:-2], row[-1])
            else:  # id, completion_key
                i = position[(row[0], row[1])]
                done[i] = Completed(row[0])
        return done

    async def _heartbeat_guarded(
        self, conn: AsyncConnection, items: list[Heartbeat], now: datetime | None
    ) -> dict[int, HeartbeatResult]:
        # One statement for the batch. The same lease twice in a batch gets one answer for
        # both positions (an UPDATE touches a row once, whatever the input holds).
        keys = [(beat.job_id, hash_token(beat.lease_token)) for beat in items]
        first: dict[tuple[int, str], int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        unique = list(first)
        params = {
            "ids": [job_id for job_id, _ in unique],
            "token_hashes": [token_hash for _, token_hash in unique],
            "set_details": [items[first[key]].set_details for key in unique],
            "details": [encode_json(items[first[key]].details) for key in unique],
            "now": self._t(now),
        }
        rows = await self._fetch(conn, self._q.worker_calls.heartbeat_many, params)
        answered = {unique[n - 1]: heartbeat_result_of(at, cancel) for n, at, cancel in rows}
        return {i: answered[key] for i, key in enumerate(keys) if key in answered}

    async def _insert_jobs(
        self, conn: AsyncConnection, jobs: Sequence[NewJob], now: datetime | None
    ) -> list[Job]:
        # One array per column, and the NOTIFY in the same statement: one round trip, one
        # commit (a separate NOTIFY statement outside a transaction would be a second commit).
        params: dict[str, Any] = {
            "col_queue": [job.queue for job in jobs],
            "col_type": [job.type for job in jobs],
            "col_payload": [encode_json(job.payload) for job in jobs],
            "col_priority": [job.priority for job in jobs],
            "col_max_attempts": [job.max_attempts for job in jobs],
            "col_run_at": [self._t(job.run_at) for job in jobs],
            "col_delay_seconds": [job.delay_seconds for job in jobs],
            "col_lease_seconds": [job.lease_seconds for job in jobs],
            "col_timeout_seconds": [job.timeout_seconds for job in jobs],
            "col_retry_initial_seconds": [job.retry.initial_seconds for job in jobs],
            "col_retry_multiplier": [job.retry.multiplier for job in jobs],
            "col_retry_max_seconds": [job.retry.max_seconds for job in jobs],
            "col_retry_jitter": [job.retry.jitter for job in jobs],
            "col_idempotency_key": [job.idempotency_key for job in jobs],
            "col_owner": [job.owner for job in jobs],
            "col_schedule": [job.schedule for job in jobs],
            "col_scheduled_for": [self._t(job.scheduled_for) for job in jobs],
            "now": self._t(now),
            "channel": NOTIFY_CHANNEL,
        }
        rows = await self._fetch(conn, self._q.jobs.insert_jobs, params)
        # The database decided id, run_at and created_at (INSERTED_COLUMNS); everything else
        # is what the request said. Reading whole rows back (26 columns, the payload decoded
        # again) was about a third of a 1,000-job batch enqueue.
        created = [
            Job.enqueued(job, id=id_, run_at=run_at, created_at=created_at)
            for job, (id_, run_at, created_at, _queue, _notified) in zip(jobs, rows, strict=True)
        ]
        self._note_announced({job.queue for job in created})
        return created

    async def _insert_schedule_keys(
        self, conn: AsyncConnection, rows: list[tuple[str, int, str]], now: datetime
    ) -> int:
        params = {
            "keys": [key for key, _, _ in rows],
            "job_ids": [job_id for _, job_id, _ in rows],
            "fingerprints": [fp for _, _, fp in rows],
            "now": now,
        }
        return len(list(await conn.execute(self._q.schedules.insert_keys, params)))

    async def _advance_schedules(
        self,
        conn: AsyncConnection,
        rows: list[tuple[str, datetime | None, datetime | None, datetime | None, int | None]],
    ) -> int:
        if not rows:
            return 0
        names, old, new, fired, jobs = (list(column) for column in zip(*rows, strict=True))
        params = {"names": names, "old_next": old, "new_next": new, "last_fire": fired,
                  "last_job": jobs}  # fmt: skip
        return len(list(await conn.execute(self._q.schedules.advance, params)))

    async def _announce(self, conn: AsyncConnection, queues: Iterable[str]) -> None:
        # Delivered by PostgreSQL at commit to the other server processes; this one wakes its
        # own long polls itself (_waking_locally) and skips the echo (_on_notification).
        queues = sorted(set(queues))
        for queue in queues:
            await conn.execute(self._q.jobs.notify, {"channel": NOTIFY_CHANNEL, "queue": queue})
        self._note_announced(queues)

    async def start_listening(self, on_queue_ready: QueueReadyCallback) -> None:
        await super().start_listening(on_queue_ready)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="pg-listen")

    async def _listen_forever(self) -> None:
        """One LISTEN connection per process; reconnects by itself after the database returns."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                if await self._listen_connector.behind_pooler():
                    self._poll_only()
                    await self._stand_in_for_notify()
                    return
                connection = await self._listen_connector.connect()
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(NOTIFY_CHANNEL, self._on_notification)
                log.info("listening for job notifications")
                # Wake everyone once: anything enqueued while we were not listening is ready.
                if self._on_ready is not None:
                    self._on_ready("*")
                await lost.wait()
                log.warning("the LISTEN connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is down: retry quietly, polls carry on
                log.debug("LISTEN connection failed: %s", error)
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(_LISTEN_RETRY_SECONDS)

    async def _stand_in_for_notify(self) -> None:
        """No LISTEN: every POLL_ONLY_SECONDS, wake one long poll of each group (as a NOTIFY
        for every queue would), so jobs enqueued through other server processes are seen within
        that time. The hub's own fallback timer is far longer (it relies on notifications), and
        waking a group costs one claim, not one per waiting poll."""
        while True:
            await asyncio.sleep(POLL_ONLY_SECONDS)
            if self._on_ready is not None:
                self._on_ready("*")

    def _poll_only(self) -> None:
        log.warning(
            "PostgreSQL is behind a transaction pooler (PgBouncer) and no direct URL is set "
            "for LISTEN (%s): long polls see jobs enqueued through other server processes "
            f"within {POLL_ONLY_SECONDS} s (a look every {POLL_ONLY_SECONDS} s) instead of at once",
            LISTEN_URL_ENV,
        )

    async def ping(self) -> None:
        """The database answers *and takes writes*: a standby (a demoted primary) is not ready."""
        async with self._read() as conn:
            writable = (await conn.execute(ACCEPTS_WRITES)).scalar_one()
            if not writable:
                # Every connection of this pool reached the same read-only server: drop them
                # all, so the next ones (several hosts, target_session_attrs) find the primary.
                await conn.invalidate()
                await self._writer.dispose()
                raise StoreUnavailable(
                    "the database is read-only (a standby, or a demoted primary): "
                    "reconnecting to the primary"
                )

    def _on_notification(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid in self._own_backends:
            return  # sent by this process, which has woken its long polls already
        if self._on_ready is not None:
            self._on_ready(payload)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await super().close()
