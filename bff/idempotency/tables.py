"""The answers kept per (user, scope, key): a claim while the request runs, then its answer."""

from __future__ import annotations

import sqlalchemy as sa

from bff.database import Base
from services.kit.database import UtcDateTime

# A row is one key of one user in one scope ("rest", "sync:<device>"). While its request
# runs, `claim` holds the runner's token and `status` is empty; once answered, `claim` is
# empty and `status`, `headers`, `body` are the answer. Past `expires_at` (the in-flight
# lease, or the retention once answered) a row counts as absent and is pruned.
idempotency_records = sa.Table(
    "idempotency_records",
    Base.metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("claim", sa.String(32), nullable=True),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
)
