"""The web dashboard's read models, for both dialects (its statements: ``statements/dashboard.py``).

Every statement here stays fast with millions of rows: lists are keyset-paginated on the primary
key (``id < :before_id ORDER BY id DESC LIMIT n``), the throughput chart reads the last hour of
``job_attempts`` through ``job_attempts_finished_idx`` (revision 0003), the oldest pending job
comes from the partial index of pending jobs, and no statement counts the whole table (the
per-state counts are ``Store.counts_by_queue_state``).

Searching by id is a prefix search turned into primary-key ranges: the ids that start with
``12`` are 12, 120-129, 1200-1299, ..., so each range is an index range scan, and the ranges are
disjoint and ascending, so walking them from the last one gives the newest-first order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine

from job_orchestrator.domain.models import JSON
from job_orchestrator.domain.states import JobState
from job_orchestrator.store.base import Store
from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.errors import translate_errors
from job_orchestrator.store.statements.dashboard import DashboardQueries

MAX_ID = 2**63 - 1
THROUGHPUT_WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class JobSummary:
    id: int
    queue: str
    type: str
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    worker_id: str | None
    last_error: JSON

    @property
    def error_message(self) -> str | None:
        if isinstance(self.last_error, dict):
            message = self.last_error.get("message")
            return None if message is None else str(message)
        return None if self.last_error is None else str(self.last_error)


@dataclass(frozen=True, slots=True)
class MinuteCount:
    queue: str
    minute: int  # minutes since the epoch (UTC)
    succeeded: int
    failed: int  # failed, lease expired or timed out


@dataclass(frozen=True, slots=True)
class JobSearch:
    queue: str | None = None
    state: JobState | None = None
    type: str | None = None
    id_prefix: str | None = None  # digits; exact id or the start of one
    before_id: int | None = None
    limit: int = 50


def id_prefix_ranges(prefix: str) -> list[tuple[int, int]]:
    """The primary-key ranges holding every id whose decimal form starts with ``prefix``.

    Ascending and disjoint; empty when no id can start that way (leading zero, not digits).
    """
    if not prefix.isascii() or not prefix.isdigit() or prefix.startswith("0"):
        return []
    if len(prefix) > 19:
        return []
    start = int(prefix)
    ranges: list[tuple[int, int]] = []
    scale = 1
    while start * scale <= MAX_ID:
        ranges.append((start * scale, min((start + 1) * scale - 1, MAX_ID)))
        scale *= 10
    return ranges


class DashboardReader:
    """Read models for the dashboard, on the store's read pool."""

    def __init__(self, engine: AsyncEngine, dialect: SqlDialect) -> None:
        self.engine = engine
        self.d = dialect
        self.q = DashboardQueries(dialect)

    @classmethod
    def for_store(cls, store: Store) -> DashboardReader:
        engine = getattr(store, "reader_engine", None)
        dialect = getattr(store, "dialect", None)
        if not isinstance(engine, AsyncEngine) or not isinstance(dialect, SqlDialect):
            raise TypeError(f"{type(store).__name__} is not an SQL store: no dashboard queries")
        return cls(engine, dialect)

    async def _rows(self, statement: TextClause, params: dict[str, Any]) -> list[Any]:
        async with translate_errors(), self.engine.connect() as conn:
            return list(await conn.execute(statement, params))

    def _summary(self, row: Any) -> JobSummary:
        t = self.d.decode_time
        return JobSummary(
            id=row.id,
            queue=row.queue,
            type=row.type,
            state=JobState(row.state),
            priority=row.priority,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            run_at=t(row.run_at),  # type: ignore[arg-type]
            created_at=t(row.created_at),  # type: ignore[arg-type]
            updated_at=t(row.updated_at),  # type: ignore[arg-type]
            finished_at=t(row.finished_at),
            worker_id=row.worker_id,
            last_error=None
            if row.last_error is None
            else orjson.loads(row.last_error)
            if isinstance(row.last_error, str | bytes)
            else row.last_error,
        )

    async def jobs(self, search: JobSearch) -> list[JobSummary]:
        """Newest first, at most ``search.limit``, below ``search.before_id`` if given."""
        base: dict[str, Any] = {"limit": search.limit}
        if search.queue is not None:
            base["queue"] = search.queue
        if search.state is not None:
            base["state"] = search.state.value
        if search.type is not None:
            base["type"] = search.type
        if search.before_id is not None:
            base["before_id"] = search.before_id
        flags = {
            "queue": search.queue is not None,
            "state": search.state is not None,
            "type_": search.type is not None,
            "cursor": search.before_id is not None,
        }
        if search.id_prefix is None:
            statement = self.q.job_page(**flags, id_range=False)
            return [self._summary(r) for r in await self._rows(statement, base)]
        found: list[JobSummary] = []
        statement = self.q.job_page(**flags, id_range=True)
        for low, high in reversed(id_prefix_ranges(search.id_prefix)):
            if search.before_id is not None and low >= search.before_id:
                continue
            params = {**base, "id_low": low, "id_high": high, "limit": search.limit - len(found)}
            found.extend(self._summary(r) for r in await self._rows(statement, params))
            if len(found) >= search.limit:
                break
        return found

    async def throughput(
        self, *, window_seconds: int = THROUGHPUT_WINDOW_SECONDS, now: datetime | None = None
    ) -> list[MinuteCount]:
        """Attempts that ended in each minute of the window, per queue (empty minutes absent)."""
        params = {"back": -float(window_seconds), "now": self.d.encode_time(now)}
        rows = await self._rows(self.q.throughput, params)
        return [
            MinuteCount(
                queue=r.queue,
                minute=int(r.minute),
                succeeded=int(r.succeeded or 0),
                failed=int(r.failed or 0),
            )
            for r in rows
        ]

    async def oldest_pending_age(self, *, now: datetime | None = None) -> dict[str, float]:
        """Per queue, how long (seconds) the oldest due pending job has been waiting."""
        rows = await self._rows(self.q.oldest_pending, {"now": self.d.encode_time(now)})
        return {r.queue: max(float(r.age_seconds), 0.0) for r in rows}

    async def db_now(self) -> datetime:
        rows = await self._rows(self.q.db_now, {"now": None})
        now = self.d.decode_time(rows[0].now)
        assert now is not None
        return now
