"""Per-install signing keys sealed at rest: they open for their own session only."""

from __future__ import annotations

import uuid

from bff.auth.signing_keys import KEY_BYTES, SigningKeys, encode_key
from services.kit.database import Database

_SECRET = "a-signing-keys-secret-of-32-bytes-or-more"


def _keys(secret: str = _SECRET) -> SigningKeys:
    return SigningKeys(Database.__new__(Database), secret)  # sealing needs no database


def test_a_sealed_key_opens_for_its_session_only() -> None:
    keys = _keys()
    session, other = uuid.uuid4(), uuid.uuid4()
    key = keys.new_key()

    sealed = keys.seal(session, key)

    assert len(key) == KEY_BYTES
    assert key not in sealed
    assert keys.open(session, sealed) == key
    assert keys.open(other, sealed) is None  # a row's key copied onto another session


def test_another_secret_opens_nothing() -> None:
    session = uuid.uuid4()
    sealed = _keys().seal(session, b"k" * KEY_BYTES)

    assert _keys("another-secret-of-thirty-two-bytes-long").open(session, sealed) is None
    assert _keys().open(session, b"short") is None


def test_the_phone_gets_base64url_without_padding() -> None:
    assert encode_key(b"\xff" * KEY_BYTES) == "_" * 42 + "8"
