"""Fake APNs: POST /3/device/{token}, answered the way Apple's HTTP/2 provider API answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
import orjson

from services.fake_push.provider_answer import ProviderAnswer
from services.fake_push.recorder import ProviderRecorder, ReceivedPush
from services.kit.clock import utc_now

PUSH_PATH_PREFIX = "/3/device/"
MAX_PAYLOAD_BYTES = 4096
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "location",
        "liveactivity",
        "pushtotalk",
        "controls",
        "widgets",
    }
)
RECORDED_HEADERS = (
    "apns-topic",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
    "apns-collapse-id",
    "apns-id",
)


class _Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def answer_push(
    recorder: ProviderRecorder,
    token_max_age_s: int,
    device_token: str,
    headers: Mapping[str, str],
    body: bytes,
    http_version: str,
) -> ProviderAnswer:
    """Answer one POST /3/device/{token} the way APNs does (headers: lower-case names)."""
    apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
    try:
        _check_provider_token(headers.get("authorization"), token_max_age_s)
        _check_headers(headers)
        payload = _parse_payload(body)
    except _Refusal as refusal:
        return _error(refusal.status, refusal.reason, apns_id)
    failure = recorder.next_failure("apns")
    if failure is not None:
        extra = {"retry-after": str(failure.retry_after_s)} if failure.retry_after_s else {}
        return _error(failure.status, failure.reason, apns_id, extra)
    if device_token.startswith("invalid-"):
        return _error(410, "Unregistered", apns_id)
    recorder.record(
        ReceivedPush(
            platform="apns",
            token=device_token,
            headers={h: headers[h] for h in RECORDED_HEADERS if h in headers},
            payload=payload,
            http_version=http_version,
            message_id=apns_id,
            received_at=utc_now(),
        )
    )
    # Empty body: Apple answers a 200 as HEADERS+END_STREAM, no DATA frame.
    return ProviderAnswer(200, {"apns-id": apns_id})


# Provider tokens already checked, with their iat: one provider reuses one token for up
# to an hour, so decoding it on every push is wasted work (Apple caches them too).
_CHECKED_TOKENS: dict[str, int] = {}
_MAX_CHECKED_TOKENS = 1024


def _check_provider_token(authorization: str | None, max_age_s: int) -> None:
    if not authorization:
        raise _Refusal(403, "MissingProviderToken")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _Refusal(403, "InvalidProviderToken")
    issued_at = _CHECKED_TOKENS.get(token)
    if issued_at is None:
        issued_at = _decode_provider_token(token)
        if len(_CHECKED_TOKENS) >= _MAX_CHECKED_TOKENS:
            _CHECKED_TOKENS.clear()
        _CHECKED_TOKENS[token] = issued_at
    if time.time() - issued_at > max_age_s:
        raise _Refusal(403, "ExpiredProviderToken")


def _decode_provider_token(token: str) -> int:
    """The iat of a well-formed ES256 provider token; refused otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _Refusal(403, "InvalidProviderToken") from exc
    if header.get("alg") != "ES256" or not header.get("kid") or not claims.get("iss"):
        raise _Refusal(403, "InvalidProviderToken")
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int):
        raise _Refusal(403, "InvalidProviderToken")
    return issued_at


def _check_headers(headers: Mapping[str, str]) -> None:
    if not headers.get("apns-topic"):
        raise _Refusal(400, "MissingTopic")
    push_type = headers.get("apns-push-type", "alert")
    if push_type not in PUSH_TYPES:
        raise _Refusal(400, "InvalidPushType")
    priority = headers.get("apns-priority", "10")
    if priority not in {"1", "5", "10"} or (push_type == "background" and priority == "10"):
        raise _Refusal(400, "BadPriority")
    if not headers.get("apns-expiration", "0").isdigit():
        raise _Refusal(400, "BadExpirationDate")
    if len(headers.get("apns-collapse-id", "").encode()) > 64:
        raise _Refusal(400, "BadCollapseId")
    if "apns-id" in headers:
        try:
            uuid.UUID(headers["apns-id"])
        except ValueError as exc:
            raise _Refusal(400, "BadMessageId") from exc


def _parse_payload(body: bytes) -> dict[str, Any]:
    if not body:
        raise _Refusal(400, "PayloadEmpty")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise _Refusal(413, "PayloadTooLarge")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Refusal(400, "PayloadEmpty") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        raise _Refusal(400, "PayloadEmpty")
    return payload


def _error(
    status: int, reason: str, apns_id: str, headers: dict[str, str] | None = None
) -> ProviderAnswer:
    body: dict[str, Any] = {"reason": reason}
    if status == 410:
        body["timestamp"] = int(time.time() * 1000)
    return ProviderAnswer.json(status, body, {"apns-id": apns_id, **(headers or {})})
