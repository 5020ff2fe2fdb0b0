"""The bytes each provider receives for a notification, and the size check done before saving."""

from __future__ import annotations

from typing import Any

import orjson

from services.notifications.push_types import PushContent
from services.notifications.tables import BroadcastRow, NotificationRow, PokeRow

# Keys the providers or our own payload already use; callers may not put them in `data`.
RESERVED_DATA_KEYS = frozenset(
    {"aps", "notification_id", "category", "from", "notification", "message_type"}
)
RESERVED_DATA_PREFIXES = ("google.", "gcm.")
# APNs refuses a longer apns-collapse-id (BadCollapseId); the contract counts characters.
MAX_COLLAPSE_KEY_BYTES = 64
# The category of a poke's content; only the dispatcher sees it (its data leaves it out).
POKE_CATEGORY = "poke"


def content_of(row: NotificationRow | BroadcastRow) -> PushContent:
    """What a saved notification or broadcast says to every device it goes to."""
    return PushContent(
        notification_id=row.id,
        kind=row.kind,
        category=row.category,
        title=row.title,
        body=row.body,
        data={str(k): str(v) for k, v in row.data.items()},
        collapse_key=row.collapse_key,
        priority=row.priority,
        ttl_s=row.ttl_s,
        expires_at=row.expires_at,
    )


def poke_content(row: PokeRow) -> PushContent:
    """What a poke says: sync `scope`, nothing of the user's (no text, no ids)."""
    return PushContent(
        notification_id=row.id,
        kind="silent",
        category=POKE_CATEGORY,
        title=None,
        body=None,
        data={"tern": row.scope},
        collapse_key=f"tern-{row.scope}",
        priority="normal",
        ttl_s=int((row.expires_at - row.created_at).total_seconds()),
        expires_at=row.expires_at,
        labelled=False,
    )


def push_data(content: PushContent) -> dict[str, str]:
    """The data both platforms carry: the caller's ids plus the notification id and category
    (a poke's: its scope alone)."""
    if not content.labelled:
        return dict(content.data)
    return {
        **content.data,
        "notification_id": str(content.notification_id),
        "category": content.category,
    }


def collapse_id(content: PushContent) -> str:
    """What a phone collapses copies by: the caller's collapse key, else the notification id.

    Sending is at-least-once (see Dispatcher), so a delivery can reach a phone twice; with
    the same collapse id (APNs apns-collapse-id, FCM android.notification.tag) the second
    copy replaces the first instead of showing twice.
    """
    return content.collapse_key or str(content.notification_id)


def apns_payload(content: PushContent) -> dict[str, Any]:
    """The APNs JSON body: `aps` plus the data as custom top-level keys."""
    aps: dict[str, Any]
    if content.kind == "display":
        alert = {k: v for k, v in (("title", content.title), ("body", content.body)) if v}
        aps = {"alert": alert}
    else:
        # silent and data pushes wake the app in the background, nothing is shown.
        aps = {"content-available": 1}
    return {"aps": aps, **push_data(content)}


def apns_headers(content: PushContent, topic: str) -> dict[str, str]:
    """apns-* request headers; the caller adds authorization and apns-id."""
    background = content.kind != "display"
    return {
        "apns-topic": topic,
        "apns-push-type": "background" if background else "alert",
        # Apple requires priority 5 for background pushes.
        "apns-priority": "10" if content.priority == "high" and not background else "5",
        "apns-expiration": str(int(content.expires_at.timestamp())) if content.ttl_s else "0",
        # Copies with one collapse id show as one notification: a resent copy replaces it.
        "apns-collapse-id": collapse_id(content),
    }


def fcm_message(content: PushContent, token: str) -> dict[str, Any]:
    """The FCM HTTP v1 `message`: data always, `notification` only for display pushes."""
    high = content.priority == "high" and content.kind != "silent"
    android: dict[str, Any] = {"priority": "HIGH" if high else "NORMAL", "ttl": f"{content.ttl_s}s"}
    # Only the caller's key: FCM keeps at most four collapse keys per offline device, so a
    # key per notification would drop older ones. Copies are collapsed by the tag instead.
    if content.collapse_key:
        android["collapse_key"] = content.collapse_key
    message: dict[str, Any] = {"token": token, "data": push_data(content), "android": android}
    if content.kind == "display":
        message["notification"] = {
            k: v for k, v in (("title", content.title), ("body", content.body)) if v
        }
        # A notification with the tag of one still shown replaces it: a resent copy is not
        # a second entry in the drawer. (Data pushes carry data.notification_id to dedupe.)
        android["notification"] = {"tag": collapse_id(content)}
    return message


def payload_sizes(content: PushContent) -> dict[str, int]:
    """Bytes of the APNs body and of the FCM message (without the token) for this content."""
    fcm = fcm_message(content, token="")
    del fcm["token"]
    return {
        "apns": len(orjson.dumps(apns_payload(content))),
        "fcm": len(orjson.dumps(fcm)),
    }
