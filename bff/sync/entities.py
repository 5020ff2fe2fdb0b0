"""The entity kinds a phone syncs: which deployable keeps each in its change feed, under
which kind there, and the contract its state has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bff.auth.tables import SESSION
from proto.datasets import (
    FEED_DATASET,
    FEED_DATASET_VERSION,
    FEED_LABEL,
    Dataset,
    DatasetVersion,
    Label,
)
from proto.inference import (
    FEED_MODEL,
    FEED_MODEL_ALIAS,
    FEED_MODEL_VERSION,
    Model,
    ModelVersion,
)
from proto.notifications import (
    FEED_DEVICE,
    FEED_NOTIFICATION,
    FEED_PUSH_PREFERENCES,
    FEED_TOPIC_SUBSCRIPTION,
    Device,
    Notification,
    Preferences,
    TopicSubscription,
)
from proto.training import FEED_TRAINING_JOB, TrainingJob
from services.kit.errors import invalid_input

BFF = "bff"  # the BFF's own feed: sessions


@dataclass(frozen=True, slots=True)
class EntityKind:
    name: str  # as the phone sees it
    source: str  # "bff" or a service's name
    feed_kind: str  # the kind in that feed
    contract: Any  # the model of an upsert's data (for the compact representation)


ENTITY_KINDS: tuple[EntityKind, ...] = (
    EntityKind("datasets", "datasets", FEED_DATASET, Dataset),
    EntityKind("dataset_versions", "datasets", FEED_DATASET_VERSION, DatasetVersion),
    EntityKind("labels", "datasets", FEED_LABEL, Label),
    EntityKind("training_jobs", "training", FEED_TRAINING_JOB, TrainingJob),
    EntityKind("models", "inference", FEED_MODEL, Model),
    EntityKind("model_versions", "inference", FEED_MODEL_VERSION, ModelVersion),
    EntityKind("model_aliases", "inference", FEED_MODEL_ALIAS, dict[str, Any]),
    EntityKind("notifications", "notifications", FEED_NOTIFICATION, Notification),
    EntityKind("devices", "notifications", FEED_DEVICE, Device),
    EntityKind("topic_subscriptions", "notifications", FEED_TOPIC_SUBSCRIPTION, TopicSubscription),
    EntityKind("push_preferences", "notifications", FEED_PUSH_PREFERENCES, Preferences),
    EntityKind("sessions", BFF, SESSION, dict[str, Any]),
)
BY_NAME = {kind.name: kind for kind in ENTITY_KINDS}
BY_FEED_KIND = {(kind.source, kind.feed_kind): kind for kind in ENTITY_KINDS}
SOURCES = tuple(dict.fromkeys(kind.source for kind in ENTITY_KINDS))


def chosen(names: Iterable[str] | None) -> dict[str, list[EntityKind]]:
    """The kinds asked for (all when None), by source; 422 UNKNOWN_ENTITY for a name not
    synced."""
    if names is None:
        wanted = list(ENTITY_KINDS)
    else:
        unknown = sorted(set(names) - BY_NAME.keys())
        if unknown:
            raise invalid_input(
                "UNKNOWN_ENTITY",
                f"cannot sync {', '.join(unknown)}; entities are {', '.join(BY_NAME)}",
            )
        wanted = [kind for kind in ENTITY_KINDS if kind.name in set(names)]
    by_source: dict[str, list[EntityKind]] = {}
    for kind in wanted:
        by_source.setdefault(kind.source, []).append(kind)
    return by_source
