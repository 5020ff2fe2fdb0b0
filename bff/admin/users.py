"""Finding a user for an operator: by id or by email."""

from __future__ import annotations

import uuid

from bff.auth.repository import AuthRepository
from bff.auth.service import normalize_email
from bff.auth.tables import User
from services.kit.database import Database
from services.kit.errors import ApiError, not_found


async def find_user(db: Database, ref: str) -> User:
    """The user `ref` names (a user id or an email); 404 USER_NOT_FOUND."""
    async with db.session() as session:
        repo = AuthRepository(session)
        if "@" in ref:
            try:
                user = await repo.user_by_email(normalize_email(ref))
            except ApiError:
                user = None
        else:
            try:
                user = await repo.user(uuid.UUID(ref))
            except ValueError:
                user = None
    if user is None:
        raise not_found("user", ref)
    return user
