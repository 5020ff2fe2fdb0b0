"""Sign-up, sign-in, token refresh, sign-out and the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bff.auth.schemas import AuthResponse, Credentials, RefreshRequest, UserOut
from bff.dependencies import AuthServiceDep, CurrentUser, Mobile
from bff.mobile_headers import MobileHeaders, valid_device_id

router = APIRouter(tags=["auth"])


def _device_id(mobile: MobileHeaders, body_device_id: str | None) -> str | None:
    device_id = mobile.device_id or body_device_id
    return valid_device_id(device_id) if device_id is not None else None


@router.post("/auth/register", status_code=201, response_model=AuthResponse)
async def register(body: Credentials, auth: AuthServiceDep, mobile: Mobile) -> AuthResponse:
    """Create an account and sign in on this device."""
    pair = await auth.register(body.email, body.password, _device_id(mobile, body.device_id))
    return AuthResponse.from_pair(pair)


@router.post("/auth/login", response_model=AuthResponse)
async def login(body: Credentials, auth: AuthServiceDep, mobile: Mobile) -> AuthResponse:
    """Sign in on this device (ends an earlier session of the same device)."""
    pair = await auth.login(body.email, body.password, _device_id(mobile, body.device_id))
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
