"""Maintenance: the clock, the reaper, leader election, the job counts."""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect


class MaintenanceStatements:
    """Maintenance: the clock, the reaper, leader election, job counts."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        self.db_now = text(f"SELECT {now} AS now")
        self.ping = text("SELECT 1")
        self.select_expired = text(
            "SELECT id, lease_token_hash, attempts, max_attempts, retry_initial_seconds, "
            "retry_multiplier, retry_max_seconds, retry_jitter, "
            f"CASE WHEN deadline IS NOT NULL AND deadline <= {now} THEN 1 ELSE 0 END "
            "AS deadline_passed FROM jobs "
            f"WHERE state = 'leased' AND (lease_expires_at <= {now} OR deadline <= {now}) "
            f"ORDER BY id LIMIT :limit{d.skip_locked}"
        )
        self.acquire_leadership = text(
            "INSERT INTO leader_leases (name, holder, expires_at) "
            f"VALUES (:name, :holder, {d.plus_seconds(now, ':ttl')}) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            f"WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= {now} "
            "RETURNING holder"
        )
        self.release_leadership = text(
            "DELETE FROM leader_leases WHERE name = :name AND holder = :holder"
        )
        self.counts_by_queue_state = text(
            "SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state"
        )
