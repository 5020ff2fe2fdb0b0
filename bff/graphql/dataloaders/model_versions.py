"""Model versions by (model id, version), for the user of one request: one call per batch
(POST /models/versions/batch)."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from bff.clients import InferenceClient
from bff.graphql.dataloaders.batches import Item, batch_loader

ModelVersionLoader = DataLoader[tuple[str, int], Item | None]


def model_version_loader(inference: InferenceClient, user_id: str) -> ModelVersionLoader:
    return batch_loader(
        partial(inference.read_versions, user_id),
        lambda item: (str(item["model_id"]), int(item["version"])),
    )
