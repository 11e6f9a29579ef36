"""What the statements of every topic share: the column lists, the lease holder's guard, and
list parameters written once for both dialects."""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, text

from job_orchestrator.store.dialect import SqlDialect

JOB_COLUMNS = (
    "id, queue, type, payload, state, priority, attempts, max_attempts, run_at, created_at, "
    "updated_at, finished_at, lease_expires_at, deadline, timeout_seconds, lease_seconds, "
    "retry_initial_seconds, retry_multiplier, retry_max_seconds, retry_jitter, idempotency_key, "
    "last_error, heartbeat_details, cancel_requested, worker_id, owner, "
    "schedule, scheduled_for"
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
    "retry_max_seconds, retry_jitter, idempotency_key, cancel_requested, owner, "
    "schedule, scheduled_for"
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
    ("schedule", "text"),
    ("scheduled_for", "timestamptz"),
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


def listed(d: SqlDialect, sql: str, *list_params: str) -> TextClause:
    """A statement with list parameters (see ``SqlDialect.any_of``)."""
    statement = text(sql)
    if d.name == "postgresql":
        return statement
    return statement.bindparams(*(bindparam(name, expanding=True) for name in list_params))
