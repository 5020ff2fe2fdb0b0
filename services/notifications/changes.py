"""The per-user change feed: every write appends a change numbered in commit order.

Numbers come from one counter row per user, bumped inside the writing transaction. On
PostgreSQL the bump takes that row's lock until commit, so a user's writers commit in the order
of their numbers: a reader that has seen `n` can never later find a change below `n` appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proto.notifications import Change, ChangePage
from services.kit import change_versions
from services.kit.errors import invalid_input
from services.notifications.tables import ChangeCounterRow, ChangeRow


async def reserve(session: AsyncSession, owner_id: str, count: int) -> int:
    """Take `count` sequence numbers for `owner_id`; returns the last (locks the counter)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(ChangeCounterRow).values(owner_id=owner_id, seq=count)
    stmt = upsert.on_conflict_do_update(
        index_elements=[ChangeCounterRow.owner_id],
        set_={"seq": ChangeCounterRow.seq + count},
    ).returning(ChangeCounterRow.seq)
    last = int((await session.execute(stmt)).scalar_one())
    change_versions.note(session, owner_id, last)
    return last


async def record(
    session: AsyncSession,
    owner_id: str,
    entity: str,
    entity_ids: Sequence[str],
    op: str,
    at: datetime,
) -> None:
    """Append one change per entity id, in this transaction."""
    if not entity_ids:
        return
    last = await reserve(session, owner_id, len(entity_ids))
    first = last - len(entity_ids) + 1
    await session.execute(
        sa.insert(ChangeRow),
        [
            {
                "owner_id": owner_id,
                "seq": first + i,
                "entity": entity,
                "entity_id": entity_id,
                "op": op,
                "at": at,
            }
            for i, entity_id in enumerate(entity_ids)
        ],
    )


async def changes_since(
    session: AsyncSession, owner_id: str, since: int, limit: int, max_limit: int
) -> ChangePage:
    """The owner's changes with seq > since, oldest first, up to `limit`."""
    if since < 0:
        raise invalid_input("INVALID_SINCE", "since must be 0 or a seq this feed returned")
    if not 1 <= limit <= max_limit:
        raise invalid_input("INVALID_LIMIT", f"limit must be between 1 and {max_limit}")
    query = (
        sa.select(ChangeRow)
        .where(ChangeRow.owner_id == owner_id, ChangeRow.seq > since)
        .order_by(ChangeRow.seq)
        .limit(limit + 1)
    )
    rows = list((await session.execute(query)).scalars().all())
    page = rows[:limit]
    return ChangePage(
        changes=[
            Change(seq=r.seq, entity=r.entity, entity_id=r.entity_id, op=r.op, at=r.at)
            for r in page
        ],
        next_since=page[-1].seq if page else since,
        has_more=len(rows) > limit,
    )
