"""A succeeded job's report follows its success: `report_ready_at` says when it joined the result.

Jobs that succeeded before this revision got their report with their success.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("report_ready_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE jobs SET report_ready_at = finished_at "
        "WHERE status = 'succeeded' AND report_ready_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("report_ready_at")
