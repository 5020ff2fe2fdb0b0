"""Datasets by id, for the user of one request: one call per batch (POST /datasets/batch)."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from bff.clients import DatasetsClient
from bff.graphql.dataloaders.batches import Item, batch_loader

DatasetLoader = DataLoader[str, Item | None]


def dataset_loader(datasets: DatasetsClient, user_id: str) -> DatasetLoader:
    """Keys are dataset ids as the service writes them (lower-case uuids)."""
    return batch_loader(partial(datasets.read_datasets, user_id), lambda item: str(item["id"]))
