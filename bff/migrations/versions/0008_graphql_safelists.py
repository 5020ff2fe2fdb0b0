"""GraphQL safelists: per platform and app version, the documents that build may run.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graphql_safelists",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("app_version", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document_count", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=True),
        sa.UniqueConstraint("platform", "app_version", name="uq_graphql_safelists_version"),
    )
    op.create_index("ix_graphql_safelists_uploaded_at", "graphql_safelists", ["uploaded_at", "id"])
    op.create_table(
        "graphql_safelist_documents",
        sa.Column(
            "safelist_id",
            sa.Uuid(),
            sa.ForeignKey("graphql_safelists.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operations", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("graphql_safelist_documents")
    op.drop_index("ix_graphql_safelists_uploaded_at", table_name="graphql_safelists")
    op.drop_table("graphql_safelists")
