"""APNs sender: HTTP/2 (h2c to the fake, TLS+ALPN to Apple) with an ES256 provider token."""

from __future__ import annotations

import time

import jwt
import orjson

from services.notifications.payloads import apns_headers, apns_payload
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

_INVALID_TOKEN_REASONS = frozenset({"Unregistered", "BadDeviceToken"})
_PROVIDER_TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
_RETRYABLE_STATUS = frozenset({429, 500, 503})


class ApnsSender:
    """Sends to iOS devices through the APNs provider API."""

    platform = "ios"

    def __init__(
        self,
        settings: NotificationsSettings,
        signing_key: str,
        http: ProviderHttp2Client | None = None,
    ) -> None:
        self._signing_key = signing_key
        self._team_id = settings.apns_team_id
        self._key_id = settings.apns_key_id
        self._topic = settings.apns_topic
        self._refresh_s = settings.apns_token_refresh_s
        # HTTP/2 with prior knowledge on http:// (the fake), ALPN h2 on https:// (Apple).
        self._http = http or ProviderHttp2Client(
            settings.apns_base_url,
            timeout_s=settings.push_timeout_s,
            connections=settings.provider_connections,
        )
        self._provider_token: str | None = None
        self._provider_token_at = 0.0
        # The apns-* headers and the body are the same for every device of a notification.
        self._prepared = PerNotification(self._prepare)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def warm_up(self) -> None:
        """Sign the provider token before the first push needs it."""
        self.provider_token()

    def provider_token(self) -> str:
        """The ES256 JWT Apple wants, reused until it is about 50 minutes old."""
        now = time.time()
        if self._provider_token is None or now - self._provider_token_at >= self._refresh_s:
            self._provider_token = jwt.encode(
                {"iss": self._team_id, "iat": int(now)},
                self._signing_key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
            self._provider_token_at = now
        return self._provider_token

    def _prepare(self, content: PushContent) -> tuple[dict[str, str], bytes]:
        """The headers (less authorization and apns-id) and body of `content`'s pushes."""
        headers = {**apns_headers(content, self._topic), "content-type": "application/json"}
        return headers, orjson.dumps(apns_payload(content))

    async def send(self, message: PushMessage) -> PushResult:
        """Send one push; never raises for provider or network trouble."""
        common, body = self._prepared(message.content)
        headers = {
            **common,
            "authorization": f"bearer {self.provider_token()}",
            "apns-id": str(message.delivery_id),
        }
        try:
            response = await self._http.post(f"/3/device/{message.token}", headers, body)
        except ProviderUnreachable as exc:
            return PushResult(Outcome.RETRY, exc.reason)
        result = classify_apns_response(response)
        if result.reason in _PROVIDER_TOKEN_REASONS:
            self._provider_token = None
        return result


def classify_apns_response(response: ProviderResponse) -> PushResult:
    """Map an APNs answer to what the dispatcher does next."""
    if response.status == 200:
        return PushResult(Outcome.SENT, "OK", provider_message_id=response.headers.get("apns-id"))
    reason = str(response.json().get("reason") or f"HTTP_{response.status}")
    if reason in _INVALID_TOKEN_REASONS and response.status in (400, 410):
        return PushResult(Outcome.INVALID_TOKEN, reason)
    if reason in _PROVIDER_TOKEN_REASONS or response.status in _RETRYABLE_STATUS:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return PushResult(Outcome.RETRY, reason, retry_after_s=retry_after)
    return PushResult(Outcome.FAILED, reason)
