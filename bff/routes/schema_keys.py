"""The key maps of the compact format, for clients to decode compact answers."""

from __future__ import annotations

import orjson
from fastapi import Request, Response

from bff.compact.representation import compact_schema_of
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/schema", tags=["schema"])


@router.get("/keys")
async def schema_keys(request: Request) -> Response:
    """Every resource's short keys and value types, versioned; compact answers name theirs."""
    document = compact_schema_of(request.scope).document
    return Response(
        orjson.dumps(document),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
