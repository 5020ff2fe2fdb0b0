"""The datasets service's tables: datasets, versions, uploads, chunks, labels, changes and the
journal of version files not yet recorded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.change_feed import FeedTables
from services.kit.change_versions import OwnerVersions, counter_table
from services.kit.database import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    latest_version: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (sa.Index("ix_datasets_owner_updated", "owner_id", "updated_at", "id"),)


class DatasetVersionRow(Base):
    """One immutable version; `size_bytes`/`sha256` describe the stored Parquet content."""

    __tablename__ = "dataset_versions"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    format: Mapped[str] = mapped_column(sa.String(20))
    row_count: Mapped[int] = mapped_column(sa.BigInteger)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    source_size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    source_sha256: Mapped[str] = mapped_column(sa.String(64))
    # The text encoding a CSV source was read in (a Python codec name); None for other formats.
    source_encoding: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    storage_key: Mapped[str] = mapped_column(sa.String(1024))
    upload_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Per-column statistics (proto ColumnStats as JSON), computed once at creation.
    stats: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON, nullable=True)


class UploadRow(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    filename: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(200))
    format: Mapped[str] = mapped_column(sa.String(20))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    chunk_size: Mapped[int] = mapped_column(sa.BigInteger)
    chunk_count: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))
    # The dataset to add a version to (given at creation), or the one created on completion.
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        sa.Index("ix_uploads_owner_status", "owner_id", "status"),
        sa.Index("ix_uploads_status_expires", "status", "expires_at"),
    )


class UnrecordedFileRow(Base):
    """A version file put in the file store before its version row is committed.

    Written before the file and deleted in the transaction that records the version, so a row
    that stays names a file that a crash left behind; the sweeper frees it.
    """

    __tablename__ = "unrecorded_files"

    storage_key: Mapped[str] = mapped_column(sa.String(1024), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (sa.Index("ix_unrecorded_files_created", "created_at"),)


class UploadChunkRow(Base):
    __tablename__ = "upload_chunks"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    n: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)


class LabelRow(Base):
    """A label on one row of one version; `label` None is a cleared label (revision kept)."""

    __tablename__ = "labels"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    row_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    label: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    revision: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChangeCounterRow(Base):
    """The last change sequence number handed out per owner; its row is the writers' lock.
    The kit's `change_counters` table, mapped here for the feed's ORM statements."""

    __table__ = counter_table(Base.metadata)

    owner_id: Mapped[str]
    last_seq: Mapped[int]


# The owner's change version: the last sequence number of their feed.
VERSIONS = OwnerVersions.of(ChangeCounterRow.last_seq, ChangeCounterRow.owner_id)  # type: ignore[arg-type]


# The kit's change feed: datasets, their versions and labels (services/datasets/changes.py).
FEED = FeedTables.on(Base.metadata)
