"""The inference service's entries in the kit's change feed (services/kit/change_feed.py): each
model, each version and each alias, as their contracts; a removed alias is a tombstone."""

from __future__ import annotations

import uuid

from proto.common import FeedOp
from proto.inference import (
    FEED_MODEL,
    FEED_MODEL_ALIAS,
    FEED_MODEL_VERSION,
    Model,
    ModelAlias,
    ModelVersion,
)
from services.kit.change_feed import ChangeWriter

MODEL = FEED_MODEL
MODEL_VERSION = FEED_MODEL_VERSION
MODEL_ALIAS = FEED_MODEL_ALIAS


async def record_model(changes: ChangeWriter, model: Model) -> None:
    await changes.record(MODEL, str(model.id), "upsert", model.model_dump(mode="json"))


async def record_version(changes: ChangeWriter, version: ModelVersion) -> None:
    key = f"{version.model_id}/{version.version}"
    await changes.record(MODEL_VERSION, key, "upsert", version.model_dump(mode="json"))


async def record_alias(
    changes: ChangeWriter, model_id: uuid.UUID, alias: str, version: int, op: FeedOp = "upsert"
) -> None:
    """The alias as it now points; removed, its tombstone keeps the version it pointed at."""
    data = ModelAlias(model_id=model_id, alias=alias, version=version).model_dump(mode="json")
    await changes.record(MODEL_ALIAS, f"{model_id}/{alias}", op, data)
