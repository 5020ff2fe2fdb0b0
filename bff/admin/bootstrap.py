"""The first admin token, minted straight into the BFF's database (no API, no token yet).

Whoever can reach the BFF's database already holds every power an admin token grants, so
this asks for no other credential; it is recorded in the audit log like any mint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bff.admin.audit import AuditLog
from bff.admin.tokens import AdminTokens, MintedToken
from bff.settings import BffSettings
from services.kit.database import Database
from services.kit.migrations import upgrade_to_head

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


async def mint_in_database(
    settings: BffSettings, name: str, scopes: list[str], ttl: timedelta
) -> MintedToken:
    """Migrate the BFF's database if it is behind (as the BFF does at start-up), then mint."""
    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade_to_head(db, MIGRATIONS_DIR)
        minted = await AdminTokens(db).mint(name, scopes, ttl)
        await AuditLog(db).record(
            None,
            "token.bootstrap",
            name,
            "ok",
            {
                "token_id": str(minted.row.id),
                "scopes": minted.row.scopes,
                "ttl_s": ttl.total_seconds(),
            },
        )
        return minted
    finally:
        await db.dispose()
