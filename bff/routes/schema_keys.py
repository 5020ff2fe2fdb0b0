"""The key maps of the compact format, for clients to decode compact answers."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from bff.compact.representation import compact_schema_of

router = APIRouter(prefix="/schema", tags=["schema"])


@router.get("/keys")
async def schema_keys(request: Request) -> Response:
    """Every resource's short keys and value types, versioned; compact answers name theirs."""
    document = compact_schema_of(request.scope).document
    return Response(
        orjson.dumps(document),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
