"""devices, notifications (the inbox) and deliveries (the outbox)

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("app_version", sa.String(32), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("owner_id", "device_id", name="uq_devices_owner_device"),
        sa.UniqueConstraint("token_hash", name="uq_devices_token_hash"),
    )
    op.create_index("ix_devices_owner_created", "devices", ["owner_id", "created_at", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("owner_id", sa.String(200), nullable=False),
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
        _ts("read_at", nullable=True),
        sa.UniqueConstraint("owner_id", "idempotency_key", name="uq_notifications_idempotency"),
    )
    op.create_index(
        "ix_notifications_owner_created", "notifications", ["owner_id", "created_at", "id"]
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("device_pk", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("sent_at", nullable=True),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_notification", "deliveries", ["notification_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("notifications")
    op.drop_table("devices")
