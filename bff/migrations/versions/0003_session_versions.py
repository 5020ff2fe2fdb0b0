"""Session versions per user (each BFF replica forgets remembered session checks on a change).

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
    op.create_table(
        "change_counters",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("change_counters")
