"""A signed-in session (device) of the viewer."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from bff.auth.repository import as_utc
from bff.auth.tables import Session as SessionRow


@strawberry.type
class Session:
    id: strawberry.ID
    device_id: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool

    @classmethod
    def from_row(cls, session: SessionRow, current_id: UUID) -> Session:
        """From the BFF's session row; `current` marks the session of this request."""
        return cls(
            id=strawberry.ID(str(session.id)),
            device_id=session.device_id,
            created_at=as_utc(session.created_at),
            last_used_at=as_utc(session.last_used_at),
            current=session.id == current_id,
        )
