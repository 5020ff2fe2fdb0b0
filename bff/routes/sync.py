"""POST /api/v1/sync (delta sync across every entity) and POST /api/v1/sync/push (the
offline queue); the rules are in bff/sync/."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bff.auth.tables import FEED as SESSIONS_FEED
from bff.compact.representation import Represented
from bff.context import BffContext
from bff.dependencies import BffDep, CurrentUser
from bff.mobile_headers import current_mobile_headers, valid_device_id
from bff.sync.cursor import SyncCursor
from bff.sync.entities import BFF
from bff.sync.pull import FeedReader, pull, remote_reader
from bff.sync.push import Mutation, MutationResult, PushContext, push
from bff.sync.schemas import SyncAnswer, SyncRequest
from proto.common import FeedPage
from services.kit.change_feed import read_feed
from services.kit.errors import invalid_input
from services.kit.routing import PrefixedRouter

router = PrefixedRouter(prefix="/sync", tags=["sync"])


@router.post("", response_model=SyncAnswer)
async def sync(request: SyncRequest, user: CurrentUser, bff: BffDep) -> Represented:
    """The changes since `cursor` (everything on a first sync), a page at a time: per
    entity kind its upserts (with their versions) and deletions, and the next cursor."""
    cursor = SyncCursor.decode(request.cursor)
    answer = await pull(_readers(bff), str(user.id), cursor, request.entities, request.limit)
    return Represented(answer, headers={"Cache-Control": "no-store"}, read=True)


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mutations: list[Mutation] = Field(min_length=1)


class PushAnswer(BaseModel):
    results: list[MutationResult]


@router.post("/push", response_model=PushAnswer)
async def sync_push(request: PushRequest, user: CurrentUser, bff: BffDep) -> PushAnswer:
    """Apply the phone's queued mutations in order, each once per (device, mutation_id):
    per mutation applied, duplicate, conflict (with the server's state) or rejected. The
    phone names itself with X-Device-ID."""
    limit = bff.settings.sync_push_max_items
    if len(request.mutations) > limit:
        raise invalid_input(
            "TOO_MANY_MUTATIONS",
            f"push at most {limit} mutations at once; send the rest in the next call",
            details={"limit": limit},
        )
    device_id = current_mobile_headers().device_id
    if device_id is None:
        raise invalid_input("DEVICE_ID_REQUIRED", "the offline queue needs an X-Device-ID header")
    context = PushContext(
        clients=bff.clients,
        known=bff.known,
        store=bff.idempotency,
        user_id=str(user.id),
        device_id=valid_device_id(device_id),
    )
    return PushAnswer(results=await push(context, request.mutations))


def _readers(bff: BffContext) -> dict[str, FeedReader]:
    timeout_s = bff.settings.sync_source_timeout_s
    readers = {
        name: remote_reader(client, timeout_s) for name, client in bff.runtime.clients.items()
    }

    async def sessions(
        user_id: str, since: int, limit: int, kinds: list[str], snapshot: bool
    ) -> FeedPage:
        return await read_feed(
            bff.runtime.db, SESSIONS_FEED, user_id, since, limit, kinds=kinds, snapshot=snapshot
        )

    readers[BFF] = sessions
    return readers
