"""The kit's change feed (with each entity's state) replaces the id-only `changes` table.

The old table held no state to move, so it goes; an entity written before this revision
enters the feed at its next change. The counters keep their numbers (renamed `last_seq`, the
kit's name), so versions the BFF holds stay comparable.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kit.migrations import create_change_feed, drop_change_feed

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("changes")
    with op.batch_alter_table("change_counters") as batch:
        batch.alter_column("seq", new_column_name="last_seq")
    create_change_feed()


def downgrade() -> None:
    drop_change_feed()
    with op.batch_alter_table("change_counters") as batch:
        batch.alter_column("last_seq", new_column_name="seq")
    op.create_table(
        "changes",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
