"""The seed and validation split a model version was trained with.

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
    op.add_column("model_versions", sa.Column("seed", sa.BigInteger(), nullable=True))
    op.add_column("model_versions", sa.Column("validation_split", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "validation_split")
    op.drop_column("model_versions", "seed")
