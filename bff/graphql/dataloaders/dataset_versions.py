"""Dataset versions by (dataset id, version), for the user of one request: one call per batch
(POST /datasets/versions/batch)."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from bff.clients import DatasetsClient
from bff.graphql.dataloaders.batches import Item, batch_loader

DatasetVersionLoader = DataLoader[tuple[str, int], Item | None]


def dataset_version_loader(datasets: DatasetsClient, user_id: str) -> DatasetVersionLoader:
    return batch_loader(
        partial(datasets.read_versions, user_id),
        lambda item: (str(item["dataset_id"]), int(item["version"])),
    )
