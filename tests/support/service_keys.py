"""Service keys for tests that run settings as production does (explicit keys, no seed)."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from services.kit.service_keys import KNOWN_SERVICES, SigningKey, TrustedKey


@cache
def signing_key(service: str) -> SigningKey:
    """A fresh key of `service`, the same one for the whole test run."""
    return SigningKey.from_private_key(Ed25519PrivateKey.generate())


def trusted_keys_setting(owners: tuple[str, ...] = KNOWN_SERVICES) -> str:
    """A trusted-keys setting holding the public key of each of `owners`."""
    return ",".join(TrustedKey.of(o, signing_key(o).public_key()).entry() for o in owners)


def production_keys(service: str) -> dict[str, Any]:
    """The key settings production requires of `service`."""
    return {
        "service_signing_key": SecretStr(signing_key(service).encoded()),
        "service_trusted_keys": trusted_keys_setting(),
    }
