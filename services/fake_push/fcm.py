"""Fake FCM HTTP v1 with Google's OAuth2 token endpoint for service accounts."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from services.fake_push.provider_answer import ProviderAnswer
from services.fake_push.recorder import ProviderRecorder, ReceivedPush
from services.kit.clock import utc_now

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_PAYLOAD_BYTES = 4096
MAX_ASSERTION_LIFETIME_S = 3600
# POST path of messages:send; group 1 is the project id.
SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TTL = re.compile(r"^\d+(\.\d{1,9})?s$")
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM error code -> the google.rpc status name that goes with it.
_RPC_STATUS = {
    "UNREGISTERED": "NOT_FOUND",
    "INVALID_ARGUMENT": "INVALID_ARGUMENT",
    "QUOTA_EXCEEDED": "RESOURCE_EXHAUSTED",
    "UNAVAILABLE": "UNAVAILABLE",
    "INTERNAL": "INTERNAL",
    "SENDER_ID_MISMATCH": "PERMISSION_DENIED",
    "THIRD_PARTY_AUTH_ERROR": "UNAUTHENTICATED",
}


class _FcmRefusal(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def build_fcm_router(recorder: ProviderRecorder) -> APIRouter:
    router = APIRouter(tags=["fcm"])

    @router.post("/token")
    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type")
        problem = _assertion_problem(str(form.get("assertion") or ""))
        if problem:
            return _oauth_error("invalid_grant", problem)
        return JSONResponse(
            {
                "access_token": recorder.issue_access_token(),
                "expires_in": recorder.access_token_ttl_s,
                "token_type": "Bearer",
            }
        )

    return router


def answer_send(
    recorder: ProviderRecorder,
    project_id: str,
    headers: Mapping[str, str],
    body: bytes,
    http_version: str,
) -> ProviderAnswer:
    """Answer one FCM HTTP v1 messages:send the way FCM does (headers: lower-case names)."""
    scheme, _, access_token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not recorder.access_token_valid(access_token):
        return _unauthenticated()
    try:
        message = _parse_message(body)
    except _FcmRefusal as refusal:
        return _fcm_error(refusal.status, refusal.code, refusal.message, field=refusal.field)
    failure = recorder.next_failure("fcm")
    if failure is not None:
        extra = {"retry-after": str(failure.retry_after_s)} if failure.retry_after_s else {}
        return _fcm_error(failure.status, failure.reason, "injected failure", extra, failure.field)
    device_token = str(message["token"])
    if device_token.startswith("invalid-"):
        return _fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
    message_id = f"projects/{project_id}/messages/{uuid.uuid4().int >> 64}"
    recorder.record(
        ReceivedPush(
            platform="fcm",
            token=device_token,
            headers={"project_id": project_id},
            payload=message,
            http_version=http_version,
            message_id=message_id,
            received_at=utc_now(),
        )
    )
    return ProviderAnswer.json(200, {"name": message_id})


def _assertion_problem(assertion: str) -> str | None:
    """Why a service-account assertion is refused, or None when it is acceptable."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "Invalid JWT"
    if header.get("alg") != "RS256":
        return "Invalid JWT: alg must be RS256"
    missing = [c for c in ("iss", "aud", "scope", "iat", "exp") if c not in claims]
    if missing:
        return f"Invalid JWT: missing claims {', '.join(missing)}"
    if FCM_SCOPE not in str(claims["scope"]).split():
        return "Invalid JWT: scope does not include firebase.messaging"
    now = time.time()
    if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME_S or claims["exp"] < now:
        return (
            "Invalid JWT: Token must be a short-lived token (60 minutes) "
            "and in a reasonable timeframe"
        )
    return None


def _parse_message(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from exc
    message = parsed.get("message") if isinstance(parsed, dict) else None
    if not isinstance(message, dict):
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Missing message.", "message")
    if not isinstance(message.get("token"), str) or not message["token"]:
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Invalid registration token", "message.token")
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "data values must be strings", "message.data")
    android = message.get("android", {})
    if android.get("priority", "NORMAL") not in {"NORMAL", "HIGH"}:
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Invalid priority", "message.android.priority")
    if "ttl" in android and not _TTL.match(str(android["ttl"])):
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Invalid ttl", "message.android.ttl")
    sized = {k: v for k, v in message.items() if k != "token"}
    if len(orjson.dumps(sized)) > MAX_PAYLOAD_BYTES:
        raise _FcmRefusal(400, "INVALID_ARGUMENT", "Message is too big", "message")
    return message


def _fcm_error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    field: str | None = None,
) -> ProviderAnswer:
    details: list[dict[str, Any]] = [{"@type": _FCM_ERROR_TYPE, "errorCode": code}]
    if field:
        violation = {"field": field, "description": message}
        details.append({"@type": _BAD_REQUEST_TYPE, "fieldViolations": [violation]})
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _RPC_STATUS.get(code, code),
            "details": details,
        }
    }
    return ProviderAnswer.json(status, body, headers)


def _unauthenticated() -> ProviderAnswer:
    body = {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials. "
            "Expected OAuth 2 access token.",
            "status": "UNAUTHENTICATED",
        }
    }
    return ProviderAnswer.json(401, body, {"www-authenticate": 'Bearer realm="fake"'})


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
