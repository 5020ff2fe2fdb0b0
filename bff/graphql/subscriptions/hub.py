"""One in-process fan-out of every user's changes to the GraphQL subscriptions open here.

The hub hears what the pokes hear: each service's committed versions (a `KnownVersions`
listener) and the BFF's own bus (sessions). Each open subscription has a mailbox that keeps,
per service, the newest version heard for its user only, so a slow reader never queues a
backlog and one user never sees another's events. A change to a user's sessions checks the
token of each of that user's subscriptions again: a revoked session (or an expired token)
ends the stream with its auth error. A user may hold `per_user` subscriptions in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

from bff.known_versions import ChangeListener
from bff.sync.entities import BFF as BFF_SOURCE
from services.kit.background import BackgroundTasks
from services.kit.errors import ApiError
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
T = TypeVar("T")

# token -> the user it is good for now, or raises the auth error (AuthService.authenticate)
CheckToken = Callable[[str], Awaitable[object]]


def too_many_subscriptions(limit: int, scope: str) -> ApiError:
    """429 TOO_MANY_SUBSCRIPTIONS: this connection or user holds `limit` already."""
    return ApiError(
        429,
        "TOO_MANY_SUBSCRIPTIONS",
        f"at most {limit} subscriptions per {scope}",
        user_message="Too many live updates are open. Close some and try again.",
        retry_allowed=False,
        details={"limit": limit, "scope": scope},
    )


class Mailbox:
    """What one subscription has not read yet: the newest version per service, or the error
    that ends it."""

    def __init__(self, user_id: str, token: str) -> None:
        self.user_id = user_id
        self.token = token
        self._pending: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._ended: ApiError | None = None

    def offer(self, service: str, version: int) -> None:
        if version > self._pending.get(service, -1):
            self._pending[service] = version
        self._wake.set()

    def end(self, error: ApiError) -> None:
        self._ended = error
        self._wake.set()

    async def changes(self) -> dict[str, int]:
        """Wait for the next changes (service -> newest version); raises the ending error."""
        while True:
            if self._ended is not None:
                raise self._ended
            if self._pending:
                pending, self._pending = self._pending, {}
                self._wake.clear()
                return pending
            self._wake.clear()
            await self._wake.wait()

    async def until_ended(self) -> ApiError:
        while self._ended is None:
            self._wake.clear()
            await self._wake.wait()
        return self._ended


class SubscriptionHub:
    """Fans each user's change events out to that user's open subscriptions."""

    def __init__(self, check_token: CheckToken, per_user: int) -> None:
        self._check_token = check_token
        self._per_user = per_user
        self._boxes: dict[str, set[Mailbox]] = {}
        self._tasks = BackgroundTasks()

    def note(self, service: str, user_id: str, version: int, origin: str | None) -> None:
        """A `ChangeListener`: a change of `user_id` committed at `service`."""
        boxes = self._boxes.get(user_id)
        if not boxes:
            return
        for box in boxes:
            box.offer(service, version)
        if service == BFF_SOURCE:  # the user's sessions changed: is each stream's still live?
            self._tasks.spawn(self._check_sessions(list(boxes)))

    def open_count(self, user_id: str) -> int:
        return len(self._boxes.get(user_id, ()))

    @contextlib.contextmanager
    def listening(self, user_id: str, token: str) -> Iterator[Mailbox]:
        """A mailbox for one subscription of `user_id` while the block runs; 429
        TOO_MANY_SUBSCRIPTIONS past the per-user limit."""
        boxes = self._boxes.setdefault(user_id, set())
        if len(boxes) >= self._per_user:
            raise too_many_subscriptions(self._per_user, "user")
        box = Mailbox(user_id, token)
        boxes.add(box)
        try:
            yield box
        finally:
            boxes.discard(box)
            if not boxes:
                self._boxes.pop(user_id, None)

    async def _check_sessions(self, boxes: list[Mailbox]) -> None:
        for box in boxes:
            try:
                await self._check_token(box.token)
            except ApiError as exc:
                box.end(exc)
            except Exception as exc:  # the database blinked: keep the stream, check next time
                _log.warning("subscription_session_check_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        """Cancel the session checks still pending (at shutdown)."""
        await self._tasks.aclose()


async def until_ended(box: Mailbox, source: AsyncIterator[T]) -> AsyncIterator[T]:
    """`source`'s items until it ends, or until the mailbox ends (raising its error)."""
    ended = asyncio.ensure_future(box.until_ended())
    try:
        while True:
            item = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({item, ended}, return_when=asyncio.FIRST_COMPLETED)
            if item not in done:
                item.cancel()
                with contextlib.suppress(BaseException):
                    await item
                raise ended.result()
            try:
                value = item.result()
            except StopAsyncIteration:
                return
            yield value
    finally:
        ended.cancel()
        with contextlib.suppress(BaseException):
            await ended


def fan_out(*listeners: ChangeListener) -> ChangeListener:
    """One listener that tells each of `listeners`, in order."""

    def note(service: str, user_id: str, version: int, origin: str | None) -> None:
        for listener in listeners:
            listener(service, user_id, version, origin)

    return note
