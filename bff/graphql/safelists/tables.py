"""The safelists an operator uploaded: one per platform and app version, its documents by
SHA-256."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from bff.database import Base
from services.kit.database import UtcDateTime


class GraphqlSafelist(Base):
    """The documents of one app build: that platform and version may run only these."""

    __tablename__ = "graphql_safelists"
    __table_args__ = (
        UniqueConstraint("platform", "app_version", name="uq_graphql_safelists_version"),
        Index("ix_graphql_safelists_uploaded_at", "uploaded_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    # As the app sends it in X-App-Version, matched exactly.
    app_version: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the sorted document hashes: the same upload twice has the same digest.
    digest: Mapped[str] = mapped_column(String(64))
    document_count: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The admin token's name that uploaded it.
    uploaded_by: Mapped[str | None] = mapped_column(String(100))


class GraphqlSafelistDocument(Base):
    """One document of a safelist, by the SHA-256 (hex) of its text, as APQ names it."""

    __tablename__ = "graphql_safelist_documents"

    safelist_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("graphql_safelists.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    # The names of its operations (an anonymous one is ""), for operators reading the list.
    operations: Mapped[list[str]] = mapped_column(JSON)
