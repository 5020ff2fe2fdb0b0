"""The compression dictionaries (RFC 9842) that the BFF's small answers are dcz-coded with."""

from __future__ import annotations

import functools

from fastapi import Request, Response

from bff.compact.compression import Compressors, choose_coding
from bff.compact.compression_dictionaries import (
    IMMUTABLE,
    CompressionDictionary,
    committed_dictionaries,
)
from bff.compact.representation import etag_matches
from services.kit.errors import not_found
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/dictionaries", tags=["compression"])

DICTIONARY_MEDIA_TYPE = "application/octet-stream"
# Fetched once per version by each phone: worth the best brotli (done once per process).
_DICTIONARY_CODINGS = Compressors(brotli_quality=11, zstd_level=19, gzip_level=9)


@router.get(
    "/{family}/{dictionary_id}",
    response_class=Response,
    responses={200: {"content": {DICTIONARY_MEDIA_TYPE: {}}}, 404: {}},
)
async def get_dictionary(family: str, dictionary_id: str, request: Request) -> Response:
    """A family's compression dictionary, for a client to keep forever and offer back in
    `Available-Dictionary` (its URL comes in the `Link` header of that family's answers).
    Holds no user data: it is trained on made-up answers."""
    dictionary = committed_dictionaries().get(family, dictionary_id)
    if dictionary is None:  # an unknown family, or a version this BFF no longer serves
        raise not_found("dictionary", f"{family}/{dictionary_id}")
    etag = f'"{dictionary.sha256.hex()}"'
    headers = {
        "Use-As-Dictionary": dictionary.use_as_dictionary,
        "Cache-Control": IMMUTABLE,
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    coding = choose_coding(request.headers.get("accept-encoding"))
    if coding is not None:
        headers["Content-Encoding"] = coding
    body = _encoded(dictionary, coding)
    return Response(body, media_type=DICTIONARY_MEDIA_TYPE, headers=headers)


@functools.cache
def _encoded(dictionary: CompressionDictionary, coding: str | None) -> bytes:
    if coding is None:
        return dictionary.content
    return _DICTIONARY_CODINGS.compressor(coding)(dictionary.content)
