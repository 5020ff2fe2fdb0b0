"""Admin tokens: minted once (the secret is shown once, stored as its SHA-256), scoped,
expiring, revocable. Checked against the database on every admin request, so a revocation
holds at once on every replica (admin calls are few; no cache to invalidate)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bff.admin.scopes import ALL_SCOPES
from bff.admin.tables import AdminToken
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import cursor_position, newest_first, split_page

# Every admin token starts so: a user's JWT (or anything else) is never looked up as one.
TOKEN_PREFIX = "tern_admin_"  # noqa: S105 - a prefix, not a secret
MAX_TTL = timedelta(days=365)
_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """The operator behind a valid admin token."""

    token_id: uuid.UUID
    name: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A new token: `secret` is shown this once and never stored."""

    row: AdminToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, sorted and deduplicated; 422 UNKNOWN_SCOPE for one that does not exist."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in ALL_SCOPES]
    if unknown or not wanted:
        raise invalid_input(
            "UNKNOWN_SCOPE",
            f"unknown scopes: {', '.join(unknown)}" if unknown else "name at least one scope",
            known=list(ALL_SCOPES),
        )
    return wanted


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every stored one is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def admin_token_invalid(reason: str) -> ApiError:
    """401: no admin token, or not a live one."""
    return ApiError(
        401,
        "ADMIN_TOKEN_INVALID",
        f"a valid admin token is required: {reason}",
        user_message="This needs a valid admin token.",
        action=Action.SIGN_IN,
    )


def forbidden_scope(scope: str) -> ApiError:
    """403: the token lacks the scope this operation needs."""
    return ApiError(
        403,
        "FORBIDDEN_SCOPE",
        f"this admin token lacks the scope {scope!r}",
        details={"required_scope": scope},
    )


class AdminTokens:
    """The admin tokens in the BFF's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mint(
        self,
        name: str,
        scopes: Iterable[str],
        ttl: timedelta,
        created_by: uuid.UUID | None = None,
    ) -> MintedToken:
        """A new token with these scopes, valid for `ttl` (at most a year)."""
        name = name.strip()
        if not 1 <= len(name) <= _NAME_MAX:
            raise invalid_input("INVALID_NAME", f"a token name is 1 to {_NAME_MAX} characters")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise invalid_input("INVALID_TTL", "a token lives more than 0 s and at most 365 days")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        row = AdminToken(
            id=uuid.uuid4(),
            name=name,
            token_hash=hash_token(secret),
            scopes=check_scopes(scopes),
            created_at=now,
            expires_at=now + ttl,
            revoked_at=None,
            created_by=created_by,
        )
        async with self._db.transaction() as db:
            db.add(row)
        return MintedToken(row, secret)

    async def verify(self, secret: str | None) -> AdminPrincipal:
        """The principal of a live token; 401 ADMIN_TOKEN_INVALID otherwise."""
        if not secret or not secret.startswith(TOKEN_PREFIX):
            raise admin_token_invalid("this is not an admin token")
        async with self._db.session() as db:
            row = await db.scalar(
                select(AdminToken).where(AdminToken.token_hash == hash_token(secret))
            )
        if row is None:
            raise admin_token_invalid("unknown token")
        if row.revoked_at is not None:
            raise admin_token_invalid("the token was revoked")
        if as_utc(row.expires_at) <= utc_now():
            raise admin_token_invalid("the token has expired")
        return AdminPrincipal(row.id, row.name, frozenset(row.scopes))

    async def revoke(self, token_id: uuid.UUID) -> AdminToken:
        """Revoke a token (again is fine); 404 ADMIN_TOKEN_NOT_FOUND."""
        async with self._db.transaction() as db:
            row = await db.get(AdminToken, token_id)
            if row is None:
                raise not_found("admin_token", token_id)
            if row.revoked_at is None:
                row.revoked_at = utc_now()
        return row

    async def page(self, cursor: str | None, limit: int) -> tuple[list[AdminToken], str | None]:
        """Every token (live, expired or revoked), newest first."""
        stmt = newest_first(
            select(AdminToken), AdminToken.created_at, AdminToken.id, cursor_position(cursor), limit
        )
        async with self._db.session() as db:
            rows = list((await db.scalars(stmt)).all())
        return split_page(rows, limit, lambda row: (as_utc(row.created_at), row.id))
