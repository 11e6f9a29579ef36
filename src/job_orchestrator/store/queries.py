"""Every runtime SQL statement of the store, by name, for one dialect.

Each state change is one statement guarded in its WHERE clause by the state it leaves (and, for a
leased job, by the lease token's hash and the lease's expiry); a statement that changes zero rows
means the guard did not hold, and the store turns that into a typed error. No SQL lives outside
the store package.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, bindparam, text

from job_orchestrator.store.dialect import SqlDialect

JOB_COLUMNS = (
    "id, queue, type, payload, state, priority, attempts, max_attempts, run_at, created_at, "
    "updated_at, finished_at, lease_expires_at, deadline, timeout_seconds, lease_seconds, "
    "retry_initial_seconds, retry_multiplier, retry_max_seconds, retry_jitter, idempotency_key, "
    "last_error, heartbeat_details, cancel_requested, worker_id, owner"
)
# What PostgreSQL's enqueue reads back (the queue for its NOTIFY): the rest of a new job is
# what the request said.
INSERTED_COLUMNS = "id, run_at, created_at, queue"
JOB_COLUMNS_QUALIFIED = ", ".join(f"jobs.{c.strip()}" for c in JOB_COLUMNS.split(","))
LEASE_COLUMNS = (
    "id, attempts, lease_token_hash, lease_expires_at, deadline, queue, type, payload, "
    "heartbeat_details, lease_seconds, timeout_seconds, leased_at, run_at"
)
# Rows are read by position on the hot path; this is where the token hash sits in a lease row.
LEASE_TOKEN_HASH = [c.strip() for c in LEASE_COLUMNS.split(",")].index("lease_token_hash")
INSERT_JOB_COLUMNS = (
    "queue, type, payload, state, priority, attempts, max_attempts, run_at, created_at, "
    "updated_at, lease_seconds, timeout_seconds, retry_initial_seconds, retry_multiplier, "
    "retry_max_seconds, retry_jitter, idempotency_key, cancel_requested, owner"
)
# The fields of one row of a batch enqueue, as the JSON rows parameter carries them.
ENQUEUE_ROW_FIELDS: tuple[tuple[str, str], ...] = (
    ("queue", "text"),
    ("type", "text"),
    ("payload", "text"),
    ("priority", "integer"),
    ("max_attempts", "integer"),
    ("run_at", "timestamptz"),
    ("delay_seconds", "double precision"),
    ("lease_seconds", "double precision"),
    ("timeout_seconds", "double precision"),
    ("retry_initial_seconds", "double precision"),
    ("retry_multiplier", "double precision"),
    ("retry_max_seconds", "double precision"),
    ("retry_jitter", "boolean"),
    ("idempotency_key", "text"),
    ("owner", "text"),
    ("ord", "integer"),  # the row's position in the request: ids are assigned in this order
)


def leased_and_valid(now: str, *, token: str = ":token_hash", table: str = "") -> str:
    """The guard of every call a lease holder makes: still leased by this token, deadline not
    passed.

    A lease past ``lease_expires_at`` is still honoured until the reaper ends it (as SQS
    honours the last receipt handle until the message is received again): nobody else can
    hold the job before that, and a completion delayed by a database outage must not be
    thrown away. The execution deadline, on the other hand, is final.
    """
    t = f"{table}." if table else ""
    return (
        f"{t}state = 'leased' AND {t}lease_token_hash = {token} "
        f"AND ({t}deadline IS NULL OR {t}deadline > {now})"
    )


class Queries:
    """The statements, compiled once per store (SQLAlchemy caches their compiled form)."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        self.db_now = text(f"SELECT {now} AS now")
        self.ping = text("SELECT 1")

        self.get_jobs = self._listed(
            f"SELECT {JOB_COLUMNS_QUALIFIED}, c.result AS result FROM jobs "
            "LEFT JOIN job_completions c ON c.job_id = jobs.id "
            f"WHERE {d.any_of('jobs.id', 'ids', 'bigint')}",
            "ids",
        )
        self.job_states = self._listed(
            "SELECT jobs.id, jobs.state, c.idempotency_key, c.result FROM jobs "
            "LEFT JOIN job_completions c ON c.job_id = jobs.id "
            f"WHERE {d.any_of('jobs.id', 'ids', 'bigint')}",
            "ids",
        )
        self.list_attempts = text(
            "SELECT job_id, attempt, worker_id, leased_at, finished_at, outcome, error "
            "FROM job_attempts WHERE job_id = :job_id ORDER BY id"
        )

        # ---- enqueue -------------------------------------------------------------------
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
        self.find_idempotency_keys = self._listed(
            "SELECT key, job_id, fingerprint FROM job_idempotency_keys "
            f"WHERE {d.any_of('key', 'keys', 'text')}",
            "keys",
        )
        self.insert_idempotency_key = text(
            "INSERT INTO job_idempotency_keys (key, job_id, fingerprint, created_at) "
            f"VALUES (:key, :job_id, :fingerprint, {now}) ON CONFLICT (key) DO NOTHING "
            "RETURNING key"
        )
        self.notify = text("SELECT pg_notify(:channel, :queue)")

        # ---- worker calls ----------------------------------------------------------------
        self.heartbeat = text(
            "UPDATE jobs SET "
            "lease_expires_at = CASE WHEN state = 'leased' "
            f"THEN {d.plus_seconds(now, 'lease_seconds')} ELSE lease_expires_at END, "
            f"heartbeat_details = CASE WHEN :set_details THEN {d.json('details')} "
            "ELSE heartbeat_details END, "
            f"updated_at = {now} "
            "WHERE id = :job_id AND lease_token_hash = :token_hash AND ("
            f"({leased_and_valid(now)}) OR state = 'cancelled') "
            "RETURNING state, lease_expires_at, cancel_requested"
        )
        self.finish_attempt = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = :outcome, "
            f"error = {d.json('error')} WHERE job_id = :job_id AND outcome IS NULL"
        )
        self.select_for_failure = text(
            "SELECT attempts, max_attempts, retry_initial_seconds, retry_multiplier, "
            "retry_max_seconds, retry_jitter FROM jobs "
            f"WHERE id = :job_id AND {leased_and_valid(now)}{d.for_update}"
        )
        # Used by fail and by the reaper: the caller decided (pure code) what comes next, and the
        # guard (still leased by the same token) proves the inputs of that decision still hold.
        self.end_attempt = text(
            "UPDATE jobs SET state = :next_state, "
            f"run_at = CASE WHEN :next_state = 'pending' THEN {d.plus_seconds(now, ':delay')} "
            "ELSE run_at END, "
            f"finished_at = CASE WHEN :next_state = 'dlq' THEN {now} ELSE NULL END, "
            f"last_error = {d.json('error')}, lease_token_hash = NULL, lease_expires_at = NULL, "
            f"deadline = NULL, updated_at = {now} "
            "WHERE id = :job_id AND state = 'leased' AND lease_token_hash = :token_hash "
            f"RETURNING {JOB_COLUMNS}"
        )

        # A lease handed back unstarted is undone: the attempt it counted is given back and
        # its (never started) attempt row removed, so attempts stay 1..n without gaps.
        self.release_lease = text(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, "
            "lease_token_hash = NULL, lease_expires_at = NULL, deadline = NULL, "
            f"updated_at = {now} WHERE id = :job_id AND {leased_and_valid(now)} "
            "RETURNING queue"
        )
        self.forget_running_attempt = text(
            "DELETE FROM job_attempts WHERE job_id = :job_id AND outcome IS NULL"
        )

        # ---- operations ------------------------------------------------------------------
        # A leased job is cancelled at once; its worker learns it from its next heartbeat, which
        # still matches the token (kept on purpose) and answers cancel_requested.
        self.cancel = text(
            "UPDATE jobs SET cancel_requested = (state = 'leased'), state = 'cancelled', "
            f"finished_at = {now}, updated_at = {now}, lease_expires_at = NULL, deadline = NULL "
            "WHERE id = :job_id AND state IN ('pending', 'leased') "
            f"RETURNING {JOB_COLUMNS}"
        )
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

        # ---- reaper and leader election --------------------------------------------------
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
        self.record_attempts = self._record_attempts()
        self.sqlite_complete = self._sqlite_complete(full=True)
        self.sqlite_complete_light = self._sqlite_complete(full=False)
        self.insert_completions = text(
            "INSERT INTO job_completions (job_id, idempotency_key, result, attempt, completed_at) "
            "SELECT json_extract(value, '$.id'), json_extract(value, '$.key'), "
            f"json_extract(value, '$.result'), json_extract(value, '$.attempt'), {now} "
            "FROM json_each(:items)"
        )
        self.finish_attempts_succeeded = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = 'succeeded' "
            "WHERE outcome IS NULL AND job_id IN (SELECT value FROM json_each(:ids))"
        )
        # PostgreSQL: a batch of heartbeats in one statement, each row guarded by its token
        # (:n is the item's position, to match the answers back).
        self.heartbeat_many = text(
            "WITH input AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:token_hashes AS text[]), CAST(:set_details AS boolean[]), "
            "CAST(:details AS text[])) WITH ORDINALITY AS t(id, token_hash, set_details, "
            "details, n)) "
            "UPDATE jobs SET "
            "lease_expires_at = CASE WHEN jobs.state = 'leased' "
            f"THEN {d.plus_seconds(now, 'jobs.lease_seconds')} ELSE jobs.lease_expires_at END, "
            "heartbeat_details = CASE WHEN input.set_details "
            "THEN CAST(input.details AS json) ELSE jobs.heartbeat_details END, "
            f"updated_at = {now} "
            "FROM input WHERE jobs.id = input.id AND jobs.lease_token_hash = input.token_hash "
            f"AND (({leased_and_valid(now, token='input.token_hash', table='jobs')}) "
            "OR jobs.state = 'cancelled') "
            "RETURNING input.n, jobs.lease_expires_at, jobs.cancel_requested"
        )
        self.complete_many = self._complete_many(full=True)
        self.complete_many_light = self._complete_many(full=False)
        # ---- workers and API keys --------------------------------------------------------
        self.worker_seen = text(
            "INSERT INTO workers (worker_id, queues, last_seen_at) "
            f"VALUES (:worker_id, :queues, {now}) ON CONFLICT (worker_id) DO UPDATE "
            "SET queues = excluded.queues, last_seen_at = excluded.last_seen_at"
        )
        self.list_workers = text(
            "SELECT w.worker_id, w.queues, w.last_seen_at, "
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
        self.counts_by_queue_state = text(
            "SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state"
        )

    def _listed(self, sql: str, *list_params: str) -> TextClause:
        """A statement with list parameters (see ``SqlDialect.any_of``)."""
        statement = text(sql)
        if self.d.name == "postgresql":
            return statement
        return statement.bindparams(*(bindparam(name, expanding=True) for name in list_params))

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

    @cache  # noqa: B019
    def claim(self, *, types: bool) -> TextClause:
        """Lease up to :limit ready jobs, pairing each with one of :token_hashes.

        The candidates are chosen in priority, run_at, id order; on PostgreSQL SKIP LOCKED lets
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
            f"{type_filter}AND run_at <= {now} ORDER BY priority, run_at, id "
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
        names = ["queues", *(["types"] if types else [])]
        return text(sql).bindparams(*(bindparam(name, expanding=True) for name in names))

    def _record_attempts(self) -> TextClause:
        """SQLite only: the attempt rows of the jobs just claimed (PostgreSQL does it in claim)."""
        return text(
            "INSERT INTO job_attempts (job_id, attempt, worker_id, leased_at) "
            "SELECT id, attempts, worker_id, leased_at FROM jobs WHERE id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))

    def _complete_many(self, *, full: bool) -> TextClause:
        """PostgreSQL only: complete a batch in one statement, each row guarded by its token."""
        now = self.d.now
        guarded = leased_and_valid(now, token="input.token_hash", table="jobs")
        return text(
            "WITH input AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:token_hashes AS text[]), CAST(:keys AS text[]), CAST(:results AS text[])) "
            "AS t(id, token_hash, key, result)), "
            f"done AS (UPDATE jobs SET state = 'succeeded', finished_at = {now}, "
            f"updated_at = {now}, lease_token_hash = NULL, lease_expires_at = NULL, "
            "deadline = NULL FROM input WHERE jobs.id = input.id AND "
            f"{guarded} "
            f"RETURNING {JOB_COLUMNS_QUALIFIED if full else 'jobs.id, jobs.attempts'}, "
            "input.key AS completion_key, input.result AS completion_result), "
            "stored AS (INSERT INTO job_completions "
            "(job_id, idempotency_key, result, attempt, completed_at) "
            f"SELECT id, completion_key, CAST(completion_result AS json), attempts, {now} "
            "FROM done), "
            # The running attempts by job id from done, as an index condition: joined to done
            # instead, stale statistics (no running attempt when last analyzed) made the planner
            # scan every running attempt and compare each with every completed job, ~3 ms for
            # 200 leased jobs and a batch of 55 once the table held a million finished attempts.
            f"finished AS (UPDATE job_attempts SET finished_at = {now}, outcome = 'succeeded' "
            "WHERE job_attempts.job_id = ANY(ARRAY(SELECT id FROM done)) "
            "AND job_attempts.outcome IS NULL) "
            + ("SELECT * FROM done" if full else "SELECT id, completion_key FROM done")
        )

    def _sqlite_complete(self, *, full: bool) -> TextClause:
        """SQLite: the guarded UPDATE of a whole batch (completions and attempts follow)."""
        now = self.d.now
        guarded = leased_and_valid(now, token="input.token_hash", table="jobs")
        return text(
            f"UPDATE jobs SET state = 'succeeded', finished_at = {now}, updated_at = {now}, "
            "lease_token_hash = NULL, lease_expires_at = NULL, deadline = NULL "
            "FROM (SELECT json_extract(value, '$.id') AS id, "
            "json_extract(value, '$.token_hash') AS token_hash FROM json_each(:items)) AS input "
            f"WHERE jobs.id = input.id AND {guarded} "
            f"RETURNING {JOB_COLUMNS if full else 'id, attempts'}"
        )
