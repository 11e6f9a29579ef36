"""The job types each worker asks for: ``workers.types``.

The lease request names the types a worker handles (``types``, a lease filter since v1); the
lease path records them with the queues, so the dashboard and the CLI can tell that no
running worker asks for a job's type (a typo, or a worker not deployed). NULL: the worker
asked for every type (it sent no filter), or was recorded before this revision.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("types", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("types")
