"""Queries on users, sessions and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bff.auth.tables import RefreshToken, Session, User
from services.kit.paging import Position, newest_first


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every stored one is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class AuthRepository:
    """Reads and writes of the auth tables inside one database session."""

    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def user_by_email(self, email: str) -> User | None:
        return await self.db.scalar(select(User).where(User.email == email))

    async def user(self, user_id: uuid.UUID) -> User | None:
        return await self.db.get(User, user_id)

    async def add_user(self, email: str, password_hash: str, now: datetime) -> User:
        user = User(id=uuid.uuid4(), email=email, password_hash=password_hash, created_at=now)
        self.db.add(user)
        await self.db.flush()
        return user

    async def session(self, session_id: uuid.UUID) -> Session | None:
        return await self.db.get(Session, session_id)

    async def add_session(
        self,
        user_id: uuid.UUID,
        device_id: str | None,
        now: datetime,
        *,
        session_id: uuid.UUID | None = None,
        platform: str | None = None,
        signing_key: bytes | None = None,
    ) -> Session:
        """A new session (its request-signing key sealed already)."""
        session = Session(
            id=session_id or uuid.uuid4(),
            user_id=user_id,
            device_id=device_id,
            family=uuid.uuid4(),
            created_at=now,
            last_used_at=now,
            platform=platform,
            signing_key=signing_key,
        )
        self.db.add(session)
        await self.db.flush()
        return session

    async def revoke_device_sessions(
        self, user_id: uuid.UUID, device_id: str, now: datetime
    ) -> list[uuid.UUID]:
        """End the user's earlier sessions on this device (one session per device); which."""
        ended = await self.db.execute(
            update(Session)
            .where(
                Session.user_id == user_id,
                Session.device_id == device_id,
                Session.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return list(ended.scalars())

    async def live_sessions(
        self, user_id: uuid.UUID, after: Position | None, limit: int
    ) -> list[Session]:
        """The user's live sessions, newest first, `limit` + 1 rows."""
        stmt = select(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
        stmt = newest_first(stmt, Session.created_at, Session.id, after, limit)
        return list((await self.db.scalars(stmt)).all())

    async def revoke_user_sessions(self, user_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        """End every session of the user; the ones that were live."""
        ended = await self.db.execute(
            update(Session)
            .where(Session.user_id == user_id, Session.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return list(ended.scalars())

    async def revoke_family(self, family: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        ended = await self.db.execute(
            update(Session)
            .where(Session.family == family, Session.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return list(ended.scalars())

    async def add_refresh_token(
        self, session_id: uuid.UUID, token_hash: str, expires_at: datetime
    ) -> None:
        self.db.add(
            RefreshToken(token_hash=token_hash, session_id=session_id, expires_at=expires_at)
        )
        await self.db.flush()

    async def refresh_token(self, token_hash: str) -> RefreshToken | None:
        return await self.db.get(RefreshToken, token_hash)

    async def use_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Mark a token used; False when it already was (even by a concurrent request)."""
        result = await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
