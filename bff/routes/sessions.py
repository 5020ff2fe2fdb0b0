"""The user's signed-in devices: list them, sign one out."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import Response
from pydantic import BaseModel

from bff.auth.repository import as_utc
from bff.auth.tables import Session
from bff.dependencies import AuthServiceDep, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from services.kit.paging import clamp_limit
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/sessions", tags=["auth"])


class SessionOut(BaseModel):
    """A signed-in device."""

    id: UUID
    device_id: str | None = None
    created_at: datetime
    last_used_at: datetime
    current: bool

    @classmethod
    def from_session(cls, session: Session, current_id: UUID) -> SessionOut:
        return cls(
            id=session.id,
            device_id=session.device_id,
            created_at=as_utc(session.created_at),
            last_used_at=as_utc(session.last_used_at),
            current=session.id == current_id,
        )


@router.get("", response_model=Page[SessionOut])
async def list_sessions(
    page: PageParams, user: CurrentUser, auth: AuthServiceDep
) -> Page[SessionOut]:
    """The user's live sessions, newest first; `current` marks this one."""
    rows, next_cursor = await auth.sessions(user.user_id, page.cursor, clamp_limit(page.limit))
    items = [SessionOut.from_session(row, user.session_id) for row in rows]
    return Page[SessionOut](items=items, next_cursor=next_cursor)


@router.delete("/{session_id}", status_code=204, response_class=Response)
async def revoke_session(session_id: UUID, user: CurrentUser, auth: AuthServiceDep) -> Response:
    """Sign one device out (its access and refresh tokens stop working)."""
    await auth.revoke_session(user.user_id, session_id)
    return Response(status_code=204)
