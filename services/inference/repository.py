"""Queries of the model registry; every read is scoped to one owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.inference.tables import VERSIONS, ModelAliasRow, ModelRow, ModelVersionRow
from services.kit.paging import NewestFirst

# The owner's models for a list or a batch read (plain rows), and the aliases of some of them.
_MODEL_FIELDS = sa.select(
    ModelRow.id,
    ModelRow.name,
    ModelRow.owner_id,
    ModelRow.task,
    ModelRow.latest_version,
    ModelRow.features,
    ModelRow.created_at,
    ModelRow.updated_at,
    VERSIONS.column,
).where(ModelRow.owner_id == sa.bindparam("owner_id"))
MODEL_LIST = NewestFirst.of(_MODEL_FIELDS, ModelRow.created_at, ModelRow.id)
MODEL_BATCH = _MODEL_FIELDS.where(ModelRow.id.in_(sa.bindparam("ids", expanding=True)))
ALIASES_OF = sa.select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelAliasRow.version).where(
    ModelAliasRow.model_id.in_(sa.bindparam("model_ids", expanding=True))
)


class ModelRepository:
    """Reads and writes models, versions and aliases inside the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_model(self, owner_id: str, model_id: uuid.UUID) -> ModelRow | None:
        """The owner's model, or None (also when it belongs to someone else)."""
        query = sa.select(ModelRow).where(ModelRow.id == model_id, ModelRow.owner_id == owner_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get_model_by_name_for_update(self, owner_id: str, name: str) -> ModelRow | None:
        """The owner's model with this name, locked until the transaction ends (PostgreSQL)."""
        query = (
            sa.select(ModelRow)
            .where(ModelRow.owner_id == owner_id, ModelRow.name == name)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get_version(self, model_id: uuid.UUID, version: int) -> ModelVersionRow | None:
        return await self.session.get(ModelVersionRow, (model_id, version))

    async def list_versions(
        self, model_id: uuid.UUID, limit: int, before_version: int | None
    ) -> Sequence[ModelVersionRow]:
        """The model's versions newest first, below `before_version`: up to `limit` + 1."""
        query = sa.select(ModelVersionRow).where(ModelVersionRow.model_id == model_id)
        if before_version is not None:
            query = query.where(ModelVersionRow.version < before_version)
        query = query.order_by(ModelVersionRow.version.desc()).limit(limit + 1)
        return (await self.session.execute(query)).scalars().all()

    async def get_versions(
        self, owner_id: str, keys: Sequence[tuple[uuid.UUID, int]]
    ) -> Sequence[ModelVersionRow]:
        """Those of these (model, version) pairs that exist among the owner's models."""
        wanted = sa.tuple_(ModelVersionRow.model_id, ModelVersionRow.version).in_(keys)
        query = (
            sa.select(ModelVersionRow)
            .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
            .where(wanted, ModelRow.owner_id == owner_id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def get_alias(self, model_id: uuid.UUID, alias: str) -> ModelAliasRow | None:
        return await self.session.get(ModelAliasRow, (model_id, alias))

    async def delete_alias(self, row: ModelAliasRow) -> None:
        await self.session.delete(row)

    async def aliases(self, model_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        """Alias -> version, per model."""
        result: dict[uuid.UUID, dict[str, int]] = {model_id: {} for model_id in model_ids}
        if not model_ids:
            return result
        query = sa.select(ModelAliasRow).where(ModelAliasRow.model_id.in_(model_ids))
        for row in (await self.session.execute(query)).scalars():
            result[row.model_id][row.alias] = row.version
        return result

    async def version_of_training_job(
        self, owner_id: str, training_job_id: uuid.UUID
    ) -> ModelVersionRow | None:
        """The version a training job already registered for this owner, if any."""
        query = (
            sa.select(ModelVersionRow)
            .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
            .where(
                ModelVersionRow.training_job_id == training_job_id, ModelRow.owner_id == owner_id
            )
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    def add(self, row: ModelRow | ModelVersionRow | ModelAliasRow) -> None:
        self.session.add(row)

    async def flush(self) -> None:
        await self.session.flush()


async def serving_target(
    conn: AsyncConnection, owner_id: str, model_id: uuid.UUID, alias: str
) -> tuple[int, int | None] | None:
    """(latest version, version under `alias`) of the owner's model in one query; None if not
    theirs. Predict reads it (through `ServingTargets`) on its hot path, so it skips the ORM."""
    query = (
        sa.select(ModelRow.latest_version, ModelAliasRow.version)
        .select_from(ModelRow)
        .outerjoin(
            ModelAliasRow,
            sa.and_(ModelAliasRow.model_id == ModelRow.id, ModelAliasRow.alias == alias),
        )
        .where(ModelRow.id == model_id, ModelRow.owner_id == owner_id)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row[0], row[1])
