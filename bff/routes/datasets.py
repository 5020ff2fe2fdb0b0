"""The user's datasets."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from bff.dependencies import Clients, CurrentUser
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.datasets import Dataset

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=Page[Dataset])
async def list_datasets(page: PageParams, user: CurrentUser, clients: Clients) -> Page[Dataset]:
    """The user's datasets, newest first, a page at a time."""
    return await clients.datasets.list_datasets(user.id, page.cursor, page.limit)


@router.get("/{dataset_id}", response_model=Dataset)
async def get_dataset(dataset_id: UUID, user: CurrentUser, clients: Clients) -> Dataset:
    """One of the user's datasets."""
    return await clients.datasets.get_dataset(user.id, dataset_id)
