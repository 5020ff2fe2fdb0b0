"""Sign-up, sign-in, token refresh, sign-out and the signed-in user."""

from __future__ import annotations

import math

from fastapi import APIRouter, Response

from bff.auth.schemas import (
    AttestationChallenge,
    AuthResponse,
    Credentials,
    RefreshRequest,
    UserOut,
)
from bff.dependencies import AuthServiceDep, BffDep, CurrentUser, Mobile
from bff.mobile_headers import MobileHeaders, valid_device_id
from bff.signing.policy import known_platform

router = APIRouter(tags=["auth"])


def _device_id(mobile: MobileHeaders, body_device_id: str | None) -> str | None:
    device_id = mobile.device_id or body_device_id
    return valid_device_id(device_id) if device_id is not None else None


async def _attested(bff: BffDep, body: Credentials, mobile: MobileHeaders) -> None:
    attestation = body.attestation
    await bff.attestation.check(
        mobile.platform,
        attestation.token if attestation else None,
        attestation.challenge if attestation else None,
    )


@router.post("/auth/attestation-challenge", response_model=AttestationChallenge)
async def attestation_challenge(bff: BffDep) -> AttestationChallenge:
    """A one-time challenge to attest the next sign-in with (Play Integrity / App Attest)."""
    challenges = bff.attestation.challenges
    return AttestationChallenge(
        challenge=await challenges.issue(), expires_in=math.floor(challenges.ttl_s)
    )


@router.post("/auth/register", status_code=201, response_model=AuthResponse)
async def register(
    body: Credentials, bff: BffDep, auth: AuthServiceDep, mobile: Mobile
) -> AuthResponse:
    """Create an account and sign in on this device; the answer holds its signing key."""
    await _attested(bff, body, mobile)
    pair = await auth.register(
        body.email,
        body.password,
        _device_id(mobile, body.device_id),
        known_platform(mobile.platform),
    )
    return AuthResponse.from_pair(pair)


@router.post("/auth/login", response_model=AuthResponse)
async def login(
    body: Credentials, bff: BffDep, auth: AuthServiceDep, mobile: Mobile
) -> AuthResponse:
    """Sign in on this device (ends an earlier session of the same device); the answer holds
    the new session's signing key."""
    await _attested(bff, body, mobile)
    pair = await auth.login(
        body.email,
        body.password,
        _device_id(mobile, body.device_id),
        known_platform(mobile.platform),
    )
    return AuthResponse.from_pair(pair)


@router.post("/auth/refresh", response_model=AuthResponse)
async def refresh(body: RefreshRequest, auth: AuthServiceDep, mobile: Mobile) -> AuthResponse:
    """Trade the refresh token for a new pair; each refresh token works once."""
    pair = await auth.refresh(body.refresh_token, _device_id(mobile, None))
    return AuthResponse.from_pair(pair)


@router.post("/auth/logout", status_code=204, response_class=Response)
async def logout(user: CurrentUser, auth: AuthServiceDep) -> Response:
    """End this session."""
    await auth.logout(user.session_id)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser, auth: AuthServiceDep) -> UserOut:
    """The signed-in user."""
    return UserOut.from_user(await auth.user(user.user_id))


@router.post("/auth/logout-all", status_code=204, response_class=Response)
async def logout_all(user: CurrentUser, auth: AuthServiceDep) -> Response:
    """End every session of the user, on every device, this one included."""
    await auth.logout_all(user.user_id)
    return Response(status_code=204)
