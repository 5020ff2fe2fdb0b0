"""The idempotency store: per (user, scope, key), the first request runs and its answer is kept.

`claim` says what to do with a request: run it (`Claimed`, then `complete` or `release`),
answer it with the kept answer (`Replay`), refuse it as another request under a used key
(`Mismatch`), or ask for a retry while the first is still running (`InFlight`). Scopes keep
unrelated uses apart: REST calls claim in "rest", the offline queue in "sync:<device id>".

Rows live in the BFF's own database, so every replica sees every claim: the first INSERT of a
key wins, and a claim whose runner died is taken over once its lease is over. The lease is
short and the runner renews it while it runs (`holding`), so a request of any length keeps its
key, and the key of one whose BFF died is free again in seconds, not after the longest a
request may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.idempotency.tables import idempotency_records as records
from services.kit.background import running
from services.kit.clock import Clock, utc_now
from services.kit.database import Database
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)

MAX_KEY_LENGTH = 255
MAX_FINGERPRINT_LENGTH = 128
_MAX_OWNER_LENGTH = 200  # user ids and scopes
# What a request that meets a running claim is told to wait: most requests take less.
_IN_FLIGHT_RETRY_AFTER_S = 1.0
# A running claim's lease is renewed this many times per lease: one late renewal (a busy loop,
# a slow commit) does not let another replica take a key whose request still runs.
_RENEWALS_PER_LEASE = 3

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller runs the request, then calls `complete` (answer kept) or `release`."""

    user_id: str
    scope: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used for this same request: answer what it answered."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for a different request (another fingerprint)."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """The first request with this key is still running: retry after a moment."""

    retry_after_s: float


ClaimOutcome = Claimed | Replay | Mismatch | InFlight


class IdempotencyStore:
    """Claims and kept answers, per user, scope and key, in the BFF's database."""

    def __init__(
        self,
        db: Database,
        *,
        retention_s: float,
        in_flight_s: float,
        max_body_bytes: int,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._retention = timedelta(seconds=retention_s)
        self._lease = timedelta(seconds=in_flight_s)
        self.max_body_bytes = max_body_bytes
        self._clock = clock

    async def claim(self, user_id: str, scope: str, key: str, fingerprint: str) -> ClaimOutcome:
        """What to do with a request under `key`; `fingerprint` tells its requests apart."""
        _check(user_id, scope, key, fingerprint)
        now = self._clock()
        token = secrets.token_hex(16)
        fresh = {
            "fingerprint": fingerprint,
            "claim": token,
            "status": None,
            "headers": None,
            "body": None,
            "expires_at": now + self._lease,
        }
        where = _row(user_id, scope, key)
        async with self._db.engine.begin() as conn:
            insert = _insert(conn)(records).values(user_id=user_id, scope=scope, key=key, **fresh)
            inserted = await conn.execute(insert.on_conflict_do_nothing().returning(records.c.key))
            if inserted.first() is not None:
                return Claimed(user_id, scope, key, token)
            # Taken, or there and expired: an expired row counts as absent. The first
            # claimant to move `expires_at` on takes it; the others then see its claim.
            overtaken = await conn.execute(
                records.update()
                .where(where, records.c.expires_at <= now)
                .values(**fresh)
                .returning(records.c.key)
            )
            if overtaken.first() is not None:
                return Claimed(user_id, scope, key, token)
            row = (await conn.execute(sa.select(records).where(where))).first()
        if row is None:  # pruned between the two statements: as if never used
            return await self.claim(user_id, scope, key, fingerprint)
        if row.fingerprint != fingerprint:
            return Mismatch()
        if row.claim is not None:
            return InFlight(_IN_FLIGHT_RETRY_AFTER_S)
        return Replay(row.status, _headers(row.headers), row.body or b"")

    async def complete(
        self, claimed: Claimed, status: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> bool:
        """Keep the answer of a claimed request for replays; False when it was not kept
        (a body over `max_body_bytes`, which frees the key instead, or a claim taken over)."""
        if len(body) > self.max_body_bytes:
            await self.release(claimed)
            return False
        async with self._db.engine.begin() as conn:
            kept = await conn.execute(
                records.update()
                .where(_claimed_row(claimed))
                .values(
                    claim=None,
                    status=status,
                    headers=[[name, value] for name, value in headers],
                    body=body,
                    expires_at=self._clock() + self._retention,
                )
                .returning(records.c.key)
            )
            return kept.first() is not None

    @contextlib.asynccontextmanager
    async def holding(self, claimed: Claimed) -> AsyncIterator[None]:
        """Keep `claimed` while the block runs: its lease is renewed until the block ends."""
        async with running(self._renew_while_running(claimed)):
            yield

    async def renew(self, claimed: Claimed) -> bool:
        """Move the lease of a running claim on; False when it is no longer this runner's."""
        async with self._db.engine.begin() as conn:
            renewed = await conn.execute(
                records.update()
                .where(_claimed_row(claimed))
                .values(expires_at=self._clock() + self._lease)
                .returning(records.c.key)
            )
            return renewed.first() is not None

    async def _renew_while_running(self, claimed: Claimed) -> None:
        every_s = self._lease.total_seconds() / _RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(every_s)
            try:
                if not await self.renew(claimed):
                    return  # settled, or taken over after a stall: nothing left to hold
            except Exception as exc:  # a failed renewal is retried; the lease has slack
                _log.warning("idempotency_renew_failed", error=type(exc).__name__)

    async def release(self, claimed: Claimed) -> None:
        """Drop a claim without an answer (the request failed): a retry runs again."""
        async with self._db.engine.begin() as conn:
            await conn.execute(records.delete().where(_claimed_row(claimed)))

    async def prune(self, limit: int) -> int:
        """Delete up to `limit` expired rows; how many went."""
        expired = (
            sa.select(records.c.user_id, records.c.scope, records.c.key)
            .where(records.c.expires_at <= self._clock())
            .limit(limit)
        )
        columns = sa.tuple_(records.c.user_id, records.c.scope, records.c.key)
        async with self._db.engine.begin() as conn:
            deleted = await conn.execute(records.delete().where(columns.in_(expired)))
            return int(deleted.rowcount or 0)


def _check(user_id: str, scope: str, key: str, fingerprint: str) -> None:
    if not (0 < len(user_id) <= _MAX_OWNER_LENGTH and 0 < len(scope) <= _MAX_OWNER_LENGTH):
        raise ValueError("user_id and scope: 1 to 200 characters")
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
    if not 0 < len(fingerprint) <= MAX_FINGERPRINT_LENGTH:
        raise ValueError(f"a fingerprint has 1 to {MAX_FINGERPRINT_LENGTH} characters")


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _row(user_id: str, scope: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(records.c.user_id == user_id, records.c.scope == scope, records.c.key == key)


def _claimed_row(claimed: Claimed) -> sa.ColumnElement[bool]:
    # The token: a runner whose lease ran out and was taken over settles nothing.
    return sa.and_(
        _row(claimed.user_id, claimed.scope, claimed.key), records.c.claim == claimed.token
    )


def _headers(stored: Any) -> Headers:
    return tuple((str(name), str(value)) for name, value in stored or ())
