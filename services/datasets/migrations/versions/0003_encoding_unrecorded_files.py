"""the text encoding a version's CSV source was read in; the journal of unrecorded files

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
    op.add_column("dataset_versions", sa.Column("source_encoding", sa.String(40), nullable=True))
    op.create_table(
        "unrecorded_files",
        sa.Column("storage_key", sa.String(1024), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_unrecorded_files_created", "unrecorded_files", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_unrecorded_files_created", table_name="unrecorded_files")
    op.drop_table("unrecorded_files")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("source_encoding")
