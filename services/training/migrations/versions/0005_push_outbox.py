"""The push outbox: a finished job's push is kept with the job's outcome until it is sent.

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
    op.create_table(
        "push_outbox",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_push_outbox_next_attempt_at", "push_outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_push_outbox_next_attempt_at", table_name="push_outbox")
    op.drop_table("push_outbox")
