"""DataLoaders, one per file, built lazily for one request and one user: the relations of a
whole answer (50 jobs' datasets and models) cost one call per service, not one per object."""

from __future__ import annotations

from functools import cached_property

from bff.clients import ServiceClients
from bff.graphql.dataloaders.dataset_versions import DatasetVersionLoader, dataset_version_loader
from bff.graphql.dataloaders.datasets import DatasetLoader, dataset_loader
from bff.graphql.dataloaders.model_versions import ModelVersionLoader, model_version_loader
from bff.graphql.dataloaders.models import ModelLoader, model_loader
from bff.graphql.dataloaders.training_jobs import TrainingJobLoader, training_job_loader


class Loaders:
    """The loaders of one request; each is made on first use (most queries need none)."""

    def __init__(self, clients: ServiceClients, user_id: str) -> None:
        self._clients = clients
        self._user_id = user_id

    @cached_property
    def datasets(self) -> DatasetLoader:
        return dataset_loader(self._clients.datasets, self._user_id)

    @cached_property
    def dataset_versions(self) -> DatasetVersionLoader:
        return dataset_version_loader(self._clients.datasets, self._user_id)

    @cached_property
    def models(self) -> ModelLoader:
        return model_loader(self._clients.inference, self._user_id)

    @cached_property
    def model_versions(self) -> ModelVersionLoader:
        return model_version_loader(self._clients.inference, self._user_id)

    @cached_property
    def training_jobs(self) -> TrainingJobLoader:
        return training_job_loader(self._clients.training, self._user_id)
