"""API keys, the workers seen by the lease path, and job ownership for producer scopes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True).with_variant(sa.Float(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), primary_key=True),
        # SHA-256 of the key: the key itself is shown once, at creation, and never stored.
        sa.Column("key_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp),
    )
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.Text(), primary_key=True),
        sa.Column("queues", sa.Text(), nullable=False),
        sa.Column("last_seen_at", Timestamp, nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.Text()))
    op.create_index(
        "jobs_leased_worker_idx",
        "jobs",
        ["worker_id"],
        postgresql_where=sa.text("state = 'leased'"),
        sqlite_where=sa.text("state = 'leased'"),
    )
    # Partial: with auth off no job has an owner, and the index costs nothing on the hot path.
    op.create_index(
        "jobs_owner_id_idx",
        "jobs",
        ["owner", "id"],
        postgresql_where=sa.text("owner IS NOT NULL"),
        sqlite_where=sa.text("owner IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("jobs_owner_id_idx", "jobs")
    op.drop_index("jobs_leased_worker_idx", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner")
    op.drop_table("workers")
    op.drop_table("api_keys")
