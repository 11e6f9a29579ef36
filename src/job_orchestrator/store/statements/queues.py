"""Queues: their stored settings (pause, limits) and the overview of every queue."""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.readiness import ready

QUEUE_COLUMNS = "name, paused, rate_limit_per_second, concurrency_limit"


class QueueStatements:
    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        # A partial update: a field changes only when its :set_* flag is true (null is a value
        # for the limits, so the flag, not the value, says whether it was given).
        self.put_settings = text(
            "INSERT INTO queues (name, paused, rate_limit_per_second, concurrency_limit, "
            f"updated_at) VALUES (:name, :paused, :rate, :concurrency, {now}) "
            "ON CONFLICT (name) DO UPDATE SET "
            "paused = CASE WHEN :set_paused THEN excluded.paused ELSE queues.paused END, "
            "rate_limit_per_second = CASE WHEN :set_rate THEN excluded.rate_limit_per_second "
            "ELSE queues.rate_limit_per_second END, "
            "concurrency_limit = CASE WHEN :set_concurrency THEN excluded.concurrency_limit "
            "ELSE queues.concurrency_limit END, "
            "updated_at = excluded.updated_at "
            f"RETURNING {QUEUE_COLUMNS}"
        )
        self.get_settings = text(f"SELECT {QUEUE_COLUMNS} FROM queues WHERE name = :name")
        self.list_settings = text(f"SELECT {QUEUE_COLUMNS} FROM queues ORDER BY name")
        self.counts = text("SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state")
        self.counts_of = text(
            "SELECT queue, state, count(*) AS n FROM jobs WHERE queue = :name GROUP BY queue, state"
        )
        # The oldest ready job per queue, by the one readiness definition: a paused queue
        # has no ready job, so its age is null.
        age = (
            f"MAX({now} - jobs.run_at)"
            if d.name == "sqlite"
            else f"EXTRACT(EPOCH FROM MAX({now} - jobs.run_at))"
        )
        self.oldest_ready = text(
            f"SELECT jobs.queue, {age} AS age FROM jobs "
            f"WHERE jobs.state = 'pending' AND {ready(d)} GROUP BY jobs.queue"
        )
        self.oldest_ready_of = text(
            f"SELECT jobs.queue, {age} AS age FROM jobs "
            f"WHERE jobs.state = 'pending' AND jobs.queue = :name AND {ready(d)} "
            "GROUP BY jobs.queue"
        )
