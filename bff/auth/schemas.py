"""Request and response bodies of the public auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bff.auth.repository import as_utc
from bff.auth.service import TokenPair
from bff.auth.tables import User

# Hard caps on what is parsed at all; the real password rules come from the settings.
_MAX_EMAIL = 320
_MAX_PASSWORD = 4096
_MAX_ATTESTATION = 16_384


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttestationIn(_Body):
    """The platform's attestation of this sign-in (Play Integrity token, App Attest object)."""

    token: str = Field(min_length=1, max_length=_MAX_ATTESTATION)
    challenge: str = Field(min_length=1, max_length=128)


class Credentials(_Body):
    """POST /auth/register and /auth/login."""

    email: str = Field(min_length=3, max_length=_MAX_EMAIL)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    device_id: str | None = Field(default=None, max_length=128)
    attestation: AttestationIn | None = Field(
        default=None,
        description="required on the platforms the deployment lists "
        "(TERN_BFF_ATTESTATION_REQUIRED); the challenge comes from "
        "POST /auth/attestation-challenge",
    )


class AttestationChallenge(_Body):
    """A one-time challenge for the platform to attest a sign-in with."""

    challenge: str
    expires_in: int


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=256)


class UserOut(_Body):
    id: UUID
    email: str
    created_at: datetime

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, created_at=as_utc(user.created_at))


class AuthResponse(_Body):
    """A fresh token pair and who it is for."""

    user: UserOut
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    signing_key: str | None = Field(
        default=None,
        description="this install's request-signing key (base64url, 32 bytes), answered once "
        "at sign-in and kept in the device's keystore; null on refresh (the key stays)",
    )

    @classmethod
    def from_pair(cls, pair: TokenPair) -> AuthResponse:
        return cls(
            user=UserOut.from_user(pair.user),
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            signing_key=pair.signing_key,
        )
