"""POST /api/v1/sync: what changed for the phone since its cursor, across every deployable.

Each source (the BFF's own feed, and each service's GET /internal/v1/feed) is read at once,
from the lowest position of the kinds asked of it. The answer holds at most `limit` entries,
shared fairly among the sources that have some; a source cut short, or with more to read,
keeps `has_more` true. A source that is down or slow leaves its kinds where they were and
names them in `unavailable`: the others' changes still come. A source that says `reset` (the
phone's position is behind its pruned tombstones) starts a snapshot of its kinds, named in
`resets`: the phone keeps only the entities of those kinds that this answer and the ones after
it upsert, once an answer says `has_more: false`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multidict import MultiDict

from bff.sync.cursor import SyncCursor
from bff.sync.entities import BY_FEED_KIND, EntityKind, chosen
from proto.common import FEED_PATH, FeedEntry, FeedPage
from services.kit.http_client import DownstreamError, DownstreamUnavailable, ServiceClient
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)

# Reads one source's feed: (user, since, limit, feed kinds, snapshot) -> page.
FeedReader = Callable[[str, int, int, list[str], bool], Awaitable[FeedPage]]


def remote_reader(client: ServiceClient, timeout_s: float) -> FeedReader:
    """A service's feed, over its internal API."""

    async def read(
        user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool
    ) -> FeedPage:
        params: MultiDict[str | int] = MultiDict(
            [("since", since), ("limit", limit), ("snapshot", "true" if snapshot else "false")]
        )
        for kind in kinds:
            params.add("kind", kind)
        data = await client.get_json(FEED_PATH, user_id=user_id, params=params, timeout_s=timeout_s)
        return FeedPage.model_validate(data)

    return read


@dataclass(frozen=True, slots=True)
class _Read:
    source: str
    kinds: list[EntityKind]
    page: FeedPage | None  # None: the source could not answer


async def pull(
    readers: Mapping[str, FeedReader],
    user_id: str,
    cursor: SyncCursor,
    entities: Sequence[str] | None,
    limit: int,
) -> dict[str, Any]:
    """The sync answer (as the response model's data) and, inside it, the next cursor."""
    wanted = chosen(entities)
    reads = await asyncio.gather(
        *(
            _read(readers[source], source, kinds, user_id, cursor, limit)
            for source, kinds in wanted.items()
        )
    )
    shares = _shares([_sendable(read, cursor) for read in reads], limit)
    changes: dict[str, dict[str, list[Any]]] = {}
    resets: list[str] = []
    unavailable: list[str] = []
    has_more = False
    for read, share in zip(reads, shares, strict=True):
        if read.page is None:
            unavailable += [kind.name for kind in read.kinds]
            continue
        if read.page.reset:
            resets += [kind.name for kind in read.kinds]
            for kind in read.kinds:
                cursor.positions[kind.name] = 0
            cursor.snapshots.add(read.source)
        more = _apply(read, share, cursor, changes)
        has_more = has_more or more
        if not more:
            cursor.snapshots.discard(read.source)
    return {
        "cursor": cursor.encode(),
        "has_more": has_more,
        "changes": changes,
        "resets": resets,
        "unavailable": unavailable,
    }


async def _read(
    reader: FeedReader,
    source: str,
    kinds: list[EntityKind],
    user_id: str,
    cursor: SyncCursor,
    limit: int,
) -> _Read:
    since = min(cursor.position(kind.name) for kind in kinds)
    feed_kinds = [kind.feed_kind for kind in kinds]
    try:
        page = await reader(user_id, since, limit, feed_kinds, source in cursor.snapshots)
    except (DownstreamUnavailable, DownstreamError, TimeoutError) as exc:
        _log.warning("sync_source_unavailable", source=source, error=type(exc).__name__)
        return _Read(source, kinds, None)
    return _Read(source, kinds, page)


def _wanted(entry: FeedEntry, source: str, cursor: SyncCursor, reset: bool) -> bool:
    """An entry past the position of its kind (from 0 in a reset)."""
    kind = BY_FEED_KIND.get((source, entry.kind))
    return kind is not None and (reset or entry.seq > cursor.position(kind.name))


def _sendable(read: _Read, cursor: SyncCursor) -> int:
    if read.page is None:
        return 0
    return sum(_wanted(e, read.source, cursor, read.page.reset) for e in read.page.entries)


def _shares(counts: list[int], limit: int) -> list[int]:
    """Split `limit` among sources with `counts` entries to send: each gets an equal part,
    and what one does not need goes to the others."""
    shares = [0] * len(counts)
    remaining = limit
    order = sorted(range(len(counts)), key=counts.__getitem__)
    for done, index in enumerate(order):
        share = min(counts[index], remaining // (len(counts) - done))
        shares[index] = share
        remaining -= share
    return shares


def _apply(
    read: _Read, share: int, cursor: SyncCursor, changes: dict[str, dict[str, list[Any]]]
) -> bool:
    """Put up to `share` of the source's entries in `changes` and move its kinds' positions
    past what was taken; whether the source has more."""
    page = read.page
    assert page is not None
    sent = 0
    last_seq = None
    cut_short = False
    for entry in page.entries:
        kind = BY_FEED_KIND.get((read.source, entry.kind))
        if kind is None or entry.seq <= cursor.position(kind.name):
            last_seq = entry.seq  # already applied (or not a synced kind): passed over
            continue
        if sent == share:
            cut_short = True
            break
        group = changes.setdefault(kind.name, {"upserts": [], "deletes": []})
        if entry.op == "upsert":
            group["upserts"].append({"id": entry.id, "version": entry.seq, "data": entry.data})
        else:
            group["deletes"].append(entry.id)
        sent += 1
        last_seq = entry.seq
    caught_up = not cut_short and not page.has_more
    for kind in read.kinds:
        reached = page.next_since if caught_up else last_seq
        if reached is not None and reached > cursor.position(kind.name):
            cursor.positions[kind.name] = reached
    return not caught_up
