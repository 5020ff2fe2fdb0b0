"""FCM HTTP v1 sender: OAuth2 service-account token exchange, then messages:send."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import httpx
import jwt
import orjson

from services.notifications.credentials import ServiceAccount
from services.notifications.payloads import fcm_message
from services.notifications.provider_http2 import (
    ProviderHttp2Client,
    ProviderResponse,
    ProviderUnreachable,
)
from services.notifications.push_types import (
    Outcome,
    PerNotification,
    PushContent,
    PushMessage,
    PushResult,
    parse_retry_after,
)
from services.notifications.settings import NotificationsSettings

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_REFRESH_MARGIN_S = 300  # renew the access token five minutes before it expires
# Stands for the token while a body is built once per notification (random: no content
# holds it; one that did would be built per push instead).
_TOKEN_MARK = f"tern-token-{secrets.token_hex(16)}"
_ENCODED_MARK = orjson.dumps(_TOKEN_MARK)


class FcmSender:
    """Sends to Android devices through FCM HTTP v1."""

    platform = "android"

    def __init__(
        self,
        settings: NotificationsSettings,
        account: ServiceAccount,
        http: ProviderHttp2Client | None = None,
    ) -> None:
        self._account = account
        self._token_uri = settings.fcm_token_uri
        self._send_path = f"/v1/projects/{settings.fcm_project_id}/messages:send"
        # Sends: many small POSTs over HTTP/2. The token exchange: one form POST an hour.
        self._http = http or ProviderHttp2Client(
            settings.fcm_base_url,
            timeout_s=settings.push_timeout_s,
            connections=settings.provider_connections,
        )
        self._oauth = httpx.AsyncClient(timeout=httpx.Timeout(settings.push_timeout_s))
        self._access_token: str | None = None
        self._access_token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._headers: tuple[str, dict[str, str]] | None = None  # (access token, headers)
        # The body before the token and after it: the same for every device of a notification.
        self._bodies = PerNotification(_body_around_token)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._oauth.aclose()

    async def warm_up(self) -> None:
        """Exchange for an access token before the first push needs one (signing the
        assertion and the round trip take ~100 ms); a failure is retried by that push."""
        with contextlib.suppress(Exception):  # whatever it was, the push meets it again
            await self._get_access_token()

    async def send(self, message: PushMessage) -> PushResult:
        """Send one message; never raises for provider or network trouble."""
        try:
            access_token = await self._get_access_token()
        except _TokenExchangeFailed as exc:
            return PushResult(Outcome.RETRY, exc.reason)
        try:
            response = await self._http.post(
                self._send_path, self._headers_for(access_token), self._body(message)
            )
        except ProviderUnreachable as exc:
            return PushResult(Outcome.RETRY, exc.reason)
        if response.status == 401:
            self._access_token = None  # revoked or expired early: exchange again next time
        return classify_fcm_response(response)

    def _headers_for(self, access_token: str) -> dict[str, str]:
        if self._headers is None or self._headers[0] != access_token:
            authorization = f"Bearer {access_token}"
            headers = {"authorization": authorization, "content-type": "application/json"}
            self._headers = (access_token, headers)
        return self._headers[1]

    def _body(self, message: PushMessage) -> bytes:
        """The messages:send body: built once per notification, only the token differs."""
        around = self._bodies(message.content)
        if around is None:
            return orjson.dumps({"message": fcm_message(message.content, message.token)})
        return around[0] + orjson.dumps(message.token) + around[1]

    async def _get_access_token(self) -> str:
        if self._access_token and time.monotonic() < self._access_token_expires:
            return self._access_token  # the common case: no lock to take
        async with self._token_lock:
            if self._access_token and time.monotonic() < self._access_token_expires:
                return self._access_token
            token, expires_in = await self._exchange()
            self._access_token = token
            self._access_token_expires = time.monotonic() + max(0, expires_in - _REFRESH_MARGIN_S)
            return token

    async def _exchange(self) -> tuple[str, int]:
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self._account.client_email,
                "scope": FCM_SCOPE,
                "aud": self._token_uri,
                "iat": now,
                "exp": now + 3600,
            },
            self._account.private_key,
            algorithm="RS256",
            headers={"kid": self._account.private_key_id} if self._account.private_key_id else None,
        )
        try:
            response = await self._oauth.post(
                self._token_uri, data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
            )
        except httpx.TransportError as exc:
            raise _TokenExchangeFailed(f"OAUTH_{type(exc).__name__.upper()}") from exc
        if response.status_code != 200:
            raise _TokenExchangeFailed(f"OAUTH_HTTP_{response.status_code}")
        try:
            answer = response.json()
            return str(answer["access_token"]), int(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise _TokenExchangeFailed("OAUTH_BAD_RESPONSE") from exc


class _TokenExchangeFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def classify_fcm_response(response: ProviderResponse) -> PushResult:
    """Map an FCM HTTP v1 answer to what the dispatcher does next."""
    if response.status == 200:
        return PushResult(Outcome.SENT, "OK", provider_message_id=response.json().get("name"))
    error = response.json().get("error") or {}
    details = error.get("details") or []
    code = next(
        (d.get("errorCode") for d in details if d.get("@type") == _FCM_ERROR_TYPE),
        None,
    ) or str(error.get("status") or f"HTTP_{response.status}")
    if code == "UNREGISTERED":
        return PushResult(Outcome.INVALID_TOKEN, code)
    if code == "INVALID_ARGUMENT" and _names_token_field(details):
        return PushResult(Outcome.INVALID_TOKEN, code)
    if response.status in _RETRYABLE_STATUS or response.status == 401:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return PushResult(Outcome.RETRY, code, retry_after_s=retry_after)
    return PushResult(Outcome.FAILED, code)


def _names_token_field(details: list[dict[str, Any]]) -> bool:
    # INVALID_ARGUMENT is also what a bad payload gets; only a violation on
    # message.token says the token itself is bad.
    for detail in details:
        if detail.get("@type") != _BAD_REQUEST_TYPE:
            continue
        for violation in detail.get("fieldViolations") or []:
            if violation.get("field") == "message.token":
                return True
    return False


def _body_around_token(content: PushContent) -> tuple[bytes, bytes] | None:
    """`content`'s messages:send body split where the token goes; None when the split is not
    clean (a content that holds the mark itself), and the body is built whole per push."""
    parts = orjson.dumps({"message": fcm_message(content, _TOKEN_MARK)}).split(_ENCODED_MARK)
    return (parts[0], parts[1]) if len(parts) == 2 else None
