"""How a sync answer is put together from the sources' feed pages (no I/O: the feeds are
in-memory pages shaped as the services answer them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bff.sync.cursor import SyncCursor
from bff.sync.pull import FeedReader, _shares, pull
from proto.common import FeedEntry, FeedPage
from services.kit.errors import ApiError
from services.kit.http_client import DownstreamUnavailable

AT = datetime(2026, 12, 1, tzinfo=UTC)


class Feed:
    """One source's compacted feed for one user, read the way services read theirs."""

    def __init__(self, *entries: tuple[str, str, str], pruned: int = 0) -> None:
        self.entries = [
            FeedEntry(seq=seq, kind=kind, id=entity_id, op=op, data={"id": entity_id}, at=AT)  # type: ignore[arg-type]
            for seq, (kind, entity_id, op) in enumerate(entries, start=1)
        ]
        self.pruned = pruned
        self.calls: list[tuple[int, int, list[str], bool]] = []

    async def __call__(
        self, user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool
    ) -> FeedPage:
        self.calls.append((since, limit, kinds, snapshot))
        last = len(self.entries)
        reset = since > last or (not snapshot and 0 < since < self.pruned)
        if reset:
            since = 0
        rows = [e for e in self.entries if e.seq > since and e.kind in kinds][: limit + 1]
        page, more = rows[:limit], len(rows) > limit
        return FeedPage(
            entries=page,
            next_since=page[-1].seq if more else last,
            has_more=more,
            reset=reset,
            last_seq=last,
        )


async def down(user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool) -> FeedPage:
    raise DownstreamUnavailable("training", "connection refused")


def readers(**sources: FeedReader) -> dict[str, FeedReader]:
    empty = Feed()
    return {name: sources.get(name, empty) for name in ("bff", *SERVICES)}


SERVICES = ("datasets", "training", "inference", "notifications")


async def sync(sources: dict[str, FeedReader], cursor: str | None = None, **kw: object) -> dict:
    return await pull(
        sources,
        "u1",
        SyncCursor.decode(cursor),
        kw.get("entities"),  # type: ignore[arg-type]
        kw.get("limit", 100),  # type: ignore[arg-type]
    )


async def test_changes_group_by_kind_and_the_cursor_catches_up() -> None:
    datasets = Feed(("dataset", "d1", "upsert"), ("label", "d1/1/0", "upsert"))
    datasets.entries.append(FeedEntry(seq=3, kind="dataset", id="d2", op="delete", at=AT))
    sources = readers(datasets=datasets)

    answer = await sync(sources)

    assert answer["changes"] == {
        "datasets": {
            "upserts": [{"id": "d1", "version": 1, "data": {"id": "d1"}}],
            "deletes": ["d2"],
        },
        "labels": {
            "upserts": [{"id": "d1/1/0", "version": 2, "data": {"id": "d1/1/0"}}],
            "deletes": [],
        },
    }
    assert (answer["has_more"], answer["resets"], answer["unavailable"]) == (False, [], [])
    again = await sync(sources, answer["cursor"])
    assert again["changes"] == {} and again["cursor"] == answer["cursor"]


async def test_a_small_limit_pages_fairly_and_misses_nothing() -> None:
    datasets = Feed(*[("dataset", f"d{i}", "upsert") for i in range(7)])
    notifications = Feed(("notification", "n1", "upsert"))
    sources = readers(datasets=datasets, notifications=notifications)

    first = await sync(sources, limit=4)
    assert len(first["changes"]["datasets"]["upserts"]) == 3
    assert len(first["changes"]["notifications"]["upserts"]) == 1
    assert first["has_more"]
    seen = [u["id"] for u in first["changes"]["datasets"]["upserts"]]
    cursor = first["cursor"]
    while True:
        page = await sync(sources, cursor, limit=4)
        seen += [u["id"] for u in page["changes"].get("datasets", {}).get("upserts", [])]
        assert "notifications" not in page["changes"]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert seen == [f"d{i}" for i in range(7)]


@pytest.mark.parametrize(
    ("counts", "limit", "shares"),
    [([0, 10, 1], 4, [0, 3, 1]), ([5, 5], 4, [2, 2]), ([1, 1], 10, [1, 1]), ([3], 0, [0])],
)
def test_shares_split_the_limit_fairly(counts: list[int], limit: int, shares: list[int]) -> None:
    assert _shares(counts, limit) == shares


async def test_a_source_that_is_down_keeps_its_place_and_the_others_answer() -> None:
    training = Feed(("training_job", "j1", "upsert"))
    sources = readers(training=down, datasets=Feed(("dataset", "d1", "upsert")))

    answer = await sync(sources)

    assert answer["unavailable"] == ["training_jobs"]
    assert list(answer["changes"]) == ["datasets"]
    later = await sync(readers(training=training), answer["cursor"])
    assert [u["id"] for u in later["changes"]["training_jobs"]["upserts"]] == ["j1"]


async def test_a_cursor_behind_pruned_tombstones_resnapshots_that_source_only() -> None:
    datasets = Feed(*[("dataset", f"d{i}", "upsert") for i in range(3)])
    notifications = Feed(("notification", "n1", "upsert"), ("notification", "n2", "upsert"))
    cursor = (await sync(readers(datasets=datasets, notifications=notifications), limit=2))[
        "cursor"
    ]
    notifications.pruned = 5  # tombstones past the phone's place went
    notifications.entries.append(FeedEntry(seq=3, kind="notification", id="n3", op="upsert", at=AT))

    answer = await sync(readers(datasets=datasets, notifications=notifications), cursor, limit=2)

    # Every kind that source keeps is resnapshotted; the phone keeps what the snapshot brings.
    assert answer["resets"] == [
        "notifications",
        "devices",
        "topic_subscriptions",
        "push_preferences",
    ]
    assert [u["id"] for u in answer["changes"]["notifications"]["upserts"]] == ["n1"]
    rest = await sync(readers(datasets=datasets, notifications=notifications), answer["cursor"])
    assert rest["resets"] == []
    assert [u["id"] for u in rest["changes"]["notifications"]["upserts"]] == ["n2", "n3"]
    assert notifications.calls[-1][3] is True  # paged on as a snapshot, not reset again
    assert [u["id"] for u in rest["changes"]["datasets"]["upserts"]] == ["d2"]  # no re-download


async def test_a_cursor_that_is_not_ours_is_refused() -> None:
    for raw in ("garbage", "eyJ2IjoxLCJwIjp7ImsiOnsiZGF0YXNldHMiOi0xfSwicyI6W119fQ"):
        with pytest.raises(ApiError) as refused:
            SyncCursor.decode(raw)
        assert refused.value.code == "INVALID_CURSOR"
