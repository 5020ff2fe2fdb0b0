"""Sign-up, sign-in, token refresh with rotation and reuse detection, sign-out."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import cachetools
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bff.auth.access_tokens import AccessClaims, AccessTokens
from bff.auth.passwords import Passwords
from bff.auth.refresh_tokens import hash_refresh_token, new_refresh_token
from bff.auth.repository import AuthRepository, as_utc
from bff.auth.session_checks import SessionChecks
from bff.auth.signing_keys import SigningKeys, encode_key
from bff.auth.tables import FEED, SESSION, Session, User, session_entry
from services.kit.change_feed import change_writer
from services.kit.clock import utc_now
from services.kit.database import Database
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import cursor_position, split_page

_REVOKED_FOR = "tern.sessions_revoked_for"
_KEPT_USERS = 100_000
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What the app keeps after signing in or refreshing."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int
    # The session's request-signing key (base64url), answered once: at sign-in, not on refresh.
    signing_key: str | None = None


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """The user behind a valid access token of a live session."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    device_id: str | None

    @property
    def id(self) -> str:
        """The opaque user id the services know (the `sub` of service tokens)."""
        return str(self.user_id)


class AuthService:
    """Accounts and sessions of the BFF's users."""

    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        access_tokens: AccessTokens,
        *,
        refresh_token_ttl_s: int,
        password_min_length: int,
        password_max_length: int,
        session_checks: SessionChecks,
        signing_keys: SigningKeys,
    ) -> None:
        self._db = db
        self.signing_keys = signing_keys
        self._passwords = passwords
        self.access_tokens = access_tokens
        self.session_checks = session_checks
        self._users: cachetools.TTLCache[uuid.UUID, User] = cachetools.TTLCache(
            _KEPT_USERS, session_checks.ttl_s
        )
        self._refresh_ttl = timedelta(seconds=refresh_token_ttl_s)
        self._password_min = password_min_length
        self._password_max = password_max_length

    async def register(
        self, email: str, password: str, device_id: str | None, platform: str | None = None
    ) -> TokenPair:
        """Create an account and sign it in on `device_id`; 409 EMAIL_TAKEN if it exists."""
        email = normalize_email(email)
        self._check_password(password)
        password_hash = await self._passwords.hash(password)
        now = utc_now()
        try:
            async with self._db.transaction() as db:
                repo = AuthRepository(db)
                if await repo.user_by_email(email) is not None:
                    raise _email_taken()
                user = await repo.add_user(email, password_hash, now)
                return await self._open_session(repo, user, device_id, platform, now)
        except IntegrityError as exc:  # a concurrent sign-up with the same email won
            raise _email_taken() from exc

    async def login(
        self, email: str, password: str, device_id: str | None, platform: str | None = None
    ) -> TokenPair:
        """Sign in on `device_id`; 401 INVALID_CREDENTIALS for a wrong email or password."""
        email = email.strip().lower()
        async with self._db.session() as db:
            user = await AuthRepository(db).user_by_email(email)
        stored_hash = user.password_hash if user is not None else None
        if not await self._passwords.verify(stored_hash, password) or user is None:
            raise ApiError(
                401,
                "INVALID_CREDENTIALS",
                "the email or password is wrong",
                user_message="That email and password don't match.",
                action=Action.FIX_INPUT,
            )
        new_hash = None
        if self._passwords.needs_rehash(user.password_hash):
            new_hash = await self._passwords.hash(password)
        now = utc_now()
        async with self._db.transaction() as db:
            repo = AuthRepository(db)
            user = await repo.user(user.id) or user
            if new_hash is not None:
                user.password_hash = new_hash
            if device_id is not None:
                ended = await repo.revoke_device_sessions(user.id, device_id, now)
                await self._sessions_changed(db, user.id, ended=ended)
            pair = await self._open_session(repo, user, device_id, platform, now)
        self.session_checks.forget_user(user.id)
        return pair

    async def refresh(self, refresh_token: str, device_id: str | None) -> TokenPair:
        """Trade a refresh token for a new pair; a reused one revokes its whole family."""
        now = utc_now()
        async with self._db.transaction() as db:
            outcome = await self._rotate(AuthRepository(db), refresh_token, device_id, now)
            revoked = db.info.get(_REVOKED_FOR)
        if revoked is not None:
            self.session_checks.forget_user(revoked)
        # Raised after the commit so that a revoked family stays revoked.
        if isinstance(outcome, ApiError):
            raise outcome
        return outcome

    async def logout(self, session_id: uuid.UUID) -> None:
        """End one session: its access and refresh tokens stop working."""
        async with self._db.transaction() as db:
            session = await AuthRepository(db).session(session_id)
            if session is None or session.revoked_at is not None:
                return
            session.revoked_at = utc_now()
            await self._sessions_changed(db, session.user_id, ended=[session.id])
        self.session_checks.forget_user(session.user_id)

    async def sessions(
        self, user_id: uuid.UUID, cursor: str | None, limit: int
    ) -> tuple[list[Session], str | None]:
        """The user's live sessions (signed-in devices), newest first."""
        async with self._db.session() as db:
            rows = await AuthRepository(db).live_sessions(user_id, cursor_position(cursor), limit)
        return split_page(rows, limit, lambda row: (as_utc(row.created_at), row.id))

    async def revoke_session(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """End one of the user's sessions; 404 SESSION_NOT_FOUND for another user's or none."""
        async with self._db.transaction() as db:
            session = await AuthRepository(db).session(session_id)
            if session is None or session.user_id != user_id:
                raise not_found("session", session_id)
            if session.revoked_at is not None:
                return
            session.revoked_at = utc_now()
            await self._sessions_changed(db, user_id, ended=[session.id])
        self.session_checks.forget_user(user_id)

    async def logout_all(self, user_id: uuid.UUID) -> int:
        """End every session of the user, this one included; how many there were."""
        async with self._db.transaction() as db:
            ended = await AuthRepository(db).revoke_user_sessions(user_id, utc_now())
            await self._sessions_changed(db, user_id, ended=ended)
        self.session_checks.forget_user(user_id)
        return len(ended)

    async def revoke_device_sessions(self, user_id: uuid.UUID, device_id: str) -> int:
        """End the user's sessions on one device (an operator's revoke); how many were live."""
        async with self._db.transaction() as db:
            ended = await AuthRepository(db).revoke_device_sessions(user_id, device_id, utc_now())
            await self._sessions_changed(db, user_id, ended=ended)
        self.session_checks.forget_user(user_id)
        return len(ended)

    async def authenticate(self, access_token: str) -> AuthenticatedUser:
        """The user of a valid access token; 401 when it expired, is invalid or was revoked."""
        claims = self.access_tokens.verify(access_token)
        if self.session_checks.is_live(claims.session_id, claims.user_id):
            return _authenticated(claims)
        async with self._db.session() as db:
            session = await AuthRepository(db).session(claims.session_id)
        if session is None or session.revoked_at is not None or session.user_id != claims.user_id:
            raise session_revoked()
        self.session_checks.remember(claims.session_id, claims.user_id)
        return _authenticated(claims)

    async def _sessions_changed(
        self,
        db: AsyncSession,
        user_id: uuid.UUID,
        *,
        opened: Session | None = None,
        ended: Sequence[uuid.UUID] = (),
    ) -> None:
        """Record the user's opened and ended sessions in the change feed (their other
        devices sync them); every replica forgets the user's remembered session checks once
        this commits (the feed's version goes out on the BFF's bus)."""
        async with change_writer(db, FEED, str(user_id)) as changes:
            if opened is not None:
                await changes.record(SESSION, str(opened.id), "upsert", session_entry(opened))
            await changes.record_many(SESSION, [(str(i), None) for i in ended], "delete")

    async def user(self, user_id: uuid.UUID) -> User:
        """The account of a signed-in user (kept a short while: an email does not change)."""
        user = self._users.get(user_id)
        if user is not None:
            return user
        async with self._db.session() as db:
            user = await AuthRepository(db).user(user_id)
        if user is None:  # the account was removed while a token was still valid
            raise session_revoked()
        self._users[user_id] = user
        return user

    async def _rotate(
        self, repo: AuthRepository, refresh_token: str, device_id: str | None, now: datetime
    ) -> TokenPair | ApiError:
        token_hash = hash_refresh_token(refresh_token)
        stored = await repo.refresh_token(token_hash)
        session = await repo.session(stored.session_id) if stored is not None else None
        if stored is None or session is None:
            return ApiError(
                401,
                "REFRESH_TOKEN_INVALID",
                "the refresh token is not valid",
                action=Action.SIGN_IN,
            )
        if session.revoked_at is not None:
            return session_revoked()
        if stored.used_at is not None or not await repo.use_refresh_token(token_hash, now):
            await self._revoke_family(repo, session, now)
            return ApiError(
                401,
                "REFRESH_TOKEN_REUSED",
                "this refresh token was already used; the session has been ended",
                action=Action.SIGN_IN,
            )
        if as_utc(stored.expires_at) <= now:
            return ApiError(
                401, "REFRESH_TOKEN_EXPIRED", "the refresh token has expired", action=Action.SIGN_IN
            )
        if device_id is not None and session.device_id not in (None, device_id):
            await self._revoke_family(repo, session, now)
            return ApiError(
                401,
                "DEVICE_MISMATCH",
                "this refresh token belongs to another device; the session has been ended",
                action=Action.SIGN_IN,
            )
        user = await repo.user(session.user_id)
        if user is None:
            return session_revoked()
        session.last_used_at = now
        return await self._issue(repo, user, session, now)

    async def _revoke_family(self, repo: AuthRepository, session: Session, now: datetime) -> None:
        ended = await repo.revoke_family(session.family, now)
        await self._sessions_changed(repo.db, session.user_id, ended=ended)
        repo.db.info[_REVOKED_FOR] = session.user_id

    async def _open_session(
        self,
        repo: AuthRepository,
        user: User,
        device_id: str | None,
        platform: str | None,
        now: datetime,
    ) -> TokenPair:
        # Each session gets its own signing key; a refresh keeps it (requests in flight stay
        # valid, and the key crosses the network once).
        session_id, key = uuid.uuid4(), self.signing_keys.new_key()
        session = await repo.add_session(
            user.id,
            device_id,
            now,
            session_id=session_id,
            platform=platform,
            signing_key=self.signing_keys.seal(session_id, key),
        )
        await self._sessions_changed(repo.db, user.id, opened=session)
        pair = await self._issue(repo, user, session, now)
        return dataclasses.replace(pair, signing_key=encode_key(key))

    async def _issue(
        self, repo: AuthRepository, user: User, session: Session, now: datetime
    ) -> TokenPair:
        refresh_token = new_refresh_token()
        await repo.add_refresh_token(
            session.id, hash_refresh_token(refresh_token), now + self._refresh_ttl
        )
        return TokenPair(
            user=user,
            access_token=self.access_tokens.mint(user.id, session.id, session.device_id),
            refresh_token=refresh_token,
            expires_in=self.access_tokens.ttl_s,
        )

    def _check_password(self, password: str) -> None:
        if len(password) < self._password_min:
            raise invalid_input(
                "PASSWORD_TOO_SHORT",
                f"the password needs at least {self._password_min} characters",
                min_length=self._password_min,
            )
        if len(password) > self._password_max:
            raise invalid_input(
                "PASSWORD_TOO_LONG",
                f"the password may have at most {self._password_max} characters",
                max_length=self._password_max,
            )


def normalize_email(email: str) -> str:
    """The stored form of an email (trimmed, lowercased); 422 INVALID_EMAIL if it is not one."""
    email = email.strip().lower()
    if len(email) > _MAX_EMAIL_LENGTH or not _EMAIL_RE.match(email):
        raise invalid_input("INVALID_EMAIL", "this is not an email address")
    return email


def session_revoked() -> ApiError:
    """401: the session was ended (sign-out, reuse of a refresh token, another sign-in)."""
    return ApiError(
        401,
        "SESSION_REVOKED",
        "this session has been ended",
        user_message="You've been signed out. Please sign in again.",
        action=Action.SIGN_IN,
    )


def _email_taken() -> ApiError:
    return ApiError(
        409,
        "EMAIL_TAKEN",
        "an account with this email already exists",
        user_message="An account with this email already exists. Try signing in.",
        action=Action.SIGN_IN,
    )


def _authenticated(claims: AccessClaims) -> AuthenticatedUser:
    return AuthenticatedUser(claims.user_id, claims.session_id, claims.device_id)
