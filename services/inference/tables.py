"""Tables of the model registry: models, their immutable versions and their aliases."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.change_feed import FeedTables
from services.kit.change_versions import OwnerVersions, counter_table
from services.kit.clock import utc_now
from services.kit.database import UtcDateTime

metadata = sa.MetaData()
# The owners' change versions: the last number of their change feed (`FEED`).
change_counters = counter_table(metadata)
VERSIONS = OwnerVersions.of(change_counters.c.last_seq, change_counters.c.owner_id)
# The kit's change feed: models, versions, aliases (services/inference/model_feed.py).
FEED = FeedTables.on(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "name", name="uq_models_owner_name"),
        sa.Index("ix_models_owner_created", "owner_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    task: Mapped[str] = mapped_column(sa.String(32))
    latest_version: Mapped[int] = mapped_column(sa.Integer)
    features: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    # A training job registers at most one version, even when its worker retries after a crash.
    __table_args__ = (sa.UniqueConstraint("training_job_id", name="uq_model_versions_job"),)

    model_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(32))
    format: Mapped[str] = mapped_column(sa.String(32))
    features: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON)
    classes: Mapped[list[str] | None] = mapped_column(sa.JSON, nullable=True)
    metrics: Mapped[dict[str, float]] = mapped_column(sa.JSON)
    training_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    dataset_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    library_versions: Mapped[dict[str, str]] = mapped_column(sa.JSON)
    seed: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    validation_split: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    artifact_key: Mapped[str] = mapped_column(sa.String(1024))
    artifact_sha256: Mapped[str] = mapped_column(sa.String(64))
    artifact_size: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["model_id", "version"], ["model_versions.model_id", "model_versions.version"]
        ),
    )

    model_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer)
