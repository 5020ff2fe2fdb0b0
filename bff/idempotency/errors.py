"""What the API answers about an Idempotency-Key, in the mobile error format."""

from __future__ import annotations

from services.kit.errors import Action, ApiError


def invalid_key(max_length: int) -> ApiError:
    """422: the header's value cannot be a key."""
    return ApiError(
        422,
        "INVALID_IDEMPOTENCY_KEY",
        f"Idempotency-Key must be 1 to {max_length} printable ASCII characters",
        action=Action.FIX_INPUT,
    )


def key_reused() -> ApiError:
    """422: the key was used for a different request (method, path, query or body)."""
    return ApiError(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was used for a different request; use a new key",
        action=Action.FIX_INPUT,
    )


def key_in_flight(retry_after_s: float) -> ApiError:
    """409: the first request with this key has not answered yet."""
    return ApiError(
        409,
        "IDEMPOTENCY_KEY_IN_FLIGHT",
        "a request with this Idempotency-Key is still running; retry shortly",
        user_message="Still working on it. Please wait a moment.",
        action=Action.RETRY,
        retry_allowed=True,
        retry_after_s=retry_after_s,
    )
