"""Retention: the cleaner's bounded deletes of expired terminal jobs, and its shared counter."""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect

DELETED_COUNTER = "jobs_deleted"

# Hook for dependencies (a later issue): a terminal job that a non-terminal job still depends
# on is kept. Until dependencies exist no job depends on another, so nothing is held back;
# that issue replaces this with its NOT EXISTS over the dependency table.
NOT_NEEDED_BY_DEPENDENTS = "1 = 1"


class RetentionStatements:
    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        # :offset_seconds is minus the retention period (a negated parameter has no type).
        expired = (
            "jobs.state = :state AND jobs.finished_at IS NOT NULL "
            f"AND jobs.finished_at <= {d.plus_seconds(now, ':offset_seconds')}"
        )
        # Oldest finished first through jobs_finished_idx (state, finished_at), at most :limit
        # rows a statement so no delete holds its locks long. The outer WHERE repeats the guard
        # (a job retried meanwhile is pending again and stays); attempts, the completion
        # record and the idempotency key go with the job (ON DELETE CASCADE).
        # Materialized first: as a plain IN subquery PostgreSQL may run it again for each outer
        # row, and each run skips the rows this statement already deleted (locked by itself),
        # so LIMIT bounded nothing (5 rows deleted with LIMIT 2 in the conformance test).
        self.delete_expired = text(
            "WITH doomed AS MATERIALIZED (SELECT jobs.id FROM jobs "
            f"WHERE {expired} AND {NOT_NEEDED_BY_DEPENDENTS} "
            f"ORDER BY jobs.finished_at LIMIT :limit{d.skip_locked}) "
            f"DELETE FROM jobs WHERE jobs.id IN (SELECT id FROM doomed) AND {expired} "
            "RETURNING jobs.id"
        )
        self.add_to_counter = text(
            "INSERT INTO maintenance_counters (name, value) VALUES (:name, :n) "
            "ON CONFLICT (name) DO UPDATE SET value = maintenance_counters.value + excluded.value"
        )
        self.read_counter = text("SELECT value FROM maintenance_counters WHERE name = :name")
