"""The training service's tables: one row per training job, which is also the work queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.change_feed import FeedTables
from services.kit.change_versions import OwnerVersions, counter_table
from services.kit.database import UtcDateTime


class Base(DeclarativeBase):
    metadata = sa.MetaData()


metadata = Base.metadata
# The owners' change versions: the last number of their change feed (`FEED`).
change_counters = counter_table(metadata)
VERSIONS = OwnerVersions.of(change_counters.c.last_seq, change_counters.c.owner_id)
# The kit's change feed: one entry per job, its contract (services/training/job_feed.py).
FEED = FeedTables.on(metadata)


class Job(Base):
    """A training job: what to train, where it stands, and who holds its lease."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_owner_created", "owner_id", "created_at", "id"),
        sa.Index("ix_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))
    dataset_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    dataset_version: Mapped[int] = mapped_column(sa.Integer)
    target: Mapped[str] = mapped_column(sa.String(200))
    features: Mapped[list[str]] = mapped_column(sa.JSON)
    # Column types of target and features as the dataset described them when the job was made.
    column_types: Mapped[dict[str, str]] = mapped_column(sa.JSON)
    task: Mapped[str] = mapped_column(sa.String(16))
    model: Mapped[str] = mapped_column(sa.String(32))
    model_name: Mapped[str] = mapped_column(sa.String(200))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    validation_split: Mapped[float] = mapped_column(sa.Float)
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    metrics: Mapped[dict[str, float] | None] = mapped_column(sa.JSON, nullable=True)
    model_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    model_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Artifact facts and history (on success); confusion matrix, ROC curve and feature
    # importance join them once the report is computed, after the job succeeded.
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    # When the report joined the result; null before, and for jobs that did not succeed. A
    # succeeded job without it is the report's work item: its lease is the report's.
    report_ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class JobEvent(Base):
    """One progress step of a job (an epoch or estimator step); `seq` is the SSE event id."""

    __tablename__ = "job_events"

    job_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PushOutboxRow(Base):
    """A push to its owner that a job's outcome owes, kept from the transaction that settled
    the job until the notifications service has it (services/training/push_outbox.py)."""

    __tablename__ = "push_outbox"

    idempotency_key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(200))
    message: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
