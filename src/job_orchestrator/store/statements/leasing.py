"""Leasing: the claim (and, on SQLite, the attempt rows it records next)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, bindparam, text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.common import LEASE_COLUMNS
from job_orchestrator.store.statements.readiness import ready, some_asked_queue_not_paused


class LeasingStatements:
    """Leasing: the claim, and the attempt rows SQLite records after it."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        self.record_attempts = self._record_attempts()
        self.next_due = self._next_due()

    @cache  # noqa: B019
    def claim(self, *, types: bool) -> TextClause:
        """Lease up to :limit ready jobs, pairing each with one of :token_hashes.

        The candidates are the ready jobs (``readiness.ready``: every rule of the one
        definition) in priority, run_at, id order; on PostgreSQL SKIP LOCKED lets
        concurrent claimers take disjoint rows without waiting, on SQLite the caller holds the
        write lock (BEGIN IMMEDIATE). PostgreSQL also records the attempt rows in the same
        statement; SQLite cannot put DML in a CTE, so the store inserts them next.
        """
        d, now = self.d, self.d.now
        # Expanded IN lists here, not arrays: with "= ANY(array)" PostgreSQL's generic plan
        # could not walk the pending index in order and sorted every ready job (10x slower).
        type_filter = "AND type IN :types " if types else ""
        candidates = (
            "SELECT id FROM jobs WHERE state = 'pending' AND queue IN :queues "
            f"{type_filter}AND {ready(d)} AND {some_asked_queue_not_paused()} "
            "ORDER BY priority, run_at, id "
            f"LIMIT :limit{d.skip_locked}"
        )
        picked = f"SELECT id, row_number() OVER () AS n FROM ({candidates}) AS candidates"
        if d.name == "postgresql":
            tokens = (
                "SELECT hash, n FROM unnest(CAST(:token_hashes AS text[])) "
                "WITH ORDINALITY AS t(hash, n)"
            )
            returning = ", ".join(f"jobs.{c.strip()}" for c in LEASE_COLUMNS.split(","))
        else:
            tokens = "SELECT value AS hash, key + 1 AS n FROM json_each(:token_hashes)"
            returning = LEASE_COLUMNS
        update = (
            "UPDATE jobs SET state = 'leased', attempts = attempts + 1, "
            "lease_token_hash = tokens.hash, worker_id = :worker_id, "
            f"leased_at = {now}, lease_expires_at = {d.plus_seconds(now, 'lease_seconds')}, "
            "deadline = CASE WHEN timeout_seconds IS NULL THEN NULL "
            f"ELSE {d.plus_seconds(now, 'timeout_seconds')} END, updated_at = {now} "
            "FROM picked JOIN tokens ON tokens.n = picked.n WHERE jobs.id = picked.id "
            f"RETURNING {returning}"
        )
        if d.name == "postgresql":
            # The claim commits without waiting for its WAL flush (synchronous_commit off for
            # this statement's transaction only; the session keeps its setting). A claim lost
            # in a database crash leaves the job as if never leased: pending, run again with
            # the same attempt number, the first holder fenced off by its unknown token, which
            # is at-least-once as after a worker crash. The next synchronous commit
            # (completion, enqueue) flushes it anyway. The flush wait was about half of a claim's
            # time in PostgreSQL under load, and ~0.4 ms of an idle pickup.
            sql = (
                "WITH lazy_commit AS MATERIALIZED "
                "(SELECT set_config('synchronous_commit', 'off', true)), "
                f"picked AS MATERIALIZED ({picked}), tokens AS ({tokens}), "
                f"leased AS ({update}), "
                "recorded AS (INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at) "
                "SELECT id, attempts, :worker_id, leased_at FROM leased) "
                "SELECT leased.* FROM leased CROSS JOIN lazy_commit"
            )
        else:
            sql = f"WITH picked AS MATERIALIZED ({picked}), tokens AS ({tokens}) {update}"
        names = ["queues", "asked_queues", *(["types"] if types else [])]
        return text(sql).bindparams(*(bindparam(name, expanding=True) for name in names))

    def _record_attempts(self) -> TextClause:
        """SQLite only: the attempt rows of the jobs just claimed (PostgreSQL does it in claim)."""
        return text(
            "INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at) "
            "SELECT id, attempts, worker_id, leased_at FROM jobs WHERE id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))

    def _next_due(self) -> TextClause:
        """The earliest pending run_at still in the future among :queues (NULL if none), and
        the database's now: the long polls' fallback timer sleeps until then.

        A loose index scan of jobs_pending_claim_idx (queue, priority, run_at): per queue, each
        distinct pending priority is one probe, and its earliest future run_at one more. A plain
        min(run_at) would read every pending entry of the queue (1,000,000 at a deep backlog).
        """
        d, now = self.d, self.d.now
        if d.name == "postgresql":
            wanted = "SELECT json_array_elements_text(CAST(:queues AS json))"
        else:
            wanted = "SELECT value FROM json_each(:queues)"
        pending = "SELECT min(j.priority) FROM jobs j WHERE j.state = 'pending' AND j.queue = "
        return text(
            f"WITH RECURSIVE wanted(queue) AS ({wanted}), "
            "levels(queue, priority) AS ("
            f"SELECT w.queue, ({pending}w.queue) FROM wanted w "
            f"UNION ALL SELECT l.queue, ({pending}l.queue AND j.priority > l.priority) "
            "FROM levels l WHERE l.priority IS NOT NULL) "
            "SELECT (SELECT min(per_level.at) FROM (SELECT (SELECT min(j.run_at) FROM jobs j "
            "WHERE j.state = 'pending' AND j.queue = l.queue AND j.priority = l.priority "
            f"AND j.run_at > {now}) AS at FROM levels l WHERE l.priority IS NOT NULL) "
            f"AS per_level) AS next_run_at, {now} AS now"
        )
