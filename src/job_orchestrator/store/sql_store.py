"""The store on SQLAlchemy 2 async Core, shared by the PostgreSQL and SQLite implementations.

No ORM objects on the hot path: statements are prepared text (see ``statements``), rows become
frozen dataclasses. The drivers (``postgres.py``, ``sqlite.py``) supply the engines and the
steps declared abstract here, whose SQL or transaction shape differs by database; this module
holds no database's own version of a step.
"""

from __future__ import annotations

import secrets
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from job_orchestrator.domain.errors import (
    AlreadyCompleted,
    DomainError,
    IdempotencyConflict,
    InvalidTransition,
    JobNotFound,
    LeaseLost,
    StoreUnavailable,
)
from job_orchestrator.domain.fingerprint import fingerprint, scoped_key
from job_orchestrator.domain.models import (
    ApiKeyRecord,
    Attempt,
    Completed,
    Completion,
    EnqueueResult,
    FailureInfo,
    Heartbeat,
    HeartbeatResult,
    Job,
    JobFilter,
    Lease,
    LeaseRequest,
    NewJob,
    QueueChange,
    QueueInfo,
    QueueSettings,
    ReapResult,
    Snooze,
    WorkerInfo,
)
from job_orchestrator.domain.retry import RetryPolicy, decide_after_failure, expiry_outcome
from job_orchestrator.domain.schedules import (
    Overlap,
    Schedule,
    ScheduleDefinition,
    ScheduleNotFound,
    SchedulerStep,
    ScheduleSpec,
    decide,
    first_next_fire_at,
    new_job,
    replaced_next_fire_at,
)
from job_orchestrator.domain.states import AttemptOutcome, JobState
from job_orchestrator.store.base import QueueReadyCallback, Store
from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.errors import translate_errors
from job_orchestrator.store.rows import (
    completion_key,
    decode_json,
    encode_json,
    hash_token,
    job_of,
    lease_of,
)
from job_orchestrator.store.statements import Queries
from job_orchestrator.store.statements.common import LEASE_TOKEN_HASH
from job_orchestrator.store.statements.readiness import READINESS_RULES
from job_orchestrator.store.statements.retention import DELETED_COUNTER

# Concurrent enqueues racing on one idempotency key are settled by retrying the transaction.
_IDEMPOTENT_ENQUEUE_TRIES = 5


class _KeyRace(Exception):
    """Another transaction inserted one of our idempotency keys first."""


def job_not_found(job_id: int) -> JobNotFound:
    return JobNotFound(f"job {job_id} does not exist")


def lease_lost(job_id: int) -> LeaseLost:
    return LeaseLost(f"the lease token is not job {job_id}'s current lease")


class SqlStore(Store):
    def __init__(self, dialect: SqlDialect, writer: AsyncEngine, reader: AsyncEngine) -> None:
        self.dialect_name = dialect.name
        self._d = dialect
        self._q = Queries(dialect)
        self._writer = writer
        self._reader = reader
        self._on_ready: QueueReadyCallback | None = None

    @property
    def reader_engine(self) -> AsyncEngine:
        """The read-only pool (read models such as the dashboard query through it)."""
        return self._reader

    @property
    def dialect(self) -> SqlDialect:
        return self._d

    # ---- plumbing ---------------------------------------------------------------------------
    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with translate_errors(), self._writer.begin() as conn:
            yield conn

    @abstractmethod
    def _statement(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write the dialect can do in one statement (claim, batch completion, heartbeat,
        keyless enqueue, the leader lease)."""

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with translate_errors(), self._reader.connect() as conn:
            yield conn

    def _t(self, value: datetime | None) -> Any:
        return self._d.encode_time(value)

    async def close(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()

    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(self._q.maintenance.ping)

    async def db_now(self) -> datetime:
        async with self._read() as conn:
            value = (await conn.execute(self._q.maintenance.db_now, {"now": None})).scalar_one()
        now = self._d.decode_time(value)
        assert now is not None
        return now

    # ---- wake-ups ---------------------------------------------------------------------------
    async def start_listening(self, on_queue_ready: QueueReadyCallback) -> None:
        self._on_ready = on_queue_ready

    @abstractmethod
    async def _announce(self, conn: AsyncConnection, queues: Iterable[str]) -> None:
        """Tell waiting long-polls that ``queues`` have ready jobs, once this write commits."""

    async def seconds_until_next_due(
        self, queues: Sequence[str], *, now: datetime | None = None
    ) -> float | None:
        params = {"queues": orjson.dumps(list(queues)).decode(), "now": self._t(now)}
        async with self._read() as conn:
            row = (await conn.execute(self._q.leasing.next_due, params)).one()
        at, db_now = self._d.decode_time(row[0]), self._d.decode_time(row[1])
        return None if at is None or db_now is None else (at - db_now).total_seconds()

    # ---- producers --------------------------------------------------------------------------
    async def enqueue_many(
        self, jobs: Sequence[NewJob], *, now: datetime | None = None
    ) -> list[EnqueueResult]:
        if not jobs:
            return []
        if not any(job.idempotency_key for job in jobs):
            # One INSERT, atomic on its own (all or nothing for the batch); on PostgreSQL the
            # wake-up NOTIFY follows it outside a transaction, once the rows are visible.
            async with self._statement() as conn:
                return await self._enqueue_in(conn, jobs, now)
        for _ in range(_IDEMPOTENT_ENQUEUE_TRIES):
            try:
                async with self._write() as conn:
                    return await self._enqueue_in(conn, jobs, now)
            except _KeyRace:
                continue
        raise StoreUnavailable("concurrent enqueues kept racing on an idempotency key; retry")

    async def _enqueue_in(
        self, conn: AsyncConnection, jobs: Sequence[NewJob], now: datetime | None
    ) -> list[EnqueueResult]:
        fingerprints = [fingerprint(j) if j.idempotency_key else "" for j in jobs]
        scoped = [scoped_key(j) for j in jobs]
        # key as stored -> (existing job id, fingerprint)
        known = await self._known_idempotency_keys(conn, jobs, scoped)
        # Which request positions create a job, and which reuse one (by key).
        to_insert: list[int] = []
        reuse: dict[int, str] = {}
        for i, job in enumerate(jobs):
            key = scoped[i]
            if key is None:
                to_insert.append(i)
                continue
            if key in known:
                if known[key][1] != fingerprints[i]:
                    raise IdempotencyConflict(
                        f"idempotency_key {job.idempotency_key!r} was used before with a "
                        "different request",
                        details={"idempotency_key": job.idempotency_key},
                    )
                reuse[i] = key
                continue
            known[key] = (None, fingerprints[i])  # later duplicates in this batch reuse it
            to_insert.append(i)
        created: dict[int, Job] = {}
        if to_insert:
            inserted = await self._insert_jobs(conn, [jobs[i] for i in to_insert], now)
            created = dict(zip(to_insert, inserted, strict=True))
        for i, new in created.items():
            key = scoped[i]
            if key is None:
                continue
            known[key] = (new.id, fingerprints[i])
            stored = await conn.execute(
                self._q.jobs.insert_idempotency_key,
                {"key": key, "job_id": new.id, "fingerprint": fingerprints[i], "now": self._t(now)},
            )
            if stored.first() is None:
                raise _KeyRace(key)
        reused_ids = {known[key][0] for key in reuse.values()}
        existing = await self._get_jobs_in(conn, [i for i in reused_ids if i is not None])
        results: list[EnqueueResult] = []
        for i in range(len(jobs)):
            if i in created:
                results.append(EnqueueResult(created[i], created=True))
            else:
                job_id = known[reuse[i]][0]
                assert job_id is not None
                results.append(EnqueueResult(existing[job_id], created=False))
        return results

    async def _known_idempotency_keys(
        self, conn: AsyncConnection, jobs: Sequence[NewJob], scoped: Sequence[str | None]
    ) -> dict[str, tuple[int | None, str]]:
        """The stored keys these jobs use, by key as stored. A row written before keys were
        scoped per owner holds the bare key: it counts for its own job's owner only."""
        wanted = {k for k in scoped if k is not None}
        wanted |= {j.idempotency_key for j in jobs if j.idempotency_key and j.owner is not None}
        if not wanted:
            return {}
        rows = await conn.execute(self._q.jobs.find_idempotency_keys, {"keys": sorted(wanted)})
        stored = {r.key: r for r in rows}
        known: dict[str, tuple[int | None, str]] = {}
        for job, key in zip(jobs, scoped, strict=True):
            row = stored.get(key) if key is not None else None
            if row is None and job.owner is not None and job.idempotency_key is not None:
                legacy = stored.get(job.idempotency_key)
                row = legacy if legacy is not None and legacy.owner == job.owner else None
            if row is not None and key is not None:
                known[key] = (row.job_id, row.fingerprint)
        return known

    @abstractmethod
    async def _insert_jobs(
        self, conn: AsyncConnection, jobs: Sequence[NewJob], now: datetime | None
    ) -> list[Job]:
        """Insert the jobs, announce their queues; the stored jobs in request order."""

    async def get_jobs(self, job_ids: Sequence[int], *, owner: str | None = None) -> dict[int, Job]:
        async with self._read() as conn:
            return await self._get_jobs_in(conn, job_ids, owner)

    async def _get_jobs_in(
        self, conn: AsyncConnection, job_ids: Sequence[int], owner: str | None = None
    ) -> dict[int, Job]:
        if not job_ids:
            return {}
        if owner is None:
            rows = await conn.execute(self._q.jobs.get_jobs, {"ids": list(job_ids)})
        else:
            params = {"ids": list(job_ids), "owner": owner}
            rows = await conn.execute(self._q.jobs.get_own_jobs, params)
        return {job.id: job for job in map(job_of, rows)}

    async def list_jobs(self, filters: JobFilter) -> list[Job]:
        statement = self._q.jobs.list_jobs(
            queue=filters.queue is not None,
            state=filters.state is not None,
            type_=filters.type is not None,
            cursor=filters.before_id is not None,
            owner=filters.owner is not None,
        )
        params = {
            "queue": filters.queue,
            "state": filters.state.value if filters.state else None,
            "type": filters.type,
            "before_id": filters.before_id,
            "owner": filters.owner,
            "limit": filters.limit,
        }
        async with self._read() as conn:
            rows = await conn.execute(statement, {k: v for k, v in params.items() if v is not None})
            return [job_of(r) for r in rows]

    async def list_attempts(self, job_id: int, *, owner: str | None = None) -> list[Attempt]:
        q = self._q.jobs
        statement, params = (
            (q.list_attempts, {"job_id": job_id})
            if owner is None
            else (q.list_own_attempts, {"job_id": job_id, "owner": owner})
        )
        async with self._read() as conn:
            rows = list(await conn.execute(statement, params))
            if not rows:
                await self._require_job(conn, job_id, owner)
        t = self._d.decode_time
        return [
            Attempt(
                job_id=r.job_id,
                attempt=r.attempt,
                worker_id=r.worker_id,
                leased_at=t(r.leased_at),  # type: ignore[arg-type]
                finished_at=t(r.finished_at),
                outcome=AttemptOutcome(r.outcome) if r.outcome else None,
                error=decode_json(r.error),
            )
            for r in rows
        ]

    async def _require_job(
        self, conn: AsyncConnection, job_id: int, owner: str | None = None
    ) -> Job:
        job = (await self._get_jobs_in(conn, [job_id], owner)).get(job_id)
        if job is None:
            raise job_not_found(job_id)
        return job

    async def _why_not_held(
        self, conn: AsyncConnection, job_ids: Iterable[int]
    ) -> dict[int, DomainError]:
        """For lease-holder calls whose guard matched nothing: a job that exists was not
        held by that token (409), one that does not is 404. One lookup for them all."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        found = {row.id for row in await conn.execute(self._q.jobs.job_states, {"ids": ids})}
        return {i: lease_lost(i) if i in found else job_not_found(i) for i in ids}

    async def cancel(
        self, job_id: int, *, owner: str | None = None, now: datetime | None = None
    ) -> Job:
        q = self._q.jobs
        params = {"job_id": job_id, "now": self._t(now)}
        statement = q.cancel if owner is None else q.cancel_own
        if owner is not None:
            params["owner"] = owner
        async with self._write() as conn:
            row = (await conn.execute(statement, params)).first()
            if row is None:
                job = await self._require_job(conn, job_id, owner)
                raise InvalidTransition(
                    f"job {job_id} is {job.state.value}: "
                    "only pending or leased jobs can be cancelled",
                    details={"state": job.state.value},
                )
            await conn.execute(self._q.jobs.cancel_attempt, {"job_id": job_id, "now": self._t(now)})
            return job_of(row)

    async def retry(self, job_id: int, *, now: datetime | None = None) -> Job:
        async with self._write() as conn:
            row = (
                await conn.execute(self._q.jobs.retry, {"job_id": job_id, "now": self._t(now)})
            ).first()
            if row is None:
                job = await self._require_job(conn, job_id)
                raise InvalidTransition(
                    f"job {job_id} is {job.state.value}: only dlq or cancelled jobs can be retried",
                    details={"state": job.state.value},
                )
            job = job_of(row)
            await self._announce(conn, [job.queue])
            return job

    async def redrive(
        self,
        *,
        queue: str | None,
        type_: str | None,
        limit: int,
        now: datetime | None = None,
    ) -> int:
        statement = self._q.jobs.redrive(queue=queue is not None, type_=type_ is not None)
        params: dict[str, Any] = {"limit": limit, "now": self._t(now)}
        if queue is not None:
            params["queue"] = queue
        if type_ is not None:
            params["type"] = type_
        async with self._write() as conn:
            queues = [r.queue for r in await conn.execute(statement, params)]
            await self._announce(conn, queues)
        return len(queues)

    # ---- workers ----------------------------------------------------------------------------
    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Lease]:
        tokens = [secrets.token_urlsafe(32) for _ in range(request.max_jobs)]
        by_hash = {hash_token(token): token for token in tokens}
        async with self._statement() as conn:
            rows = await self._claim(conn, request, list(by_hash), now)
        leases = [lease_of(row, by_hash[row[LEASE_TOKEN_HASH]]) for row in rows]
        leases.sort(key=lambda lease: lease.job_id)
        return leases

    def _claim_params(
        self, request: LeaseRequest, token_hashes: Any, now: datetime | None
    ) -> dict[str, Any]:
        asked = sorted(set(request.queues))
        params: dict[str, Any] = {
            "queues": list(request.queues),
            # The paused-queues shortcut (readiness.some_asked_queue_not_paused).
            "asked_queues": asked,
            "asked_count": len(asked),
            "limit": request.max_jobs,
            "token_hashes": token_hashes,
            "worker_id": request.worker_id,
            "now": self._t(now),
        }
        if request.types:
            params["types"] = list(request.types)
        return params

    @abstractmethod
    async def _claim(
        self,
        conn: AsyncConnection,
        request: LeaseRequest,
        token_hashes: list[str],
        now: datetime | None,
    ) -> Sequence[Sequence[Any]]:
        """Lease up to the request's limit; LEASE_COLUMNS rows, each with one of the hashes."""

    async def heartbeat_many(
        self, beats: Sequence[Heartbeat], *, now: datetime | None = None
    ) -> list[HeartbeatResult | DomainError]:
        items = list(beats)
        if not items:
            return []
        async with self._statement() as conn:
            done = await self._heartbeat_guarded(conn, items, now)
            misses = [beat.job_id for i, beat in enumerate(items) if i not in done]
            why = await self._why_not_held(conn, misses)
        return [done[i] if i in done else why[beat.job_id] for i, beat in enumerate(items)]

    @abstractmethod
    async def _heartbeat_guarded(
        self, conn: AsyncConnection, items: list[Heartbeat], now: datetime | None
    ) -> dict[int, HeartbeatResult]:
        """The items whose guarded update matched, by position."""

    async def complete_many(
        self,
        completions: Sequence[Completion],
        *,
        now: datetime | None = None,
        return_jobs: bool = True,
    ) -> list[Job | Completed | DomainError]:
        items = list(completions)
        if not items:
            return []
        async with self._statement() as conn:
            done = await self._complete_guarded(conn, items, now, return_jobs)
            misses = [i for i in range(len(items)) if i not in done]
            resolved = await self._resolve_completion_misses(conn, items, misses, return_jobs)
        return [done[i] if i in done else resolved[i] for i in range(len(items))]

    @abstractmethod
    async def _complete_guarded(
        self,
        conn: AsyncConnection,
        items: list[Completion],
        now: datetime | None,
        return_jobs: bool,
    ) -> dict[int, Job | Completed]:
        """Complete every item whose token is the current lease; positions -> outcome."""

    async def _resolve_completion_misses(
        self,
        conn: AsyncConnection,
        items: list[Completion],
        misses: list[int],
        return_jobs: bool,
    ) -> dict[int, Job | Completed | DomainError]:
        """Why a completion changed nothing: replay, already completed, lease lost, not found."""
        if not misses:
            return {}
        ids = sorted({items[i].job_id for i in misses})
        states = {r.id: r for r in await conn.execute(self._q.jobs.job_states, {"ids": ids})}
        replayed: list[int] = []
        outcome: dict[int, Job | Completed | DomainError] = {}
        for i in misses:
            item = items[i]
            row = states.get(item.job_id)
            if row is None:
                outcome[i] = job_not_found(item.job_id)
            elif row.idempotency_key is None:
                outcome[i] = lease_lost(item.job_id)
            elif row.idempotency_key == completion_key(item):
                replayed.append(i)
            else:
                outcome[i] = AlreadyCompleted(
                    f"job {item.job_id} was already completed with another idempotency key",
                    details={"result": decode_json(row.result)},
                )
        if replayed and return_jobs:
            jobs = await self._get_jobs_in(conn, [items[i].job_id for i in replayed])
            for i in replayed:
                outcome[i] = jobs[items[i].job_id]
        else:
            for i in replayed:
                outcome[i] = Completed(items[i].job_id, replayed=True)
        return outcome

    async def fail(
        self, job_id: int, lease_token: str, failure: FailureInfo, *, now: datetime | None = None
    ) -> Job:
        token_hash = hash_token(lease_token)
        async with self._write() as conn:
            row = (
                await conn.execute(
                    self._q.worker_calls.select_for_failure,
                    {"job_id": job_id, "token_hash": token_hash, "now": self._t(now)},
                )
            ).first()
            if row is None:
                raise (await self._why_not_held(conn, [job_id]))[job_id]
            return await self._end_attempt(
                conn,
                row,
                job_id=job_id,
                token_hash=token_hash,
                outcome=AttemptOutcome.FAILED,
                error=failure.as_json(),
                retryable=failure.retryable,
                retry_after_seconds=failure.retry_after_seconds,
                now=now,
            )

    async def release_many(
        self, leases: Sequence[tuple[int, str]], *, now: datetime | None = None
    ) -> list[DomainError | None]:
        outcomes: list[DomainError | None] = []
        released_queues: set[str] = set()
        # One transaction: rare (a stopping worker's unstarted leases), so per-item statements.
        async with self._write() as conn:
            for job_id, token in leases:
                params = {"job_id": job_id, "token_hash": hash_token(token), "now": self._t(now)}
                queue = (await conn.execute(self._q.worker_calls.release_lease, params)).scalar()
                if queue is None:
                    outcomes.append((await self._why_not_held(conn, [job_id]))[job_id])
                    continue
                await conn.execute(self._q.worker_calls.forget_running_attempt, {"job_id": job_id})
                released_queues.add(queue)
                outcomes.append(None)
            await self._announce(conn, released_queues)
        return outcomes

    async def _end_attempt(
        self,
        conn: AsyncConnection,
        row: Row[Any],
        *,
        job_id: int,
        token_hash: str,
        outcome: AttemptOutcome,
        error: dict[str, Any],
        retryable: bool,
        retry_after_seconds: float | None,
        now: datetime | None,
    ) -> Job:
        """Apply the pure retry decision to a leased job whose attempt just ended."""
        decision = decide_after_failure(
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            retryable=retryable,
            policy=RetryPolicy(
                initial_seconds=row.retry_initial_seconds,
                multiplier=row.retry_multiplier,
                max_seconds=row.retry_max_seconds,
                jitter=bool(row.retry_jitter),
            ),
            retry_after_seconds=retry_after_seconds,
        )
        error_json = encode_json({**error, "attempt": row.attempts})
        updated = (
            await conn.execute(
                self._q.worker_calls.end_attempt,
                {
                    "job_id": job_id,
                    "token_hash": token_hash,
                    "next_state": decision.next_state.value,
                    "delay": decision.delay_seconds or 0.0,
                    "error": error_json,
                    "now": self._t(now),
                },
            )
        ).first()
        if updated is None:  # cannot happen while we hold the row; kept as a loud guard
            raise LeaseLost(f"job {job_id} changed while its attempt was being ended")
        await conn.execute(
            self._q.worker_calls.finish_attempt,
            {"job_id": job_id, "outcome": outcome.value, "error": error_json, "now": self._t(now)},
        )
        job = job_of(updated)
        if job.state is JobState.PENDING:
            # Also when the retry is delayed: the waiters' timer learns its run_at from it.
            await self._announce(conn, [job.queue])
        return job

    # ---- maintenance ------------------------------------------------------------------------
    async def reap_expired(self, *, batch_size: int, now: datetime | None = None) -> ReapResult:
        expired = timed_out = retried = dead = 0
        async with self._write() as conn:
            rows = list(
                await conn.execute(
                    self._q.maintenance.select_expired, {"limit": batch_size, "now": self._t(now)}
                )
            )
            for row in rows:
                outcome = expiry_outcome(deadline_passed=bool(row.deadline_passed))
                message = (
                    "execution timeout exceeded"
                    if outcome is AttemptOutcome.TIMED_OUT
                    else "lease expired without a heartbeat"
                )
                job = await self._end_attempt(
                    conn,
                    row,
                    job_id=row.id,
                    token_hash=row.lease_token_hash,
                    outcome=outcome,
                    error={"message": message, "type": outcome.value, "retryable": True},
                    retryable=True,
                    retry_after_seconds=None,
                    now=now,
                )
                if outcome is AttemptOutcome.TIMED_OUT:
                    timed_out += 1
                else:
                    expired += 1
                if job.state is JobState.DLQ:
                    dead += 1
                else:
                    retried += 1
        return ReapResult(
            lease_expired=expired, timed_out=timed_out, retried=retried, dead_lettered=dead
        )

    async def try_acquire_leadership(
        self, name: str, holder: str, *, ttl_seconds: float, now: datetime | None = None
    ) -> bool:
        params = {"name": name, "holder": holder, "ttl": ttl_seconds, "now": self._t(now)}
        async with self._statement() as conn:
            return (
                await conn.execute(self._q.maintenance.acquire_leadership, params)
            ).first() is not None

    async def release_leadership(self, name: str, holder: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._q.maintenance.release_leadership, {"name": name, "holder": holder}
            )

    async def counts_by_queue_state(self) -> list[tuple[str, str, int]]:
        async with self._read() as conn:
            rows = await conn.execute(self._q.maintenance.counts_by_queue_state)
            return [(r.queue, r.state, r.n) for r in rows]

    # ---- workers ----------------------------------------------------------------------------
    async def record_worker_seen(
        self,
        worker_id: str,
        queues: Sequence[str],
        *,
        now: datetime | None = None,
        types: Sequence[str] | None = None,
    ) -> None:
        params = {
            "worker_id": worker_id,
            "queues": orjson.dumps(list(queues)).decode(),
            "types": None if types is None else orjson.dumps(list(types)).decode(),
            "now": self._t(now),
        }
        async with self._statement() as conn:  # one upsert: no BEGIN/COMMIT on PostgreSQL
            await conn.execute(self._q.keys_workers.worker_seen, params)

    async def list_workers(self, *, since: datetime, limit: int = 500) -> list[WorkerInfo]:
        async with self._read() as conn:
            rows = await conn.execute(
                self._q.keys_workers.list_workers, {"since": self._t(since), "limit": limit}
            )
            return [
                WorkerInfo(
                    worker_id=r.worker_id,
                    queues=tuple(orjson.loads(r.queues)),
                    last_seen_at=self._d.decode_time(r.last_seen_at),  # type: ignore[arg-type]
                    leases_held=r.leases_held,
                    types=None if r.types is None else tuple(orjson.loads(r.types)),
                )
                for r in rows
            ]

    # ---- API keys ---------------------------------------------------------------------------
    async def create_api_key(
        self, *, key_id: str, key_hash: str, scopes: Sequence[str], name: str | None
    ) -> None:
        params = {
            "id": key_id,
            "key_hash": key_hash,
            "scopes": "+".join(scopes),
            "name": name,
            "now": None,
        }
        async with self._write() as conn:
            await conn.execute(self._q.keys_workers.insert_api_key, params)

    async def find_api_key(self, key_id: str) -> tuple[str, tuple[str, ...]] | None:
        async with self._read() as conn:
            row = (await conn.execute(self._q.keys_workers.find_api_key, {"id": key_id})).first()
        return None if row is None else (row.key_hash, tuple(row.scopes.split("+")))

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        async with self._read() as conn:
            rows = await conn.execute(self._q.keys_workers.list_api_keys)
            t = self._d.decode_time
            return [
                ApiKeyRecord(
                    id=r.id,
                    scopes=tuple(r.scopes.split("+")),
                    name=r.name,
                    created_at=t(r.created_at),  # type: ignore[arg-type]
                    revoked_at=t(r.revoked_at),
                )
                for r in rows
            ]

    async def revoke_api_key(self, key_id: str) -> bool:
        async with self._write() as conn:
            row = (
                await conn.execute(self._q.keys_workers.revoke_api_key, {"id": key_id, "now": None})
            ).first()
        return row is not None

    async def count_active_api_keys(self) -> int:
        async with self._read() as conn:
            return int(
                (await conn.execute(self._q.keys_workers.count_active_api_keys)).scalar_one()
            )

    # ---- schedules --------------------------------------------------------------------------
    def _schedule_of(self, row: Sequence[Any]) -> Schedule:
        """A row of SCHEDULE_COLUMNS (positional: the step reads hundreds per batch)."""
        (
            name, cron, every_seconds, timezone, job, overlap, catchup, paused, next_fire_at,
            last_fire_at, last_job_id, created_at, updated_at, *_rest,
        ) = row  # fmt: skip
        t = self._d.decode_time
        return Schedule(
            name=name,
            spec=ScheduleSpec(cron=cron, every_seconds=every_seconds, timezone=timezone),
            job=decode_json(job),
            overlap=Overlap(overlap),
            catchup_window_seconds=catchup,
            paused=bool(paused),
            next_fire_at=t(next_fire_at),
            last_fire_at=t(last_fire_at),
            last_job_id=last_job_id,
            created_at=t(created_at),  # type: ignore[arg-type]
            updated_at=t(updated_at),  # type: ignore[arg-type]
        )

    async def _clock(self, conn: AsyncConnection, now: datetime | None) -> datetime:
        """One instant for a whole transaction: the decisions are made in Python on it."""
        if now is not None:
            return now
        value = (await conn.execute(self._q.maintenance.db_now, {"now": None})).scalar_one()
        clock = self._d.decode_time(value)
        assert clock is not None
        return clock

    async def put_schedule(
        self, definition: ScheduleDefinition, *, now: datetime | None = None
    ) -> tuple[Schedule, bool]:
        q = self._q.schedules
        async with self._write() as conn:
            clock = await self._clock(conn, now)
            row = (await conn.execute(q.get_for_update, {"name": definition.name})).first()
            old = None if row is None else self._schedule_of(row)
            spec, paused = definition.spec, definition.paused
            next_fire_at = (
                first_next_fire_at(spec, clock, paused=paused)
                if old is None
                else replaced_next_fire_at(old, spec, clock, paused=paused)
            )
            params = {
                "name": definition.name,
                "cron": spec.cron,
                "every_seconds": spec.every_seconds,
                "timezone": spec.timezone,
                "job": encode_json(definition.job),
                "overlap": definition.overlap.value,
                "catchup_window_seconds": definition.catchup_window_seconds,
                "paused": paused,
                "next_fire_at": self._t(next_fire_at),
                "now": self._t(clock),
            }
            stored = (await conn.execute(q.upsert, params)).one()
        return self._schedule_of(stored), old is None

    async def get_schedule(self, name: str) -> Schedule:
        async with self._read() as conn:
            row = (await conn.execute(self._q.schedules.get, {"name": name})).first()
        if row is None:
            raise schedule_not_found(name)
        return self._schedule_of(row)

    async def list_schedules(self, *, limit: int, after: str | None = None) -> list[Schedule]:
        q = self._q.schedules
        statement, params = (
            (q.list_first, {"limit": limit})
            if after is None
            else (q.list_after, {"limit": limit, "after": after})
        )
        async with self._read() as conn:
            return [self._schedule_of(r) for r in await conn.execute(statement, params)]

    async def delete_schedule(self, name: str) -> None:
        async with self._write() as conn:
            row = (await conn.execute(self._q.schedules.delete, {"name": name})).first()
        if row is None:
            raise schedule_not_found(name)

    async def set_schedule_paused(
        self, name: str, paused: bool, *, now: datetime | None = None
    ) -> Schedule:
        q = self._q.schedules
        async with self._write() as conn:
            clock = await self._clock(conn, now)
            row = (await conn.execute(q.get_for_update, {"name": name})).first()
            if row is None:
                raise schedule_not_found(name)
            current = self._schedule_of(row)
            if current.paused == paused:
                return current  # pausing a paused schedule changes nothing
            params = {
                "name": name,
                "paused": paused,
                "was_paused": current.paused,
                "next_fire_at": self._t(first_next_fire_at(current.spec, clock, paused=paused)),
                "now": self._t(clock),
            }
            return self._schedule_of((await conn.execute(q.set_paused, params)).one())

    async def run_due_schedules(
        self, *, batch_size: int, now: datetime | None = None
    ) -> SchedulerStep:
        for _ in range(_IDEMPOTENT_ENQUEUE_TRIES):
            try:
                async with self._write() as conn:
                    return await self._run_due_schedules_in(conn, batch_size, now)
            except _KeyRace:
                continue
        raise StoreUnavailable("concurrent scheduler steps kept racing; retry")

    async def _run_due_schedules_in(
        self, conn: AsyncConnection, batch_size: int, now: datetime | None
    ) -> SchedulerStep:
        q = self._q.schedules
        clock = await self._clock(conn, now)
        rows = list(await conn.execute(q.due, {"now": self._t(clock), "limit": batch_size}))
        skipped = 0
        fires: list[tuple[Schedule, datetime, NewJob]] = []
        advances: list[tuple[Schedule, datetime | None]] = []
        for row in rows:
            schedule = self._schedule_of(row)
            assert schedule.next_fire_at is not None
            decision = decide(
                schedule.spec,
                next_fire_at=schedule.next_fire_at,
                now=clock,
                catchup_window_seconds=schedule.catchup_window_seconds,
                overlap=schedule.overlap,
                last_job_active=bool(row.last_job_active),
            )
            skipped += decision.skipped
            advances.append((schedule, decision.next_fire_at))
            fires.extend(
                (schedule, t, new_job(schedule, scheduled_for=t)) for t in decision.fire_times
            )
        job_of_key = await self._enqueue_fires(conn, [job for _, _, job in fires], clock)
        latest: dict[str, tuple[datetime, int]] = {}
        for schedule, t, job in fires:
            assert job.idempotency_key is not None
            latest[schedule.name] = (t, job_of_key[job.idempotency_key][0])
        advanced = await self._advance_schedules(
            conn,
            [
                (s.name, s.next_fire_at, next_at, *latest.get(s.name, (None, None)))
                for s, next_at in advances
            ],
        )
        if advanced != len(advances):  # cannot happen while the rows are locked: stay loud
            raise _KeyRace("a due schedule changed under the step")
        earliest = (await conn.execute(q.earliest_next_fire_at)).scalar()
        created = [job_id for job_id, was_created in job_of_key.values() if was_created]
        return SchedulerStep(
            enqueued=len(created),
            skipped=skipped,
            schedules=len(rows),
            now=clock,
            earliest_next_fire_at=self._d.decode_time(earliest),
            job_ids=tuple(sorted(created)),
        )

    async def _enqueue_fires(
        self, conn: AsyncConnection, jobs: list[NewJob], clock: datetime
    ) -> dict[str, tuple[int, bool]]:
        """Enqueue the fire times' jobs in one INSERT; key -> (job id, created). A key already
        stored (the fire time was enqueued before) keeps its job: no second one."""
        if not jobs:
            return {}
        keys = [job.idempotency_key for job in jobs if job.idempotency_key]
        found = await conn.execute(self._q.schedules.find_keys, {"keys": keys})
        job_of_key = {r.key: (r.job_id, False) for r in found}
        fresh = [job for job in jobs if job.idempotency_key not in job_of_key]
        if fresh:
            inserted = await self._insert_jobs(conn, fresh, clock)
            rows = [
                (job.idempotency_key or "", stored.id, fingerprint(job))
                for job, stored in zip(fresh, inserted, strict=True)
            ]
            if await self._insert_schedule_keys(conn, rows, clock) != len(rows):
                raise _KeyRace("another step stored a fire time's key first")
            job_of_key.update({key: (job_id, True) for key, job_id, _ in rows})
        return job_of_key

    @abstractmethod
    async def _insert_schedule_keys(
        self, conn: AsyncConnection, rows: list[tuple[str, int, str]], now: datetime
    ) -> int:
        """Store (key, job id, fingerprint) rows in one statement; how many were new."""

    @abstractmethod
    async def _advance_schedules(
        self,
        conn: AsyncConnection,
        rows: list[tuple[str, datetime | None, datetime | None, datetime | None, int | None]],
    ) -> int:
        """(name, old next_fire_at, new next_fire_at, last fire time, last job id) in one
        compare-and-set statement; how many schedules advanced."""

    # ---- v1.1: readiness, queues, snooze, retention -----------------------------------------
    async def readiness(self, job_id: int, *, now: datetime | None = None) -> dict[str, bool]:
        params = {"job_id": job_id, "now": self._t(now)}
        async with self._read() as conn:
            row = (await conn.execute(self._q.readiness.rule_columns, params)).first()
        if row is None:
            raise job_not_found(job_id)
        return {name: bool(row._mapping[name]) for name in READINESS_RULES}

    async def put_queue(
        self, name: str, change: QueueChange, *, now: datetime | None = None
    ) -> QueueSettings:
        params = {
            "name": name,
            "paused": bool(change.paused),
            "set_paused": change.paused is not None,
            "rate": change.rate_limit_per_second,
            "set_rate": change.rate_limit_given,
            "concurrency": change.concurrency_limit,
            "set_concurrency": change.concurrency_limit_given,
            "now": self._t(now),
        }
        async with self._write() as conn:
            row = (await conn.execute(self._q.queues.put_settings, params)).one()
            settings = _queue_settings_of(row)
            if change.paused is False:
                # Its pending jobs may be ready again: wake the queue's long polls, as an
                # enqueue does (readiness.md: every readiness writer announces).
                await self._announce(conn, [name])
        return settings

    async def queue_settings(self, name: str) -> QueueSettings:
        async with self._read() as conn:
            row = (await conn.execute(self._q.queues.get_settings, {"name": name})).first()
        return QueueSettings(name) if row is None else _queue_settings_of(row)

    async def list_queues(
        self, *, name: str | None = None, now: datetime | None = None
    ) -> list[QueueInfo]:
        q = self._q.queues
        one = {"name": name, "now": self._t(now)}
        async with self._read() as conn:
            if name is None:
                stored = list(await conn.execute(q.list_settings))
                counts = list(await conn.execute(q.counts))
                ages = list(await conn.execute(q.oldest_ready, {"now": self._t(now)}))
            else:
                stored = list(await conn.execute(q.get_settings, one))
                counts = list(await conn.execute(q.counts_of, one))
                ages = list(await conn.execute(q.oldest_ready_of, one))
        settings = {row.name: _queue_settings_of(row) for row in stored}
        by_queue: dict[str, dict[str, int]] = {}
        for row in counts:
            by_queue.setdefault(row.queue, {})[row.state] = int(row.n)
        oldest = {row.queue: max(float(row.age), 0.0) for row in ages if row.age is not None}
        names = sorted(set(settings) | set(by_queue) | ({name} if name is not None else set()))
        return [
            QueueInfo(
                settings=settings.get(queue, QueueSettings(queue)),
                counts={
                    state.value: by_queue.get(queue, {}).get(state.value, 0) for state in JobState
                },
                oldest_ready_seconds=oldest.get(queue),
            )
            for queue in names
        ]

    async def snooze(self, snooze: Snooze, *, now: datetime | None = None) -> Job:
        q = self._q.snooze
        params = {
            "job_id": snooze.job_id,
            "token_hash": hash_token(snooze.lease_token),
            "delay": snooze.delay_seconds,
            "set_details": snooze.set_details,
            "details": encode_json(snooze.details),
            "now": self._t(now),
        }
        async with self._write() as conn:
            row = (await conn.execute(q.snooze, params)).first()
            if row is None:
                raise (await self._why_not_held(conn, [snooze.job_id]))[snooze.job_id]
            await conn.execute(q.finish_attempt, {"job_id": snooze.job_id, "now": self._t(now)})
            job = job_of(row)
            # Also when delayed, as a delayed retry: the waiters' timer learns its run_at
            # from the announcement (the hub's fallback alone would be up to 5 s late).
            await self._announce(conn, [job.queue])
            return job

    async def delete_expired(
        self, state: str, *, retain_seconds: float, limit: int, now: datetime | None = None
    ) -> int:
        q = self._q.retention
        params = {
            "state": state,
            "offset_seconds": -retain_seconds,
            "limit": limit,
            "now": self._t(now),
        }
        # One transaction: the batch and the shared counter move together.
        async with self._write() as conn:
            deleted = len(list(await conn.execute(q.delete_expired, params)))
            if deleted:
                await conn.execute(q.add_to_counter, {"name": DELETED_COUNTER, "n": deleted})
        return deleted

    async def deleted_total(self) -> int:
        async with self._read() as conn:
            value = (
                await conn.execute(self._q.retention.read_counter, {"name": DELETED_COUNTER})
            ).scalar()
        return int(value or 0)


def schedule_not_found(name: str) -> ScheduleNotFound:
    return ScheduleNotFound(f"schedule {name[:255]!r} does not exist")


def _queue_settings_of(row: Row[Any]) -> QueueSettings:
    return QueueSettings(
        name=row.name,
        paused=bool(row.paused),
        rate_limit_per_second=row.rate_limit_per_second,
        concurrency_limit=row.concurrency_limit,
    )
