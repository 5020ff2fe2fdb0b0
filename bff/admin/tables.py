"""Admin tokens (stored as their SHA-256 only) and the audit log of every admin write."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from bff.database import Base


class AdminToken(Base):
    """An operator's credential: a name, scopes, an expiry; revocable."""

    __tablename__ = "admin_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the whole token: the token is random (256 bits), so a slow hash buys nothing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The token that minted this one; None when minted by the CLI against the database.
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class AuditEntry(Base):
    """One admin write (or refused write): who, what, on what, how it ended, when."""

    __tablename__ = "admin_audit_log"
    __table_args__ = (Index("ix_admin_audit_log_at", "at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # None: the CLI acting directly on the database (minting the first token).
    token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    token_name: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    # "ok", or the error code the write ended with (e.g. FORBIDDEN_SCOPE, VALIDATION_FAILED).
    outcome: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
