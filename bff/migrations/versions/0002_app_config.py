"""App config: platform releases, maintenance mode, feature flags.

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


def upgrade() -> None:
    op.create_table(
        "platform_releases",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("min_version", sa.String(32), nullable=True),
        sa.Column("latest_version", sa.String(32), nullable=True),
        sa.Column("update_url", sa.String(512), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "maintenance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feature_flags",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rollout_percent", sa.Integer(), nullable=False),
        sa.Column("platforms", sa.JSON(), nullable=True),
        sa.Column("min_app_version", sa.String(32), nullable=True),
        sa.Column("max_app_version", sa.String(32), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feature_flags")
    op.drop_table("maintenance")
    op.drop_table("platform_releases")
