"""API keys, and the workers seen by the lease path."""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect


class KeyWorkerStatements:
    """API keys and the workers seen by the lease path."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        self.worker_seen = text(
            "INSERT INTO workers (worker_id, queues, types, last_seen_at) "
            f"VALUES (:worker_id, :queues, :types, {now}) ON CONFLICT (worker_id) DO UPDATE "
            "SET queues = excluded.queues, types = excluded.types, "
            "last_seen_at = excluded.last_seen_at"
        )
        self.list_workers = text(
            "SELECT w.worker_id, w.queues, w.types, w.last_seen_at, "
            "(SELECT count(*) FROM jobs WHERE jobs.state = 'leased' "
            "AND jobs.worker_id = w.worker_id) AS leases_held "
            "FROM workers w WHERE w.last_seen_at >= :since ORDER BY w.last_seen_at DESC "
            "LIMIT :limit"
        )
        self.insert_api_key = text(
            "INSERT INTO api_keys (id, key_hash, scopes, name, created_at) "
            f"VALUES (:id, :key_hash, :scopes, :name, {now})"
        )
        self.find_api_key = text(
            "SELECT key_hash, scopes FROM api_keys WHERE id = :id AND revoked_at IS NULL"
        )
        self.list_api_keys = text(
            "SELECT id, scopes, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
        )
        self.revoke_api_key = text(
            f"UPDATE api_keys SET revoked_at = {now} WHERE id = :id AND revoked_at IS NULL "
            "RETURNING id"
        )
        self.count_active_api_keys = text("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
