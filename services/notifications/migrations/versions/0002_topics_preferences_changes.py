"""topics, broadcasts, preferences, hourly push counts, the change feed; delivery source

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


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="user"))
        batch.create_unique_constraint(
            "uq_deliveries_content_device", ["notification_id", "device_pk"]
        )
    op.create_index("ix_notifications_owner_read", "notifications", ["owner_id", "read_at"])
    op.create_table(
        "topic_subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("device_pk", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("topic", "device_pk", name="uq_topic_subscriptions_topic_device"),
    )
    op.create_index(
        "ix_topic_subscriptions_owner_created",
        "topic_subscriptions",
        ["owner_id", "created_at", "id"],
    )
    op.create_index("ix_topic_subscriptions_device", "topic_subscriptions", ["device_pk"])
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("body", sa.String(1000), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("collapse_key", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("ttl_s", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fanned_out_to", sa.Uuid(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        _ts("lease_until"),
        sa.UniqueConstraint("topic", "idempotency_key", name="uq_broadcasts_idempotency"),
    )
    op.create_index("ix_broadcasts_status_lease", "broadcasts", ["status", "lease_until"])
    op.create_table(
        "preferences",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("quiet_start", sa.String(5), nullable=True),
        sa.Column("quiet_end", sa.String(5), nullable=True),
        sa.Column("muted_categories", sa.JSON(), nullable=False),
        sa.Column("hourly_cap", sa.Integer(), nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "push_counts",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "change_counters",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        _ts("at"),
    )


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_table("change_counters")
    op.drop_table("push_counts")
    op.drop_table("preferences")
    op.drop_table("broadcasts")
    op.drop_table("topic_subscriptions")
    op.drop_index("ix_notifications_owner_read", "notifications")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_content_device", type_="unique")
        batch.drop_column("source")
