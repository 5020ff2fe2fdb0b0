"""One in-process fan-out of every user's changes to the GraphQL subscriptions open here.

The hub hears what the pokes hear: each service's committed versions (a `KnownVersions`
listener) and the BFF's own bus (sessions). Each open subscription has a mailbox that keeps,
per service, the newest version heard for its user only, so a slow reader never queues a
backlog and one user never sees another's events. A change to a user's sessions checks the
token of each of that user's subscriptions again: a revoked session (or an expired token)
ends the stream with its auth error.

A user may hold `per_user` subscriptions in all: each one holds a leased slot in the app's
cache (Redis, shared by the replicas, when configured), renewed while it runs, so a replica
that dies frees its users' slots when their leases lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from bff.known_versions import ChangeListener
from bff.sync.entities import BFF as BFF_SOURCE
from services.kit.background import BackgroundTasks
from services.kit.cache import Cache
from services.kit.errors import ApiError
from services.kit.structured_logging import get_logger

_log = get_logger(__name__)
T = TypeVar("T")

# token -> the user it is good for now, or raises the auth error (AuthService.authenticate)
CheckToken = Callable[[str], Awaitable[object]]
# How long a subscription's slot is held without renewal: what a dead replica's slots cost.
SLOT_LEASE_S = 30.0


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

    def __init__(
        self, check_token: CheckToken, per_user: int, slots: Cache, lease_s: float = SLOT_LEASE_S
    ) -> None:
        self._check_token = check_token
        self._per_user = per_user
        self._slots = slots
        self._lease_s = lease_s
        self._boxes: dict[str, set[Mailbox]] = {}
        self._held: dict[str, str] = {}  # slot holder -> user
        self._tasks = BackgroundTasks()
        self._renewing: asyncio.Task[Any] | None = None

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

    @contextlib.asynccontextmanager
    async def listening(self, user_id: str, token: str) -> AsyncIterator[Mailbox]:
        """A mailbox for one subscription of `user_id` while the block runs; 429
        TOO_MANY_SUBSCRIPTIONS past the per-user limit (across replicas)."""
        holder = uuid.uuid4().hex
        if not await self._take_slot(user_id, holder):
            raise too_many_subscriptions(self._per_user, "user")
        self._held[holder] = user_id
        self._start_renewing()
        box = Mailbox(user_id, token)
        self._boxes.setdefault(user_id, set()).add(box)
        try:
            yield box
        finally:
            del self._held[holder]
            # Awaited even when the stream ends by cancellation (a client's `complete`); if
            # that is cut short, the lease lapses.
            await self._free_slot(user_id, holder)
            boxes = self._boxes.get(user_id, set())
            boxes.discard(box)
            if not boxes:
                self._boxes.pop(user_id, None)

    async def _take_slot(self, user_id: str, holder: str) -> bool:
        try:
            return await self._slots.take_slot(
                _slot_key(user_id), holder, self._per_user, self._lease_s
            )
        except Exception as exc:  # the shared store blinked: serve, unlimited, rather than fail
            _log.warning("subscription_slot_unavailable", error=type(exc).__name__)
            return True

    async def _free_slot(self, user_id: str, holder: str) -> None:
        try:
            await self._slots.free_slot(_slot_key(user_id), holder)
        except Exception as exc:  # its lease lapses instead
            _log.warning("subscription_slot_unavailable", error=type(exc).__name__)

    def _start_renewing(self) -> None:
        if self._renewing is None or self._renewing.done():
            self._renewing = self._tasks.spawn(self._renew_slots())

    async def _renew_slots(self) -> None:
        """Renew every slot held here, a third of a lease apart, while any is held."""
        while self._held:
            await asyncio.sleep(self._lease_s / 3)
            for holder, user_id in list(self._held.items()):
                try:
                    await self._slots.renew_slot(_slot_key(user_id), holder, self._lease_s)
                except Exception as exc:  # tried again next round, within the lease
                    _log.warning("subscription_slot_unavailable", error=type(exc).__name__)

    async def _check_sessions(self, boxes: list[Mailbox]) -> None:
        for box in boxes:
            try:
                await self._check_token(box.token)
            except ApiError as exc:
                box.end(exc)
            except Exception as exc:  # the database blinked: keep the stream, check next time
                _log.warning("subscription_session_check_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        """Cancel the session checks and slot renewals still pending (at shutdown)."""
        await self._tasks.aclose()


def _slot_key(user_id: str) -> str:
    return f"graphql-subscriptions:{user_id}"


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
