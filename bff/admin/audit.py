"""The audit log: every admin write, and every refused one, with the token that asked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bff.admin.tables import AuditEntry
from bff.admin.tokens import AdminPrincipal, as_utc
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.errors import ApiError
from services.kit.paging import cursor_position, newest_first, split_page
from services.kit.request_context import current_request_id

OK = "ok"
_TARGET_MAX = 300


@dataclass(slots=True)
class Recording:
    """What a write adds to its entry as it goes (e.g. what it changed)."""

    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """Entries in the BFF's database, newest first."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        principal: AdminPrincipal | None,
        action: str,
        target: str,
        outcome: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Write one entry (its own transaction: a failed write is recorded too)."""
        entry = AuditEntry(
            id=uuid.uuid4(),
            at=utc_now(),
            token_id=principal.token_id if principal else None,
            token_name=principal.name if principal else None,
            action=action,
            target=target[:_TARGET_MAX],
            outcome=outcome,
            details=details or None,
            request_id=current_request_id(),
        )
        async with self._db.transaction() as db:
            db.add(entry)
        return entry

    @asynccontextmanager
    async def recording(
        self,
        principal: AdminPrincipal | None,
        action: str,
        target: str,
        details: dict[str, Any] | None = None,
    ) -> AsyncIterator[Recording]:
        """Run a write and record how it ended: "ok", or the code of the error it raised."""
        recording = Recording(dict(details or {}))
        try:
            yield recording
        except ApiError as exc:
            await self.record(principal, action, target, exc.code, recording.details)
            raise
        except Exception:
            await self.record(principal, action, target, "INTERNAL_ERROR", recording.details)
            raise
        await self.record(principal, action, target, OK, recording.details)

    async def page(
        self, cursor: str | None, limit: int, action: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """Entries newest first, only `action`'s when given."""
        stmt = select(AuditEntry)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        stmt = newest_first(stmt, AuditEntry.at, AuditEntry.id, cursor_position(cursor), limit)
        async with self._db.session() as db:
            rows = list((await db.scalars(stmt)).all())
        return split_page(rows, limit, lambda row: (as_utc(row.at), row.id))
