"""Per-owner change versions: how the BFF knows, without asking, that a user's data changed.

Every user-visible write moves its owner's number on inside the writing transaction: the
number is the last sequence number of the owner's change feed (services/kit/change_feed.py,
its `change_counters` table made by `counter_table`). When the transaction commits,
the new number goes out on the version bus (in-process, or Redis pub/sub shared by replicas)
to every watcher of `GET /internal/v1/versions/watch`, and, when the owner is the user the
request acts for, in the answer's `X-Tern-Version` header. A read answers the number it read
before its data, so a copy cached under that number is never newer than the number says.
A request's answer starts only once what its commits published is out on the bus
(`published`): the caller's next request, to any replica, comes after the bus has it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from proto.common import INTERNAL_PREFIX
from services.kit.background import running
from services.kit.database import Database
from services.kit.structured_logging import get_logger

VERSION_HEADER = "x-tern-version"
WATCH_PATH = f"{INTERNAL_PREFIX}/versions/watch"
_PENDING = "tern.change_versions"
_QUEUE_SIZE = 10_000  # a watcher this far behind is cut off; it reconnects and starts afresh

_log = get_logger(__name__)
_acting_user: ContextVar[str | None] = ContextVar("tern_acting_user", default=None)
_answered: ContextVar[int | None] = ContextVar("tern_answered_version", default=None)
# What this request's commits handed the bus and the bus has not sent yet.
_publishing: ContextVar[list[Awaitable[None]] | None] = ContextVar(
    "tern_version_publishing", default=None
)
# How long an answer waits for its publishes: past it, Redis is in trouble and watchers catch
# up when their streams restart (the database has the change).
PUBLISH_WAIT_S = 1.0

VersionEvent = tuple[str, int, str | None]
"""(owner, version, origin): the origin is the device whose request made every change of
that version (a phone's write), or None (the service's own, or several devices')."""
_UNSET = "\0"


def counter_table(metadata: sa.MetaData) -> sa.Table:
    """`change_counters`: the last version per owner, for a service without a change feed."""
    return sa.Table(
        "change_counters",
        metadata,
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        # Tombstones up to here are pruned (`change_feed`): a reader behind it resnapshots.
        sa.Column("pruned_seq", sa.BigInteger, nullable=False, server_default="0"),
    )


def note(
    session: AsyncSession | Session, owner_id: str, version: int, origin: str | None = None
) -> None:
    """Publish `version` of `owner_id` once this session's transaction commits; `origin` is
    the device whose request made the change, None for the service's own."""
    pending: dict[str, tuple[int, str | None]] = session.info.setdefault(_PENDING, {})
    before, before_origin = pending.get(owner_id, (0, _UNSET))
    merged = origin if before_origin in (_UNSET, origin) else None
    pending[owner_id] = (max(version, before), merged)


VERSION_KEY = "change_version"


@dataclass(frozen=True, slots=True)
class OwnerVersions:
    """Where a service counts its owners' versions, for reads that answer the version their
    data stands at. `column` goes into a list query on :owner_id (the version in the same
    snapshot as the rows); `query` reads it alone."""

    column: sa.Label[Any]
    query: sa.Select[Any]

    @classmethod
    def of(cls, seq: sa.ColumnElement[int], owner_id: sa.ColumnElement[str]) -> OwnerVersions:
        current = sa.select(seq).where(owner_id == sa.bindparam("owner_id"))
        return cls(current.scalar_subquery().label(VERSION_KEY), current)

    async def answer(self, db: Database, owner_id: str, rows: Sequence[sa.Row[Any]]) -> None:
        """Answer the version the rows were read at (read now when there were none)."""
        if rows:
            answer(int(getattr(rows[0], VERSION_KEY) or 0))
            return
        found = await db.fetch_all(self.query, {"owner_id": owner_id})
        answer(int(found[0][0]) if found else 0)


def rows_data(rows: Sequence[sa.Row[Any]], leave_out: Collection[str] = ()) -> list[dict[str, Any]]:
    """List rows as the contract's items: their columns but the version (and `leave_out`).

    The names are looked up once for the rows (they share one result's columns), not once
    per row as `Row._asdict` does: a third of the cost for a page of 20."""
    if not rows:
        return []
    fields = rows[0]._fields
    keep = [i for i, name in enumerate(fields) if name != VERSION_KEY and name not in leave_out]
    names = [fields[i] for i in keep]
    if len(keep) == len(fields):
        return [dict(zip(names, row, strict=True)) for row in rows]
    if len(keep) == 1:  # itemgetter of one index gives the value, not a tuple
        return [{names[0]: row[keep[0]]} for row in rows]
    pick = itemgetter(*keep)
    return [dict(zip(names, pick(row), strict=True)) for row in rows]


def start_request() -> None:
    """A new request acts for no one yet, answers no version and has published nothing."""
    _acting_user.set(None)
    _answered.set(None)
    _publishing.set([])


def act_for(user_id: str) -> None:
    """The user this request acts for: their committed versions are answered in the header."""
    _acting_user.set(user_id)
    _answered.set(None)


def answer(version: int) -> None:
    """Answer `version` (of the acting user) in this request's `X-Tern-Version` header."""
    current = _answered.get()
    _answered.set(version if current is None else max(current, version))


def answered() -> int | None:
    """The version this request answers, if any."""
    return _answered.get()


def hold_answer(sending: Awaitable[None] | None) -> None:
    """Have this request's answer wait for `sending` (news for other replicas) to be out."""
    pending = _publishing.get()
    if sending is not None and pending is not None:
        pending.append(sending)


async def published(timeout_s: float = PUBLISH_WAIT_S) -> None:
    """Wait until the bus has sent what this request's commits published.

    Called before an answer starts: a caller that writes through one replica and reads
    through another (a phone whose next request reaches another BFF, a model registered on
    one inference replica and served by the next) must not get there before the news does.
    """
    pending = _publishing.get()
    if not pending:
        return
    sending = [asyncio.ensure_future(p) for p in pending]
    pending.clear()
    await asyncio.wait(sending, timeout=timeout_s)


class Subscription:
    """A watcher's queue of (owner, version) events; a None means it fell behind (or lost the
    bus) and must start afresh."""

    def __init__(
        self,
        queue: asyncio.Queue[VersionEvent | None],
        on_close: Callable[[], Awaitable[None]],
    ) -> None:
        self.queue = queue
        self._on_close = on_close

    async def close(self) -> None:
        await self._on_close()


class VersionBus(Protocol):
    """Carries (owner, version) from the process that committed to every watcher."""

    def publish(self, events: list[VersionEvent]) -> Awaitable[None] | None:
        """Send the events; what to await until they are out, None when they already are."""
        ...

    async def subscribe(self) -> Subscription:
        """Registered on return: every event published from then on reaches it."""
        ...

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def following(
    bus: VersionBus,
    on_event: Callable[[VersionEvent], None],
    *,
    name: str,
    on_heard: Callable[[bool], None] | None = None,
    retry_s: float = 1.0,
) -> AsyncIterator[None]:
    """While open: every event of `bus` goes to `on_event`, from a subscription made again
    (`retry_s` apart) whenever it is lost. `on_heard(True)` once subscribed, `on_heard(False)`
    when the subscription ends: what was published in between may have been missed. A bus
    that cannot be reached is logged as `<name>_bus_lost` and tried again."""

    async def follow() -> None:
        while True:
            try:
                subscription = await bus.subscribe()
            except Exception as exc:  # Redis unreachable: tried again, its loss told meanwhile
                _log.warning(f"{name}_bus_lost", error=type(exc).__name__)
                await asyncio.sleep(retry_s)
                continue
            if on_heard is not None:
                on_heard(True)
            try:
                while (event := await subscription.queue.get()) is not None:
                    on_event(event)
            finally:
                if on_heard is not None:
                    on_heard(False)
                await subscription.close()

    async with running(follow()):
        yield


def publish_committed(bus: VersionBus) -> Any:
    """The commit hook of a service's database: publish what the transaction noted."""

    def hook(session: Session) -> None:
        pending: dict[str, tuple[int, str | None]] | None = session.info.pop(_PENDING, None)
        if not pending:
            return
        hold_answer(
            bus.publish([(owner, version, origin) for owner, (version, origin) in pending.items()])
        )
        acting = _acting_user.get()
        if acting is not None and acting in pending:
            answer(pending[acting][0])

    return hook


class MemoryVersionBus:
    """One process: watchers are queues in this process."""

    def __init__(self) -> None:
        self._watchers: set[asyncio.Queue[VersionEvent | None]] = set()

    def publish(self, events: list[VersionEvent]) -> None:
        for queue in list(self._watchers):
            _offer(queue, events)

    async def subscribe(self) -> Subscription:
        queue: asyncio.Queue[VersionEvent | None] = asyncio.Queue(_QUEUE_SIZE)
        self._watchers.add(queue)

        async def close() -> None:
            self._watchers.discard(queue)

        return Subscription(queue, close)

    async def close(self) -> None:
        self._watchers.clear()


class RedisVersionBus:
    """Replicas of one service share a Redis channel: a watcher of any replica hears all."""

    def __init__(self, url: str, channel: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=2)
        self._channel = channel
        self._sending: set[asyncio.Task[None]] = set()

    def publish(self, events: list[VersionEvent]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._send(events))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return task

    async def _send(self, events: list[VersionEvent]) -> None:
        try:
            await self._redis.publish(self._channel, orjson.dumps(events))
        except aioredis.RedisError as exc:
            # Watchers may now miss this version: their caches expire by the next write
            # or when their watch stream is restarted; nothing is lost in the database.
            _log.warning("version_publish_failed", error=type(exc).__name__)

    async def subscribe(self) -> Subscription:
        queue: asyncio.Queue[VersionEvent | None] = asyncio.Queue(_QUEUE_SIZE)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        reader = asyncio.create_task(self._relay(pubsub, queue))

        async def close() -> None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with contextlib.suppress(aioredis.RedisError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

        return Subscription(queue, close)

    async def _relay(self, pubsub: Any, queue: asyncio.Queue[VersionEvent | None]) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    events = parse_events(orjson.loads(message["data"]))
                    if not _offer(queue, events):
                        return
        except aioredis.RedisError:
            pass
        _offer_end(queue)  # lost the channel: the watcher must start afresh

    async def close(self) -> None:
        for task in list(self._sending):
            with contextlib.suppress(BaseException):
                await task
        await self._redis.aclose()


def parse_events(data: Any) -> list[VersionEvent]:
    """Events as the bus and the watch stream carry them: [owner, version, origin] lists."""
    return [(str(event[0]), int(event[1]), _origin(event)) for event in data]


def _origin(event: Sequence[Any]) -> str | None:
    return str(event[2]) if len(event) > 2 and event[2] is not None else None


def _offer(queue: asyncio.Queue[VersionEvent | None], events: list[VersionEvent]) -> bool:
    """Queue events for one watcher; one that fell behind gets the end marker instead."""
    try:
        for event in events:
            queue.put_nowait(event)
    except asyncio.QueueFull:
        _offer_end(queue)
        return False
    return True


def _offer_end(queue: asyncio.Queue[VersionEvent | None]) -> None:
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            queue.get_nowait()


def build_version_bus(redis_url: str | None, service: str) -> VersionBus:
    """Redis pub/sub when configured (replicas share it), else in this process."""
    if redis_url:
        return RedisVersionBus(redis_url, f"tern:{service}:versions")
    return MemoryVersionBus()
