"""The Query root: the viewer (and, from it, everything of theirs), and Relay's `node(id:)`."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from bff.graphql.context import Context
from bff.graphql.types.dataset import load_dataset
from bff.graphql.types.dataset_version import load_dataset_version
from bff.graphql.types.described import described
from bff.graphql.types.model import load_model
from bff.graphql.types.model_version import load_model_version
from bff.graphql.types.node import GlobalId, Node, from_global_id, invalid_id
from bff.graphql.types.training_job import load_training_job
from bff.graphql.types.viewer import Viewer
from services.kit.errors import Action, ApiError


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        """The signed-in user; an error with code AUTH_REQUIRED (etc.) when there is none."""
        user = info.context.require_user()
        return Viewer.from_user(await info.context.auth.user(user.user_id))

    @described(
        "The object of a global id (any `id` this API answers): one of the "
        "viewer's; null with an error (code INVALID_ID, or e.g. DATASET_NOT_FOUND) otherwise."
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        user = info.context.require_user()
        named = from_global_id(id)
        if named.type_name == "Viewer":
            if _uuid(named, id) != str(user.user_id):
                raise ApiError(404, "NOT_FOUND", "that user is not the viewer")
            return Viewer.from_user(await info.context.auth.user(user.user_id))
        if named.type_name == "Dataset":
            return await load_dataset(info, _uuid(named, id))
        if named.type_name == "Model":
            return await load_model(info, _uuid(named, id))
        if named.type_name == "TrainingJob":
            return await load_training_job(info, _uuid(named, id))
        if named.type_name == "DatasetVersion":
            dataset_id, version = _versioned(named, id)
            return await load_dataset_version(info, dataset_id, version)
        if named.type_name == "ModelVersion":
            model_id, version = _versioned(named, id)
            return await load_model_version(info, model_id, version)
        raise ApiError(
            422,
            "NODE_NOT_FETCHABLE",
            f"a {named.type_name} is not fetched by id: read it from its list",
            action=Action.FIX_INPUT,
        )


def _uuid(named: GlobalId, value: str) -> str:
    # The services key their rows by uuid: anything else is no id of ours (and would fail a
    # whole batch of the loader it went to).
    try:
        return str(uuid.UUID(named.raw_id))
    except ValueError as exc:
        raise invalid_id(value) from exc


def _versioned(named: GlobalId, value: str) -> tuple[str, int]:
    raw_id, _, number = named.raw_id.rpartition(":")
    if not number.isdigit() or not 1 <= int(number) < 2**63:
        raise invalid_id(value)
    return _uuid(GlobalId(named.type_name, raw_id), value), int(number)
