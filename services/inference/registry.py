"""The model registry: register versions (check, store, then record the artifact) and read."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from proto.common import Batch, Page
from proto.inference import (
    ArtifactFormat,
    FeatureSpec,
    Model,
    ModelVersion,
    ModelVersionKey,
    ModelVersionRegister,
)
from services.inference.context import InferenceContext
from services.inference.model_cache import LoadedModel, ModelRunner
from services.inference.model_feed import record_alias, record_model, record_version
from services.inference.onnx_artifacts import InvalidArtifact, check_artifact
from services.inference.repository import (
    ALIASES_OF,
    MODEL_BATCH,
    MODEL_LIST,
    ModelRepository,
)
from services.inference.tables import (
    FEED,
    VERSIONS,
    ModelAliasRow,
    ModelRow,
    ModelVersionRow,
)
from services.inference.torch_artifacts import check_torch_artifact
from services.kit.change_feed import ChangeWriter, change_writer
from services.kit.change_versions import rows_data
from services.kit.clock import utc_now
from services.kit.errors import ApiError, invalid_input, not_found
from services.kit.paging import (
    clamp_limit,
    cursor_number,
    cursor_position,
    encode_cursor,
    split_page,
)
from services.kit.responses import JsonPage
from services.kit.structured_logging import get_logger

PRODUCTION_ALIAS = "production"
SUPPORTED_FORMATS = frozenset({"onnx", "torch-safetensors"})
_ARTIFACT_SUFFIX: dict[ArtifactFormat, str] = {"onnx": "onnx", "torch-safetensors": "torch.zip"}
_REGISTER_ATTEMPTS = 3

_log = get_logger(__name__)


def artifact_too_large(limit: int) -> ApiError:
    """413 for an artifact over the configured size limit."""
    return ApiError(
        413,
        "ARTIFACT_TOO_LARGE",
        f"the model artifact is larger than {limit} bytes",
        details={"max_bytes": limit},
    )


async def register_version(
    ctx: InferenceContext,
    owner_id: str,
    metadata: ModelVersionRegister,
    artifact: AsyncIterator[bytes],
) -> ModelVersion:
    """Check the artifact, store it, then record the version (a new model at version 1)."""
    _check_metadata(ctx, metadata)
    if metadata.training_job_id is not None:
        async with ctx.db.session() as session:
            existing = await ModelRepository(session).version_of_training_job(
                owner_id, metadata.training_job_id
            )
        if existing is not None:
            # The training worker retried after registering (crash, lost reply): same answer.
            return to_model_version(existing)
    data = await _read_limited(artifact, ctx.settings.max_artifact_bytes)
    check = check_artifact if metadata.format == "onnx" else check_torch_artifact
    try:
        runner: ModelRunner = await ctx.in_pool(
            check,
            data,
            metadata.features,
            metadata.task,
            metadata.classes,
            ctx.settings.onnx_intra_op_threads,
        )
    except InvalidArtifact as exc:
        raise invalid_input("INVALID_MODEL", f"invalid model artifact: {exc}") from exc
    key = f"models/{uuid.uuid4().hex}.{_ARTIFACT_SUFFIX[metadata.format]}"
    await _store(ctx, key, data)
    try:
        row = await _record_version(
            ctx, owner_id, metadata, key, hashlib.sha256(data).hexdigest(), len(data)
        )
    except BaseException:
        await ctx.store.delete(key)
        raise
    ctx.targets.invalidate(row.model_id)  # a new latest version (or a new model)
    # The runner the check opened serves the version's first predictions on this replica (the
    # owner is told the model is ready, and asks for one next).
    ctx.cache.keep(
        LoadedModel.opened(
            (row.model_id, row.version),
            metadata.task,
            metadata.features,
            metadata.classes,
            runner,
            len(data),
        )
    )
    _log.info("model_version_registered", model_id=str(row.model_id), version=row.version)
    return to_model_version(row)


def _check_metadata(ctx: InferenceContext, metadata: ModelVersionRegister) -> None:
    settings = ctx.settings
    if metadata.format not in SUPPORTED_FORMATS:
        raise invalid_input(
            "UNSUPPORTED_FORMAT",
            f"artifact format {metadata.format!r} is not supported "
            f"(supported: {', '.join(sorted(SUPPORTED_FORMATS))})",
        )
    if len(metadata.features) > settings.max_features:
        raise invalid_input("TOO_MANY_FEATURES", f"at most {settings.max_features} features")
    names = [spec.name for spec in metadata.features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise invalid_input("DUPLICATE_FEATURES", f"features named twice: {', '.join(duplicates)}")
    if metadata.task == "classification":
        classes = metadata.classes or []
        if len(classes) < 2:
            raise invalid_input("CLASSES_REQUIRED", "a classification model needs 2+ classes")
        if len(classes) > settings.max_classes:
            raise invalid_input("TOO_MANY_CLASSES", f"at most {settings.max_classes} classes")
        if len(set(classes)) != len(classes):
            raise invalid_input("DUPLICATE_CLASSES", "each class must be listed once")
    elif metadata.classes:
        raise invalid_input("UNEXPECTED_CLASSES", "a regression model has no classes")


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise artifact_too_large(limit)
    if not buffer:
        raise invalid_input("INVALID_MODEL", "invalid model artifact: the artifact is empty")
    return bytes(buffer)


async def _store(ctx: InferenceContext, key: str, data: bytes) -> None:
    staging = ctx.settings.service_dir / "incoming" / f"{uuid.uuid4().hex}.part"

    def write() -> None:
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.write_bytes(data)

    try:
        await asyncio.to_thread(write)
        await ctx.store.put(key, staging)
    finally:
        await asyncio.to_thread(staging.unlink, missing_ok=True)


async def _record_version(
    ctx: InferenceContext,
    owner_id: str,
    metadata: ModelVersionRegister,
    key: str,
    sha256: str,
    size: int,
) -> ModelVersionRow:
    # The owner's counter first: their registrations take their turns. Should two still race
    # for one version number (or one new model), the loser fails on a unique key and retries.
    for attempt in range(1, _REGISTER_ATTEMPTS + 1):
        try:
            async with (
                ctx.db.transaction() as session,
                change_writer(session, FEED, owner_id) as changes,
            ):
                return await _insert_version(
                    ModelRepository(session), changes, owner_id, metadata, key, sha256, size
                )
        except (IntegrityError, OperationalError):
            if attempt == _REGISTER_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def _insert_version(
    repo: ModelRepository,
    changes: ChangeWriter,
    owner_id: str,
    metadata: ModelVersionRegister,
    key: str,
    sha256: str,
    size: int,
) -> ModelVersionRow:
    now = utc_now()
    features = [spec.model_dump() for spec in metadata.features]
    model = await repo.get_model_by_name_for_update(owner_id, metadata.name)
    if model is None:
        model = ModelRow(
            id=uuid.uuid4(),
            owner_id=owner_id,
            name=metadata.name,
            task=metadata.task,
            latest_version=1,
            features=features,
            created_at=now,
            updated_at=now,
        )
        repo.add(model)
    elif model.task != metadata.task:
        raise invalid_input(
            "MODEL_TASK_MISMATCH",
            f"model {metadata.name!r} is a {model.task} model, not {metadata.task}",
        )
    else:
        model.latest_version += 1
        model.features = features
        model.updated_at = now
    row = ModelVersionRow(
        model_id=model.id,
        version=model.latest_version,
        task=metadata.task,
        format=metadata.format,
        features=features,
        classes=metadata.classes,
        metrics=metadata.metrics,
        training_job_id=metadata.training_job_id,
        dataset_id=metadata.dataset_id,
        dataset_version=metadata.dataset_version,
        library_versions=metadata.library_versions,
        seed=metadata.seed,
        validation_split=metadata.validation_split,
        artifact_key=key,
        artifact_sha256=sha256,
        artifact_size=size,
        created_at=now,
    )
    # Flushed one by one: rows without ORM relationships are not ordered by their foreign keys.
    await repo.flush()
    repo.add(row)
    await repo.flush()
    await record_version(changes, to_model_version(row))
    if row.version == 1:
        repo.add(ModelAliasRow(model_id=model.id, alias=PRODUCTION_ALIAS, version=1))
        await repo.flush()
        await record_alias(changes, model.id, PRODUCTION_ALIAS, 1)
    aliases = await repo.aliases([model.id])
    await record_model(changes, to_model(model, aliases[model.id]))
    return row


async def list_models(
    ctx: InferenceContext, owner_id: str, cursor: str | None, limit: int | None
) -> JsonPage:
    """The owner's models, newest first, one page at a time (the `Page[Model]` contract)."""
    page_size = clamp_limit(limit)
    statement, params = MODEL_LIST.bind(cursor_position(cursor), page_size, owner_id=owner_id)
    rows = await ctx.db.fetch_all(statement, params)
    await VERSIONS.answer(ctx.db, owner_id, rows)
    page, next_cursor = split_page(rows, page_size, lambda row: (row.created_at, row.id))
    return {"items": await _with_aliases(ctx, page), "next_cursor": next_cursor}


async def read_models(
    ctx: InferenceContext, owner_id: str, ids: list[uuid.UUID]
) -> dict[str, list[dict[str, Any]]]:
    """Those of these models that are the owner's, with their aliases (`Batch[Model]`)."""
    rows = await ctx.db.fetch_all(MODEL_BATCH, {"owner_id": owner_id, "ids": list(set(ids))})
    await VERSIONS.answer(ctx.db, owner_id, rows)
    return {"items": await _with_aliases(ctx, rows)}


async def _with_aliases(ctx: InferenceContext, rows: Sequence[Any]) -> list[dict[str, Any]]:
    items = {row.id: data for row, data in zip(rows, rows_data(rows), strict=True)}
    for data in items.values():
        data["aliases"] = {}
    if items:
        for alias in await ctx.db.fetch_all(ALIASES_OF, {"model_ids": list(items)}):
            items[alias.model_id]["aliases"][alias.alias] = alias.version
    return list(items.values())


async def read_versions(
    ctx: InferenceContext, owner_id: str, keys: list[ModelVersionKey]
) -> Batch[ModelVersion]:
    """Those of these versions that belong to the owner's models."""
    pairs = list({(key.model_id, key.version) for key in keys})
    async with ctx.db.session() as session:
        rows = await ModelRepository(session).get_versions(owner_id, pairs)
    return Batch[ModelVersion](items=[to_model_version(row) for row in rows])


async def get_model(ctx: InferenceContext, owner_id: str, model_id: uuid.UUID) -> Model:
    """One of the owner's models with its aliases."""
    async with ctx.db.session() as session:
        repo = ModelRepository(session)
        row = await repo.get_model(owner_id, model_id)
        if row is None:
            raise not_found("model", model_id)
        aliases = await repo.aliases([row.id])
    return to_model(row, aliases[row.id])


async def get_version(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, version: int
) -> ModelVersion:
    """One version of one of the owner's models."""
    async with ctx.db.session() as session:
        repo = ModelRepository(session)
        if await repo.get_model(owner_id, model_id) is None:
            raise not_found("model", model_id)
        row = await repo.get_version(model_id, version)
    if row is None:
        raise version_not_found(model_id, version)
    return to_model_version(row)


async def list_versions(
    ctx: InferenceContext,
    owner_id: str,
    model_id: uuid.UUID,
    cursor: str | None,
    limit: int | None,
) -> Page[ModelVersion]:
    """The versions of one of the owner's models, newest first, one page at a time."""
    before = _version_cursor(cursor)
    page_size = clamp_limit(limit)
    async with ctx.db.session() as session:
        repo = ModelRepository(session)
        if await repo.get_model(owner_id, model_id) is None:
            raise not_found("model", model_id)
        rows = await repo.list_versions(model_id, page_size, before)
    page = list(rows[:page_size])
    more = len(rows) > page_size and page
    return Page[ModelVersion](
        items=[to_model_version(row) for row in page],
        next_cursor=encode_cursor({"v": page[-1].version}) if more else None,
    )


def _version_cursor(cursor: str | None) -> int | None:
    return cursor_number(cursor, "v", minimum=1)


async def set_alias(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, alias: str, version: int
) -> Model:
    """Point `alias` at `version` (promote or roll back); the model with its aliases."""
    for attempt in range(1, _REGISTER_ATTEMPTS + 1):
        try:
            async with (
                ctx.db.transaction() as session,
                change_writer(session, FEED, owner_id) as changes,
            ):
                repo = ModelRepository(session)
                model = await _owned_model(repo, owner_id, model_id)
                if await repo.get_version(model_id, version) is None:
                    raise version_not_found(model_id, version)
                row = await repo.get_alias(model_id, alias)
                previous = None if row is None else row.version
                if row is None:
                    repo.add(ModelAliasRow(model_id=model_id, alias=alias, version=version))
                else:
                    row.version = version
                model.updated_at = utc_now()
                await repo.flush()
                aliases = await repo.aliases([model_id])
                await record_alias(changes, model_id, alias, version)
                await record_model(changes, to_model(model, aliases[model_id]))
            # Committed: requests from now on must resolve the alias to the new version.
            ctx.targets.invalidate(model_id)
            _log.info(
                "model_alias_moved",
                model_id=str(model_id),
                alias=alias,
                previous_version=previous,
                version=version,
            )
            return to_model(model, aliases[model_id])
        except IntegrityError:
            # Two first-time moves of one alias raced; the loser now updates the winner's row.
            if attempt == _REGISTER_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def delete_alias(
    ctx: InferenceContext, owner_id: str, model_id: uuid.UUID, alias: str
) -> None:
    """Remove an alias; requests naming it then answer 404 (no alias: production, else latest)."""
    async with ctx.db.transaction() as session, change_writer(session, FEED, owner_id) as changes:
        repo = ModelRepository(session)
        model = await _owned_model(repo, owner_id, model_id)
        row = await repo.get_alias(model_id, alias)
        if row is None:
            raise alias_not_found(model_id, alias)
        await repo.delete_alias(row)
        model.updated_at = utc_now()
        await repo.flush()
        aliases = await repo.aliases([model_id])
        await record_alias(changes, model_id, alias, row.version, "delete")
        await record_model(changes, to_model(model, aliases[model_id]))
    ctx.targets.invalidate(model_id)


async def _owned_model(repo: ModelRepository, owner_id: str, model_id: uuid.UUID) -> ModelRow:
    model = await repo.get_model(owner_id, model_id)
    if model is None:
        raise not_found("model", model_id)
    return model


def alias_not_found(model_id: uuid.UUID, alias: str) -> ApiError:
    """404 for an alias the model does not have."""
    return ApiError(404, "MODEL_ALIAS_NOT_FOUND", f"model {model_id} has no alias {alias!r}")


def version_not_found(model_id: uuid.UUID, version: int) -> ApiError:
    """404 for a version the model does not have."""
    return ApiError(404, "MODEL_VERSION_NOT_FOUND", f"model {model_id} has no version {version}")


def to_model(row: ModelRow, aliases: dict[str, int]) -> Model:
    """The contract view of a model row."""
    return Model(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        task=row.task,
        latest_version=row.latest_version,
        aliases=aliases,
        features=_specs(row.features),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_model_version(row: ModelVersionRow) -> ModelVersion:
    """The contract view of a version row (every field of the contract is a column of it)."""
    return ModelVersion.model_validate(row, from_attributes=True)


def _specs(raw: Sequence[dict[str, str]]) -> list[FeatureSpec]:
    return [FeatureSpec.model_validate(item) for item in raw]
