"""POST /api/v1/batch: up to N API requests in one round trip."""

from __future__ import annotations

from fastapi import Request

from bff.batch import BatchRequest, BatchResponse, dispatch_batch
from bff.dependencies import BffDep
from services.kit.errors import Action, ApiError
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/batch", tags=["batch"])


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
        body.requests,
        sequential=body.sequential,
        timeout_s=settings.batch_item_timeout_s,
    )
    return BatchResponse(responses=answers)
