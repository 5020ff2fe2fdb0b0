"""POST /api/v1/batch: up to N API requests in one round trip."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bff.batch import SubRequest, dispatch_batch
from bff.dependencies import BffDep
from services.kit.errors import Action, ApiError
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/batch", tags=["batch"])

_HARD_MAX_ITEMS = 100


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    body: Any = None
    headers: dict[str, str] | None = Field(default=None, max_length=20)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[BatchItem] = Field(min_length=1, max_length=_HARD_MAX_ITEMS)
    sequential: bool = False


class BatchAnswer(BaseModel):
    id: str
    status: int
    headers: dict[str, str]
    body: Any = None
    body_encoding: str | None = None


class BatchResponse(BaseModel):
    responses: list[BatchAnswer]


@router.post("", response_model=BatchResponse)
async def batch(body: BatchRequest, request: Request, bff: BffDep) -> BatchResponse:
    """Each item answers its own status, headers and body; concurrent unless `sequential`."""
    settings = bff.settings
    if len(body.requests) > settings.batch_max_requests:
        raise ApiError(
            422,
            "BATCH_TOO_LARGE",
            f"a batch holds at most {settings.batch_max_requests} requests",
            action=Action.FIX_INPUT,
            details={"max_requests": settings.batch_max_requests},
        )
    ids = [item.id for item in body.requests]
    if len(set(ids)) != len(ids):
        raise ApiError(
            422, "BATCH_DUPLICATE_IDS", "each batch item needs its own id", action=Action.FIX_INPUT
        )
    answers = await dispatch_batch(
        request.app,
        request.scope,
        [SubRequest(i.id, i.method, i.path, i.body, i.headers) for i in body.requests],
        sequential=body.sequential,
        timeout_s=settings.batch_item_timeout_s,
    )
    return BatchResponse(
        responses=[
            BatchAnswer(
                id=a.id,
                status=a.status,
                headers=a.headers,
                body=a.body,
                body_encoding=a.body_encoding,
            )
            for a in answers
        ]
    )
