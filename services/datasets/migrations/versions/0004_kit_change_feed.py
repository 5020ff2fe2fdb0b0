"""The kit's change feed replaces the datasets-only `changes` table (its entries move over).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.kit.migrations import create_change_feed, drop_change_feed

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_change_feed()
    op.execute(
        sa.text(
            "INSERT INTO change_feed (owner_id, seq, kind, entity_id, op, data, changed_at) "
            "SELECT owner_id, seq, kind, entity_key, op, payload, changed_at FROM changes"
        )
    )
    op.drop_table("changes")


def downgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("entity_key", sa.String(120), nullable=False),
        sa.Column("op", sa.String(10), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("row_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner_id", "kind", "entity_key", name="uq_changes_entity"),
    )
    drop_change_feed()
