"""The web dashboard's read-only statements (its read model is ``store/dashboard.py``)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

from job_orchestrator.domain.states import AttemptOutcome
from job_orchestrator.store.dialect import SqlDialect

# The columns a list row shows: no payload or result, which may be 256 KiB each.
SUMMARY_COLUMNS = (
    "id, queue, type, state, priority, attempts, max_attempts, run_at, created_at, updated_at, "
    "finished_at, worker_id, last_error"
)
FAILED_OUTCOMES = (
    AttemptOutcome.FAILED.value,
    AttemptOutcome.LEASE_EXPIRED.value,
    AttemptOutcome.TIMED_OUT.value,
)


class DashboardQueries:
    """The dashboard's statements for one dialect (compiled once, like ``Queries``)."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        if d.name == "postgresql":
            minute = "CAST(floor(EXTRACT(EPOCH FROM a.finished_at) / 60) AS bigint)"
            age = f"EXTRACT(EPOCH FROM ({now} - min(run_at)))"
        else:
            minute = "CAST(a.finished_at / 60 AS INTEGER)"
            age = f"({now} - min(run_at))"
        failed = ", ".join(f"'{o}'" for o in FAILED_OUTCOMES)
        # job_attempts_finished_idx gives the last hour's attempts; the join by primary key
        # gives each its queue.
        self.throughput = text(
            f"SELECT j.queue AS queue, {minute} AS minute, "
            "sum(CASE WHEN a.outcome = 'succeeded' THEN 1 ELSE 0 END) AS succeeded, "
            f"sum(CASE WHEN a.outcome IN ({failed}) THEN 1 ELSE 0 END) AS failed "
            "FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
            f"WHERE a.finished_at IS NOT NULL AND a.finished_at >= {d.plus_seconds(now, ':back')} "
            f"GROUP BY j.queue, {minute} ORDER BY 1, 2"
        )
        # The partial index of pending jobs (jobs_pending_claim_idx) holds every candidate row.
        self.oldest_pending = text(
            f"SELECT queue, {age} AS age_seconds FROM jobs "
            f"WHERE state = 'pending' AND run_at <= {now} GROUP BY queue"
        )
        self.db_now = text(f"SELECT {now} AS now")

    @cache  # noqa: B019 - one instance per reader, a handful of filter combinations
    def job_page(
        self, *, queue: bool, state: bool, type_: bool, cursor: bool, id_range: bool
    ) -> TextClause:
        conditions = [
            condition
            for present, condition in (
                (queue, "queue = :queue"),
                (state, "state = :state"),
                (type_, "type = :type"),
                (cursor, "id < :before_id"),
                (id_range, "id BETWEEN :id_low AND :id_high"),
            )
            if present
        ]
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        return text(f"SELECT {SUMMARY_COLUMNS} FROM jobs {where}ORDER BY id DESC LIMIT :limit")
