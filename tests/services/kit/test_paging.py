from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.kit.database import Database, UtcDateTime
from services.kit.errors import ApiError
from services.kit.paging import (
    MAX_CURSOR_LENGTH,
    Position,
    clamp_limit,
    cursor_number,
    cursor_position,
    decode_cursor,
    encode_cursor,
    newest_first,
    position_cursor,
    split_page,
)


class _Base(DeclarativeBase):
    metadata = sa.MetaData()


class Item(_Base):
    __tablename__ = "items"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_cursor_round_trips_the_position() -> None:
    row_id = uuid.uuid4()
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    cursor = position_cursor(at, row_id)
    assert str(row_id) not in cursor
    position = cursor_position(cursor)
    assert position == Position(at, row_id)
    assert position is not None and position.at.tzinfo is not None
    assert cursor_position(None) is None
    assert cursor_position("") is None


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        encode_cursor({"c": "2026-01-01T00:00:00+00:00", "id": str(uuid.UUID(int=1))}),
        encode_cursor({"t": "not a time", "id": str(uuid.UUID(int=1))}),
        encode_cursor({"t": "2026-01-01T00:00:00+00:00", "id": "not a uuid"}),
        encode_cursor({"t": "2026-01-01T00:00:00", "id": str(uuid.UUID(int=1))}),
        encode_cursor({"t": 12, "id": 34}),
    ],
)
def test_malformed_cursors_are_a_400(cursor: str) -> None:
    with pytest.raises(ApiError) as err:
        cursor_position(cursor)
    assert (err.value.status, err.value.code) == (400, "INVALID_CURSOR")


def test_position_cursor_refuses_naive_timestamps() -> None:
    with pytest.raises(ValueError, match="naive"):
        position_cursor(datetime(2026, 1, 1), uuid.uuid4())


def test_split_page_gives_a_cursor_only_when_there_are_more_rows() -> None:
    rows = [(T0, uuid.UUID(int=n)) for n in range(3)]
    assert split_page(rows, 3, lambda row: row) == (rows, None)
    page, cursor = split_page(rows, 2, lambda row: row)
    assert page == rows[:2]
    assert cursor_position(cursor) == Position(*rows[1])


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'keyset.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    yield database
    await database.dispose()


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 12, 13])
async def test_paging_with_equal_timestamps_skips_and_repeats_nothing(
    db: Database, limit: int
) -> None:
    # 12 rows over 3 timestamps (4 each), ids out of insertion order, plus someone else's rows.
    mine = [
        Item(
            id=uuid.UUID(int=(n * 7919) % 101 + 1), owner_id="me", at=T0 + timedelta(seconds=n % 3)
        )
        for n in range(12)
    ]
    others = [
        Item(id=uuid.uuid4(), owner_id="other", at=T0 + timedelta(seconds=1)) for _ in range(3)
    ]
    async with db.transaction() as session:
        session.add_all(mine + others)

    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = sa.select(Item).where(Item.owner_id == "me")
        query = newest_first(query, Item.at, Item.id, cursor_position(cursor), limit)
        async with db.session() as session:
            rows = list((await session.execute(query)).scalars())
        assert len(rows) <= limit + 1
        page, cursor = split_page(rows, limit, lambda item: (item.at, item.id))
        seen.extend(item.id for item in page)
        pages += 1
        if cursor is None:
            break
        assert pages <= 12

    expected = [item.id for item in sorted(mine, key=lambda i: (i.at, i.id), reverse=True)]
    assert seen == expected
    assert pages == max(1, -(-len(mine) // limit))


def test_cursor_round_trips_and_is_opaque() -> None:
    position = {"updated_at": "2026-01-01T00:00:00+00:00", "id": "abc"}
    cursor = encode_cursor(position)
    assert "abc" not in cursor and "=" not in cursor
    assert decode_cursor(cursor) == position
    assert decode_cursor(None) is None


@pytest.mark.parametrize("bad", ["%%%", "bm90LWpzb24", "eyJ2IjoyLCJwIjp7fX0"])
def test_foreign_cursors_are_a_400(bad: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_cursor(bad)
    assert (err.value.status, err.value.code) == (400, "INVALID_CURSOR")


@pytest.mark.parametrize("number", [-1, 2**63, 2**64 - 1, "7", True, 1.5, None])
def test_a_cursor_number_outside_the_columns_range_is_a_400(number: object) -> None:
    with pytest.raises(ApiError) as err:
        cursor_number(encode_cursor({"row": number}), "row")
    assert (err.value.status, err.value.code) == (400, "INVALID_CURSOR")


def test_a_cursor_number_comes_back_within_its_range() -> None:
    assert cursor_number(encode_cursor({"row": 2**63 - 1}), "row") == 2**63 - 1
    assert cursor_number(None, "row") is None
    with pytest.raises(ApiError):
        cursor_number(encode_cursor({"v": 0}), "v", minimum=1)


def test_limits_are_clamped() -> None:
    assert clamp_limit(None) == 50
    assert clamp_limit(0) == 1
    assert clamp_limit(10_000) == 200


def test_the_longest_keyset_cursor_fits_the_cursor_parameter() -> None:
    # The furthest timestamp and widest UTC offset a cursor can hold.
    offset = timezone(-timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999))
    at = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=offset)
    assert len(position_cursor(at, uuid.uuid4())) <= MAX_CURSOR_LENGTH
