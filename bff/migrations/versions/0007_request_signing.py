"""Request signing: each session's platform and its sealed per-install signing key.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions opened before have neither: they sign nothing until their next sign-in.
    # Plain ADD COLUMN (SQLite has it): a batch copy of the table would cascade-delete the
    # sessions' refresh tokens when it drops the old one.
    op.add_column("sessions", sa.Column("platform", sa.String(16), nullable=True))
    op.add_column("sessions", sa.Column("signing_key", sa.LargeBinary(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "signing_key")
    op.drop_column("sessions", "platform")
