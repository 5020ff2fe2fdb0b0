"""The kit's change feed: models, versions and aliases, by the sequence the owners' versions
count.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from services.kit.migrations import create_change_feed, drop_change_feed

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_change_feed()


def downgrade() -> None:
    drop_change_feed()
