"""Admin tokens: stored hashed, scoped, expiring, revocable; the audit log beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bff.admin.audit import AuditLog
from bff.admin.bootstrap import MIGRATIONS_DIR
from bff.admin.tables import AdminToken
from bff.admin.tokens import AdminTokens, hash_token
from services.kit.database import Database
from services.kit.errors import ApiError
from services.kit.migrations import upgrade_to_head


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}")
    await upgrade_to_head(database, MIGRATIONS_DIR)
    yield database
    await database.dispose()


async def test_only_the_hash_is_stored_and_the_token_proves_its_scopes(db: Database) -> None:
    tokens = AdminTokens(db)
    minted = await tokens.mint("ops", ["config:write", "ops:read", "ops:read"], timedelta(days=1))

    async with db.session() as session:
        stored = (await session.scalars(select(AdminToken))).one()
    principal = await tokens.verify(minted.secret)

    assert stored.token_hash == hash_token(minted.secret) != minted.secret
    assert minted.secret not in str(stored.__dict__)
    assert principal.scopes == {"config:write", "ops:read"}
    assert principal.name == "ops"


async def test_expired_revoked_and_foreign_tokens_are_refused(db: Database) -> None:
    tokens = AdminTokens(db)
    expired = await tokens.mint("old", ["ops:read"], timedelta(microseconds=1))
    revoked = await tokens.mint("gone", ["ops:read"], timedelta(days=1))
    await tokens.revoke(revoked.row.id)

    for secret, reason in (
        (expired.secret, "expired"),
        (revoked.secret, "revoked"),
        ("tern_admin_not-a-real-one", "unknown"),
        ("eyJhbGciOiJIUzI1NiJ9.a-user-jwt.sig", "not an admin token"),
        (None, "not an admin token"),
    ):
        with pytest.raises(ApiError) as caught:
            await tokens.verify(secret)
        assert (caught.value.status, caught.value.code) == (401, "ADMIN_TOKEN_INVALID")
        assert reason in caught.value.message


async def test_unknown_scopes_and_bad_lifetimes_are_refused(db: Database) -> None:
    tokens = AdminTokens(db)

    with pytest.raises(ApiError) as scope:
        await tokens.mint("ops", ["root"], timedelta(days=1))
    with pytest.raises(ApiError) as ttl:
        await tokens.mint("ops", ["ops:read"], timedelta(days=400))

    assert scope.value.code == "UNKNOWN_SCOPE"
    assert ttl.value.code == "INVALID_TTL"


async def test_the_audit_log_records_how_a_write_ended(db: Database) -> None:
    tokens, audit = AdminTokens(db), AuditLog(db)
    principal = await tokens.verify((await tokens.mint("ops", ["ops:read"], timedelta(1))).secret)

    async with audit.recording(principal, "flag.set", "new_ui", {"rollout": 10}):
        pass
    with pytest.raises(ApiError):
        async with audit.recording(principal, "flag.set", "bad key", {}):
            raise ApiError(422, "INVALID_FLAG_KEY", "no")

    entries, _ = await audit.page(None, 10)
    assert [(e.target, e.outcome, e.token_id) for e in entries] == [
        ("bad key", "INVALID_FLAG_KEY", principal.token_id),
        ("new_ui", "ok", principal.token_id),
    ]
    assert entries[1].details == {"rollout": 10}
