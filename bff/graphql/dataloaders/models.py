"""Models by id, for the user of one request: one call per batch (POST /models/batch)."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from bff.clients import InferenceClient
from bff.graphql.dataloaders.batches import Item, batch_loader

ModelLoader = DataLoader[str, Item | None]


def model_loader(inference: InferenceClient, user_id: str) -> ModelLoader:
    return batch_loader(partial(inference.read_models, user_id), lambda item: str(item["id"]))
