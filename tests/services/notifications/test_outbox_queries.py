"""The outbox's claim and settle statements, on SQLite and on PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.kit.database import Database
from services.notifications import repository
from services.notifications.repository import Settlement
from services.notifications.tables import DeliveryRow, DeviceRow

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _pending(db: Database, due: datetime, platform: str = "ios") -> uuid.UUID:
    delivery_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            DeliveryRow(
                id=delivery_id,
                notification_id=uuid.uuid4(),
                source="topic",
                device_pk=uuid.uuid4(),
                owner_id="u",
                platform=platform,
                status="pending",
                attempts=0,
                next_attempt_at=due,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return delivery_id


def _settled(delivery_id: uuid.UUID, status: str, claim_id: uuid.UUID | None) -> Settlement:
    return Settlement(
        delivery_id=delivery_id,
        status=status,
        claim_id=claim_id,
        next_attempt_at=NOW + timedelta(seconds=30),
        last_error=None if status == "sent" else "ServiceUnavailable",
        provider_message_id="m-1" if status == "sent" else None,
        sent_at=NOW if status == "sent" else None,
        updated_at=NOW,
    )


async def test_a_claim_leases_only_due_rows_once(db: Database) -> None:
    due = {await _pending(db, NOW - timedelta(seconds=1)) for _ in range(3)}
    await _pending(db, NOW + timedelta(hours=1))
    lease = NOW + timedelta(seconds=60)
    async with db.transaction() as session:
        claim_id, claimed = await repository.claim_due_deliveries(session, NOW, lease, 10)
    async with db.transaction() as session:
        _, again = await repository.claim_due_deliveries(session, NOW, lease, 10)
        ours = await repository.still_claimed(session, claim_id)
    assert {row.id for row in claimed} == due == ours
    assert {row.attempts for row in claimed} == {1}
    assert again == []  # leased until `lease`


async def test_settling_touches_only_rows_still_under_the_claim(db: Database) -> None:
    sent, retried, lost = [await _pending(db, NOW) for _ in range(3)]
    async with db.transaction() as session:
        claim_id, _ = await repository.claim_due_deliveries(
            session, NOW, NOW + timedelta(seconds=60), 10
        )
        # `lost` was taken over by another round after our lease ran out.
        await session.execute(
            sa.update(DeliveryRow).where(DeliveryRow.id == lost).values(claim_id=uuid.uuid4())
        )
    async with db.transaction() as session:
        changed = await repository.settle_deliveries(
            session,
            claim_id,
            [
                _settled(sent, "sent", claim_id),
                _settled(retried, "pending", None),
                _settled(lost, "failed", claim_id),
            ],
        )
    # The count the dispatcher checks before it trusts that every answer was still its own
    # (None: the driver cannot count an executemany, and the dispatcher asks first instead).
    assert changed in (2, None)
    async with db.session() as session:
        # Stored as the ORM stores a timestamp (on SQLite, text: compared as text when due).
        raw = sa.text("SELECT created_at, sent_at, updated_at FROM deliveries WHERE id = :id")
        stored = (await session.execute(raw, {"id": sent.hex if db.is_sqlite else sent})).one()
    assert stored[0] == stored[1] == stored[2]
    async with db.session() as session:
        rows = {
            row.id: row for row in (await session.execute(sa.select(DeliveryRow))).scalars().all()
        }
    assert (rows[sent].status, rows[sent].provider_message_id, rows[sent].sent_at) == (
        "sent",
        "m-1",
        NOW,
    )
    assert (rows[retried].status, rows[retried].claim_id) == ("pending", None)
    assert rows[retried].next_attempt_at == NOW + timedelta(seconds=30)
    assert rows[lost].status == "pending"  # not ours any more: left alone


async def test_a_heartbeat_extends_only_what_is_still_pending_under_the_claim(
    db: Database,
) -> None:
    in_flight, answered, taken_over = [await _pending(db, NOW) for _ in range(3)]
    lease = NOW + timedelta(seconds=6)
    async with db.transaction() as session:
        claim_id, _ = await repository.claim_due_deliveries(session, NOW, lease, 10)
        # Our lease ran out once and another round claimed `taken_over` meanwhile.
        await session.execute(
            sa.update(DeliveryRow).where(DeliveryRow.id == taken_over).values(claim_id=uuid.uuid4())
        )
    async with db.transaction() as session:
        await repository.settle_deliveries(
            session, claim_id, [_settled(answered, "sent", claim_id)]
        )
    later = NOW + timedelta(seconds=8)
    async with db.transaction() as session:
        kept = await repository.extend_lease(session, claim_id, later)
        ours = await repository.still_claimed(session, claim_id, [in_flight, answered])
    async with db.session() as session:
        rows = {
            row.id: row for row in (await session.execute(sa.select(DeliveryRow))).scalars().all()
        }
    assert (kept, ours) == (1, {in_flight})
    assert rows[in_flight].next_attempt_at == later
    assert rows[answered].next_attempt_at == NOW + timedelta(seconds=30)  # as settled
    assert rows[taken_over].next_attempt_at == lease  # the other round's lease, untouched


async def test_a_paused_platform_is_neither_claimed_nor_waited_for(db: Database) -> None:
    ios = await _pending(db, NOW - timedelta(seconds=2), "ios")
    android = await _pending(db, NOW - timedelta(seconds=1), "android")
    lease = NOW + timedelta(seconds=60)
    async with db.transaction() as session:
        assert await repository.next_due_at(session, ["ios"]) == NOW - timedelta(seconds=1)
        _, claimed = await repository.claim_due_deliveries(session, NOW, lease, 10, ["ios"])
        assert [row.id for row in claimed] == [android]
        assert await repository.next_due_at(session, ["ios", "android"]) is None
    async with db.transaction() as session:
        _, later = await repository.claim_due_deliveries(session, NOW, lease, 10)
    assert [row.id for row in later] == [ios]


async def test_a_claimed_delivery_held_back_unsent_gets_its_attempt_back(db: Database) -> None:
    held = await _pending(db, NOW)
    async with db.transaction() as session:
        claim_id, [claimed] = await repository.claim_due_deliveries(
            session, NOW, NOW + timedelta(seconds=60), 10
        )
        assert claimed.attempts == 1
    back = dataclasses.replace(_settled(held, "pending", None), attempts_refund=1)
    async with db.transaction() as session:
        await repository.settle_deliveries(session, claim_id, [back])
    async with db.session() as session:
        row = await session.get(DeliveryRow, held)
    assert row is not None and (row.status, row.attempts) == ("pending", 0)


async def test_owners_already_reached_by_a_broadcast(db: Database) -> None:
    broadcast, other = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        for content, owner in (
            (broadcast, "u1"),
            (broadcast, "u1"),
            (broadcast, "u2"),
            (other, "u3"),
        ):
            session.add(
                DeliveryRow(
                    id=uuid.uuid4(),
                    notification_id=content,
                    source="topic",
                    device_pk=uuid.uuid4(),
                    owner_id=owner,
                    platform="android",
                    status="pending",
                    attempts=0,
                    next_attempt_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    async with db.session() as session:
        reached = await repository.owners_with_deliveries(session, broadcast, {"u1", "u3", "u4"})
        none = await repository.owners_with_deliveries(session, broadcast, set())
    assert (reached, none) == ({"u1"}, set())


async def test_a_broadcast_page_is_queued_from_the_devices_rows(db: Database) -> None:
    devices = [uuid.uuid4() for _ in range(3)]
    async with db.transaction() as session:
        for n, pk in enumerate(devices):
            session.add(
                DeviceRow(
                    id=pk,
                    owner_id=f"u{n}",
                    device_id=f"d{n}",
                    platform="ios" if n else "android",
                    token=f"t{n}",
                    token_hash=repository.token_hash(f"t{n}"),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    broadcast, later = uuid.uuid4(), NOW + timedelta(minutes=5)
    async with db.transaction() as session:
        # One device of the page is gone by now: it gets no delivery.
        queued = await repository.queue_topic_deliveries(
            session, broadcast, [*devices[:2], uuid.uuid4()], NOW, NOW
        )
        queued += await repository.queue_topic_deliveries(
            session, broadcast, devices[2:], later, NOW
        )
    async with db.session() as session:
        rows = (await session.execute(sa.select(DeliveryRow))).scalars().all()
    assert queued == 3
    by_device = {row.device_pk: row for row in rows}
    assert set(by_device) == set(devices)
    assert {row.id.version for row in rows} == {4} and len({row.id for row in rows}) == 3
    assert [
        (r.notification_id, r.source, r.owner_id, r.platform, r.status, r.attempts)
        for r in (by_device[pk] for pk in devices)
    ] == [
        (broadcast, "topic", "u0", "android", "pending", 0),
        (broadcast, "topic", "u1", "ios", "pending", 0),
        (broadcast, "topic", "u2", "ios", "pending", 0),
    ]
    assert [by_device[pk].next_attempt_at for pk in devices] == [NOW, NOW, later]
    assert {(r.created_at, r.updated_at, r.claim_id) for r in rows} == {(NOW, NOW, None)}
