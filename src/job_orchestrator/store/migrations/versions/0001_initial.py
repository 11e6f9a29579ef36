"""Initial schema: jobs, attempts, completions, enqueue idempotency keys, leader leases.

Timestamps are ``timestamptz`` on PostgreSQL and epoch seconds (REAL) on SQLite, so that both
databases do time arithmetic in SQL with their own clock. JSON is ``json`` on PostgreSQL and TEXT
on SQLite; the store encodes and decodes it with orjson on both.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True).with_variant(sa.Float(), "sqlite")
# json, not jsonb: kept verbatim (a payload may hold "\u0000", which jsonb refuses), and
# cheaper to write; the orchestrator never queries inside payloads.
JsonColumn = postgresql.JSON().with_variant(sa.Text(), "sqlite")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen copies of the enums at the time of this revision: a migration must not change meaning
# when the domain code evolves.
JOB_STATES_SQL = "'pending', 'leased', 'succeeded', 'dlq', 'cancelled'"
OUTCOMES_SQL = "'succeeded', 'failed', 'lease_expired', 'timed_out', 'cancelled'"


def upgrade() -> None:
    metadata = sa.MetaData()

    jobs = sa.Table(
        "jobs",
        metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", JsonColumn),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
        # sha256 of the current lease token: the token itself is never stored.
        sa.Column("lease_token_hash", sa.Text()),
        sa.Column("worker_id", sa.Text()),
        sa.Column("leased_at", Timestamp),
        sa.Column("lease_expires_at", Timestamp),
        sa.Column("deadline", Timestamp),
        sa.Column("lease_seconds", sa.Float(), nullable=False),
        sa.Column("timeout_seconds", sa.Float()),
        sa.Column("retry_initial_seconds", sa.Float(), nullable=False),
        sa.Column("retry_multiplier", sa.Float(), nullable=False),
        sa.Column("retry_max_seconds", sa.Float(), nullable=False),
        sa.Column("retry_jitter", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.Text()),
        sa.Column("last_error", JsonColumn),
        sa.Column("heartbeat_details", JsonColumn),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.CheckConstraint(f"state IN ({JOB_STATES_SQL})", name="jobs_state_valid"),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name="jobs_priority_range"),
        sqlite_autoincrement=True,
    )

    job_attempts = sa.Table(
        "job_attempts",
        metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("job_id", BigId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Text(), nullable=False),
        sa.Column("leased_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
        sa.Column("outcome", sa.Text()),
        sa.Column("error", JsonColumn),
        sa.CheckConstraint(f"outcome IS NULL OR outcome IN ({OUTCOMES_SQL})", name="outcome_valid"),
        sqlite_autoincrement=True,
    )

    sa.Table(
        "job_completions",
        metadata,
        sa.Column("job_id", BigId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("result", JsonColumn),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("completed_at", Timestamp, nullable=False),
    )

    sa.Table(
        "job_idempotency_keys",
        metadata,
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("job_id", BigId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )

    sa.Table(
        "leader_leases",
        metadata,
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
    )

    sa.Index(
        "jobs_pending_claim_idx",
        jobs.c.queue,
        jobs.c.priority,
        jobs.c.run_at,
        jobs.c.id,
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    sa.Index(
        "jobs_leased_expiry_idx",
        jobs.c.lease_expires_at,
        postgresql_where=sa.text("state = 'leased'"),
        sqlite_where=sa.text("state = 'leased'"),
    )
    sa.Index(
        "jobs_leased_deadline_idx",
        jobs.c.deadline,
        postgresql_where=sa.text("state = 'leased' AND deadline IS NOT NULL"),
        sqlite_where=sa.text("state = 'leased' AND deadline IS NOT NULL"),
    )
    sa.Index("jobs_state_queue_id_idx", jobs.c.state, jobs.c.queue, jobs.c.id)
    sa.Index("jobs_queue_id_idx", jobs.c.queue, jobs.c.id)
    sa.Index("job_attempts_job_idx", job_attempts.c.job_id, job_attempts.c.id)
    # At most one running attempt per job: a second concurrent lease cannot even be recorded.
    sa.Index(
        "job_attempts_one_running_idx",
        job_attempts.c.job_id,
        unique=True,
        postgresql_where=sa.text("outcome IS NULL"),
        sqlite_where=sa.text("outcome IS NULL"),
    )
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    for table in (
        "leader_leases",
        "job_idempotency_keys",
        "job_completions",
        "job_attempts",
        "jobs",
    ):
        op.drop_table(table)
