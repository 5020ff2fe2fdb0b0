"""Users, their sessions (one per signed-in device) and the refresh tokens of each session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from bff.database import Base
from services.kit.change_feed import FeedTables

# The BFF's own part of the change feed: the user's sessions (signed-in devices). Each
# change moves the user's version on; every replica forgets the session checks it
# remembered for that user when it hears of one.
FEED = FeedTables.on(Base.metadata)
SESSION = "session"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Session(Base):
    """A signed-in device; revoking it ends its access and refresh tokens."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str | None] = mapped_column(String(128))
    # The refresh-token family: every token rotated from the first one shares it.
    family: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # X-Platform at sign-in: whether the session must sign its requests is judged on this,
    # never on a header a later request could leave out.
    platform: Mapped[str | None] = mapped_column(String(16))
    # The per-install request-signing key, sealed (bff/auth/signing_keys.py).
    signing_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256; usable once."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def session_entry(session: Session) -> dict[str, Any]:
    """A session as the feed keeps it: what does not move on every token refresh."""
    return {
        "id": str(session.id),
        "device_id": session.device_id,
        "created_at": session.created_at.replace(
            tzinfo=session.created_at.tzinfo or UTC
        ).isoformat(),
    }
