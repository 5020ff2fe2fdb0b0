"""Per-install request-signing keys: one made for each session at sign-in, answered to the
phone once, and kept sealed (AES-256-GCM) with the session.

The BFF needs each key in the clear to check a signature, so it cannot keep only a hash (as
it does for refresh tokens). Sealed with a secret that lives outside the database, a dump or
backup of the database alone forges nothing; the session id is the associated data, so a
sealed key copied onto another session's row does not open.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass

import cachetools
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bff.auth.repository import AuthRepository
from services.kit.database import Database

KEY_BYTES = 32
_NONCE_BYTES = 12
_INFO = b"tern-bff request signing keys v1"


@dataclass(frozen=True, slots=True)
class SessionSigning:
    """What request signing knows of a session: its key (None for a session opened before
    keys were issued, or one whose key no longer opens) and the platform it signed in on."""

    key: bytes | None
    platform: str | None


def encode_key(key: bytes) -> str:
    """The form the phone gets: base64url without padding (it signs with the decoded bytes)."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


class SigningKeys:
    """Makes, seals and finds the sessions' signing keys. A session's key never changes, so a
    key found is kept (bounded) and read from the database once per replica."""

    def __init__(self, db: Database, secret: str, max_kept: int = 100_000) -> None:
        self._db = db
        sealing_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret.encode()
        )
        self._aead = AESGCM(sealing_key)
        self._kept: cachetools.LRUCache[uuid.UUID, SessionSigning] = cachetools.LRUCache(max_kept)

    @staticmethod
    def new_key() -> bytes:
        return os.urandom(KEY_BYTES)

    def seal(self, session_id: uuid.UUID, key: bytes) -> bytes:
        """nonce || ciphertext+tag, bound to the session."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, session_id.bytes)

    def open(self, session_id: uuid.UUID, sealed: bytes) -> bytes | None:
        """The key, or None when it was sealed for another session or with another secret."""
        try:
            return self._aead.decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], session_id.bytes
            )
        except (InvalidTag, ValueError):
            return None

    async def of_session(self, session_id: uuid.UUID) -> SessionSigning | None:
        """The session's key and platform; None when there is no such session."""
        kept = self._kept.get(session_id)
        if kept is not None:
            return kept
        async with self._db.session() as db:
            session = await AuthRepository(db).session(session_id)
        if session is None:
            return None
        sealed = session.signing_key
        found = SessionSigning(
            key=self.open(session_id, sealed) if sealed is not None else None,
            platform=session.platform,
        )
        self._kept[session_id] = found
        return found
