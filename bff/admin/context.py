"""What the admin routes hold: the admin tokens and the audit log (the BFF's database)."""

from __future__ import annotations

from dataclasses import dataclass

from bff.admin.audit import AuditLog
from bff.admin.tokens import AdminTokens
from services.kit.database import Database


@dataclass(frozen=True, slots=True)
class AdminContext:
    tokens: AdminTokens
    audit: AuditLog

    @classmethod
    def build(cls, db: Database) -> AdminContext:
        return cls(AdminTokens(db), AuditLog(db))
