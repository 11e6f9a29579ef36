"""Dashboard: the attempts that ended recently, for the throughput chart, without a table scan.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Covering for the chart (time range, outcome, then the job's queue by primary key); running
    # attempts (finished_at IS NULL) are left out, so leasing a job does not touch this index.
    op.create_index(
        "job_attempts_finished_idx",
        "job_attempts",
        ["finished_at", "outcome", "job_id"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
        sqlite_where=sa.text("finished_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("job_attempts_finished_idx", "job_attempts")
