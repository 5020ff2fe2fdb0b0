"""Training jobs by id, for the user of one request: one call per batch (POST /jobs/batch)."""

from __future__ import annotations

from functools import partial

from strawberry.dataloader import DataLoader

from bff.clients import TrainingClient
from bff.graphql.dataloaders.batches import Item, batch_loader

TrainingJobLoader = DataLoader[str, Item | None]


def training_job_loader(training: TrainingClient, user_id: str) -> TrainingJobLoader:
    return batch_loader(partial(training.read_jobs, user_id), lambda item: str(item["id"]))
