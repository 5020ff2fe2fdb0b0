"""The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): its name and value."""

from __future__ import annotations

import re

from bff.idempotency.errors import invalid_key
from bff.idempotency.store import MAX_KEY_LENGTH

KEY_HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
"""On an answer that was kept from an earlier request with the same key."""

# The draft's form is a Structured Field string ("...", with \" and \\ escaped); most clients
# send the bare key. Both are taken; the key is what is between the quotes.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_ESCAPE = re.compile(r'\\(["\\])')
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def parse_key(value: str) -> str:
    """The key an Idempotency-Key header names: 1-255 printable ASCII characters, else 422."""
    quoted = _SF_STRING.fullmatch(value)
    key = _SF_ESCAPE.sub(r"\1", quoted.group(1)) if quoted else value
    if not key or len(key) > MAX_KEY_LENGTH or not _PRINTABLE.fullmatch(key):
        raise invalid_key(MAX_KEY_LENGTH)
    return key
