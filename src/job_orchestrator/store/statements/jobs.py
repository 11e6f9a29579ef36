"""Jobs: enqueue and its idempotency keys, reads, cancel, retry, redrive."""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.common import (
    ENQUEUE_ROW_FIELDS,
    INSERT_JOB_COLUMNS,
    INSERTED_COLUMNS,
    JOB_COLUMNS,
    JOB_COLUMNS_QUALIFIED,
    listed,
)

OWNED = "jobs.owner = :owner"


class JobStatements:
    """Jobs: enqueue (and its idempotency keys), reads, cancel, retry, redrive."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        get_jobs = (
            f"SELECT {JOB_COLUMNS_QUALIFIED}, c.result AS result FROM jobs "
            "LEFT JOIN job_completions c ON c.job_id = jobs.id "
            f"WHERE {d.any_of('jobs.id', 'ids', 'bigint')}"
        )
        self.get_jobs = listed(d, get_jobs, "ids")
        # The *_own forms: a producer-scoped key's calls, where a job of another owner is not
        # found; the owner is part of the one read or write, not an extra lookup before it.
        self.get_own_jobs = listed(d, get_jobs + f" AND {OWNED}", "ids")
        self.job_states = listed(
            d,
            "SELECT jobs.id, jobs.state, c.idempotency_key, c.result FROM jobs "
            "LEFT JOIN job_completions c ON c.job_id = jobs.id "
            f"WHERE {d.any_of('jobs.id', 'ids', 'bigint')}",
            "ids",
        )
        self.list_attempts = text(
            "SELECT job_id, attempt, worker_id, leased_at, finished_at, outcome, error "
            "FROM job_attempts WHERE job_id = :job_id ORDER BY id"
        )
        self.list_own_attempts = text(
            "SELECT a.job_id, a.attempt, a.worker_id, a.leased_at, a.finished_at, a.outcome, "
            "a.error FROM job_attempts a JOIN jobs ON jobs.id = a.job_id "
            f"WHERE a.job_id = :job_id AND {OWNED} ORDER BY a.id"
        )
        if d.name == "postgresql":
            # PostgreSQL also announces the queues in the same statement (the scalar subquery
            # makes the notifying CTE run; an unreferenced CTE would not).
            self.insert_jobs = text(
                f"WITH inserted AS ({self._insert_jobs_sql()}), notified AS ("
                "SELECT pg_notify(:channel, queue) "
                "FROM (SELECT DISTINCT queue FROM inserted) AS q) "
                "SELECT inserted.*, (SELECT count(*) FROM notified) AS notified FROM inserted "
                "ORDER BY id"
            )
        else:
            self.insert_jobs = text(self._insert_jobs_sql())
        self.find_idempotency_keys = listed(
            d,
            # The job's owner: keys stored before they were scoped match only their owner.
            "SELECT key, job_id, fingerprint, jobs.owner FROM job_idempotency_keys "
            "JOIN jobs ON jobs.id = job_idempotency_keys.job_id "
            f"WHERE {d.any_of('key', 'keys', 'text')}",
            "keys",
        )
        self.insert_idempotency_key = text(
            "INSERT INTO job_idempotency_keys (key, job_id, fingerprint, created_at) "
            f"VALUES (:key, :job_id, :fingerprint, {now}) ON CONFLICT (key) DO NOTHING "
            "RETURNING key"
        )
        self.notify = text("SELECT pg_notify(:channel, :queue)")
        # A leased job is cancelled at once; its worker learns it from its next heartbeat, which
        # still matches the token (kept on purpose) and answers cancel_requested.
        cancel = (
            "UPDATE jobs SET cancel_requested = (state = 'leased'), state = 'cancelled', "
            f"finished_at = {now}, updated_at = {now}, lease_expires_at = NULL, deadline = NULL "
            "WHERE id = :job_id AND state IN ('pending', 'leased') "
        )
        self.cancel = text(cancel + f"RETURNING {JOB_COLUMNS}")
        self.cancel_own = text(cancel + f"AND {OWNED} RETURNING {JOB_COLUMNS}")
        self.cancel_attempt = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = 'cancelled' "
            "WHERE job_id = :job_id AND outcome IS NULL"
        )
        back_to_pending = (
            f"UPDATE jobs SET state = 'pending', attempts = 0, run_at = {now}, finished_at = NULL, "
            "cancel_requested = FALSE, lease_token_hash = NULL, worker_id = NULL, "
            f"updated_at = {now} "
        )
        self.retry = text(
            back_to_pending + "WHERE id = :job_id AND state IN ('dlq', 'cancelled') "
            f"RETURNING {JOB_COLUMNS}"
        )
        self._back_to_pending = back_to_pending

    def _insert_jobs_sql(self) -> str:
        """Insert the jobs of one enqueue, in request order (ids ascending with it).

        PostgreSQL takes one array per column (``:col_<name>``, asyncpg sends them in binary)
        and returns only what the database decides (INSERTED_COLUMNS): the store builds the
        rest of each job from the request, instead of reading back all of it. SQLite takes
        the rows as one JSON array (``:rows``) and returns whole jobs (JOB_COLUMNS).
        """
        d, now = self.d, self.d.now
        if d.name == "postgresql":
            fields = [(name, sql_type) for name, sql_type in ENQUEUE_ROW_FIELDS if name != "ord"]
            arrays = ", ".join(f"CAST(:col_{name} AS {sql_type}[])" for name, sql_type in fields)
            names = ", ".join(name for name, _ in fields)
            source = f"unnest({arrays}) WITH ORDINALITY AS r({names}, ord)"
            field = {name: f"r.{name}" for name, _ in ENQUEUE_ROW_FIELDS}
            payload = "CAST(r.payload AS json)"
            returning = INSERTED_COLUMNS
        else:
            source = "json_each(:rows) AS r"
            field = {name: f"json_extract(r.value, '$.{name}')" for name, _ in ENQUEUE_ROW_FIELDS}
            payload = field["payload"]
            returning = JOB_COLUMNS
        run_at = (
            f"COALESCE({field['run_at']}, "
            f"{d.plus_seconds(now, 'COALESCE(' + field['delay_seconds'] + ', 0)')})"
        )
        values = ", ".join(
            [
                field["queue"],
                field["type"],
                payload,
                "'pending'",
                field["priority"],
                "0",
                field["max_attempts"],
                run_at,
                now,
                now,
                field["lease_seconds"],
                field["timeout_seconds"],
                field["retry_initial_seconds"],
                field["retry_multiplier"],
                field["retry_max_seconds"],
                field["retry_jitter"],
                field["idempotency_key"],
                "FALSE",
                field["owner"],
                field["schedule"],
                field["scheduled_for"],
            ]
        )
        return (
            f"INSERT INTO jobs ({INSERT_JOB_COLUMNS}) SELECT {values} FROM {source} "
            f"ORDER BY {field['ord']} RETURNING {returning}"
        )

    @cache  # noqa: B019 - one Queries per store, a handful of filter combinations
    def list_jobs(
        self, *, queue: bool, state: bool, type_: bool, cursor: bool, owner: bool = False
    ) -> TextClause:
        conditions = [
            condition
            for present, condition in (
                (queue, "jobs.queue = :queue"),
                (state, "jobs.state = :state"),
                (type_, "jobs.type = :type"),
                (cursor, "jobs.id < :before_id"),
                (owner, "jobs.owner = :owner"),
            )
            if present
        ]
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        return text(
            f"SELECT {JOB_COLUMNS_QUALIFIED}, c.result AS result FROM jobs "
            f"LEFT JOIN job_completions c ON c.job_id = jobs.id {where}"
            "ORDER BY jobs.id DESC LIMIT :limit"
        )

    @cache  # noqa: B019
    def redrive(self, *, queue: bool, type_: bool) -> TextClause:
        conditions = ["state = 'dlq'"]
        if queue:
            conditions.append("queue = :queue")
        if type_:
            conditions.append("type = :type")
        # A materialized CTE: PostgreSQL may re-run a LIMIT subquery inside "IN (...)" and
        # update more rows than the limit.
        return text(
            f"WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE {' AND '.join(conditions)} "
            f"ORDER BY id LIMIT :limit{self.d.for_update}) "
            + self._back_to_pending
            + "FROM picked WHERE jobs.id = picked.id AND jobs.state = 'dlq' RETURNING queue"
        )
