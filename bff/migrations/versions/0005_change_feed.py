"""The kit's change feed: the BFF records each user's sessions in it, for sync.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from services.kit.migrations import create_change_feed, drop_change_feed

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_change_feed()


def downgrade() -> None:
    drop_change_feed()
