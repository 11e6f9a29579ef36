"""v1.1, running for months: schedules, queue settings, snoozed attempts, retention.

- ``schedules``: one row per schedule; ``next_fire_at`` is the next fire time still to be
  processed (the scheduler advances it in the same transaction that enqueues the fire time's
  job, whose idempotency key ``schedule:{name}:{T}`` makes a second enqueue of T impossible).
- ``queues``: settings of a queue (paused, limits). A queue without a row has the defaults.
- ``jobs.schedule`` / ``jobs.scheduled_for``: which schedule and fire time enqueued the job.
- ``job_attempts.outcome`` gains ``snoozed`` (an attempt that ended by snoozing, not counted).
- ``jobs_finished_idx``: the cleaner finds expired terminal jobs oldest first without a scan.
- ``maintenance_counters``: totals kept by maintenance (jobs deleted by the cleaner), shared by
  every server process, since only the leader's process does the work.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True).with_variant(sa.Float(), "sqlite")
JsonColumn = postgresql.JSON().with_variant(sa.Text(), "sqlite")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen copies of the outcomes before and after this revision (see 0001).
OUTCOMES_BEFORE = "'succeeded', 'failed', 'lease_expired', 'timed_out', 'cancelled'"
OUTCOMES_AFTER = f"{OUTCOMES_BEFORE}, 'snoozed'"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("cron", sa.Text()),
        sa.Column("every_seconds", sa.BigInteger()),
        sa.Column("timezone", sa.Text(), nullable=False),
        # The enqueue body (POST /v1/jobs without run_at, delay_seconds, idempotency_key).
        sa.Column("job", JsonColumn, nullable=False),
        sa.Column("overlap", sa.Text(), nullable=False),
        sa.Column("catchup_window_seconds", sa.BigInteger(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", Timestamp),
        sa.Column("last_fire_at", Timestamp),
        sa.Column("last_job_id", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("(cron IS NULL) <> (every_seconds IS NULL)", name="schedules_one_spec"),
        sa.CheckConstraint("overlap IN ('skip', 'allow')", name="schedules_overlap_valid"),
    )
    op.create_index(
        "schedules_due_idx",
        "schedules",
        ["next_fire_at"],
        postgresql_where=sa.text("NOT paused AND next_fire_at IS NOT NULL"),
        sqlite_where=sa.text("NOT paused AND next_fire_at IS NOT NULL"),
    )
    op.create_table(
        "queues",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("rate_limit_per_second", sa.Float()),
        sa.Column("concurrency_limit", sa.Integer()),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_table(
        "maintenance_counters",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("schedule", sa.Text()))
        batch.add_column(sa.Column("scheduled_for", Timestamp))
    op.create_index(
        "jobs_finished_idx",
        "jobs",
        ["state", "finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
        sqlite_where=sa.text("finished_at IS NOT NULL"),
    )
    _replace_outcome_check(OUTCOMES_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM job_attempts WHERE outcome = 'snoozed'")
    _replace_outcome_check(OUTCOMES_BEFORE)
    op.drop_index("jobs_finished_idx", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("scheduled_for")
        batch.drop_column("schedule")
    op.drop_table("maintenance_counters")
    op.drop_table("queues")
    op.drop_index("schedules_due_idx", "schedules")
    op.drop_table("schedules")


def _replace_outcome_check(outcomes: str) -> None:
    # SQLite cannot alter a constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("job_attempts", recreate="auto") as batch:
        batch.drop_constraint("outcome_valid", type_="check")
        batch.create_check_constraint(
            "outcome_valid", f"outcome IS NULL OR outcome IN ({outcomes})"
        )
