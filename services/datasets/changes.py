"""The datasets service's entries in the kit's change feed (services/kit/change_feed.py):
datasets, their versions and labels; and the dataset-shaped view of it that
`GET /api/v1/datasets/changes` has answered since before the feed was the kit's."""

from __future__ import annotations

import uuid

from proto.datasets import (
    FEED_DATASET,
    FEED_DATASET_VERSION,
    FEED_LABEL,
    Change,
    ChangeFeed,
    Dataset,
    Label,
)
from services.datasets.context import DatasetsContext
from services.datasets.tables import FEED
from services.kit.change_feed import ChangeWriter, read_feed
from services.kit.errors import Action, ApiError

DATASET = FEED_DATASET
VERSION = FEED_DATASET_VERSION
LABEL = FEED_LABEL
_PUBLIC_KINDS = (DATASET, LABEL)


def dataset_key(dataset_id: uuid.UUID) -> str:
    return str(dataset_id)


def version_key(dataset_id: uuid.UUID, version: int) -> str:
    return f"{dataset_id}/{version}"


def label_key(dataset_id: uuid.UUID, version: int, row_id: int) -> str:
    return f"{dataset_id}/{version}/{row_id}"


async def forget_children(changes: ChangeWriter, dataset_id: uuid.UUID) -> None:
    """A deleted dataset's tombstone stands for its versions and labels."""
    await changes.forget(VERSION, f"{dataset_id}/")
    await changes.forget(LABEL, f"{dataset_id}/")


async def read_changes(ctx: DatasetsContext, owner_id: str, since: int, limit: int) -> ChangeFeed:
    """The owner's dataset and label changes after `since`, oldest first, at most `limit`."""
    page = await read_feed(ctx.db, FEED, owner_id, since, limit, kinds=_PUBLIC_KINDS)
    if page.reset and since != 0:
        ahead = since > page.last_seq
        raise ApiError(
            409,
            "CHANGES_SINCE_AHEAD" if ahead else "CHANGES_EXPIRED",
            f"since={since} is past the newest change ({page.last_seq}); sync again from 0"
            if ahead
            else f"changes before since={since} are no longer kept; sync again from 0",
            user_message="Your data needs a full refresh.",
            action=Action.RETRY,
            details={"last_seq": page.last_seq},
        )
    changes = []
    for entry in page.entries:
        ids = entry.id.split("/")
        changes.append(
            Change(
                seq=entry.seq,
                kind=DATASET if entry.kind == DATASET else LABEL,
                op=entry.op,
                dataset_id=uuid.UUID(ids[0]),
                version=int(ids[1]) if len(ids) > 1 else _version_of(entry.data),
                row_id=int(ids[2]) if len(ids) > 2 else None,
                dataset=Dataset.model_validate(entry.data)
                if entry.data is not None and entry.kind == DATASET
                else None,
                label=Label.model_validate(entry.data)
                if entry.data is not None and entry.kind == LABEL
                else None,
                changed_at=entry.at,
            )
        )
    return ChangeFeed(changes=changes, next_since=page.next_since, has_more=page.has_more)


def _version_of(data: dict[str, object] | None) -> int | None:
    version = (data or {}).get("latest_version")
    return version if isinstance(version, int) else None
