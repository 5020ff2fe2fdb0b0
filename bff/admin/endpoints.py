"""The admin API under /admin/v1: app config, GraphQL safelists, broadcasts, users' devices
and sessions, the training queue, dead pushes, admin tokens and the audit log. Thin: each route
checks its scope, calls the domain, and records every write in the audit log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Response

from bff.admin import config_changes, scopes
from bff.admin.dependencies import AdminDep, admin_principal, requires
from bff.admin.schemas import (
    AuditOut,
    BroadcastIn,
    BroadcastOut,
    ConfigOut,
    FlagOut,
    FlagPatch,
    MaintenanceIn,
    MaintenanceState,
    ReleaseIn,
    ReleaseOut,
    Revoked,
    SafelistDetail,
    SafelistDocumentOut,
    SafelistIn,
    SafelistOut,
    SafelistUploaded,
    TokenCreate,
    TokenMinted,
    TokenOut,
    UserAccount,
    UserSessionOut,
)
from bff.admin.tables import AdminToken, AuditEntry
from bff.admin.tokens import AdminPrincipal, as_utc
from bff.admin.users import find_user
from bff.app_config.service import Flag, Snapshot
from bff.dependencies import BffDep
from bff.graphql.safelists.tables import GraphqlSafelist
from bff.routes.pagination import PageParams
from proto.common import Page
from proto.notifications import Broadcast, DeadDelivery, DeadStatus, Device
from proto.training import JobQueue, QueueStatus
from services.kit.errors import not_found
from services.kit.paging import clamp_limit
from services.kit.routing import PrefixedRouter

ADMIN_PREFIX = "/admin/v1"

router = PrefixedRouter(
    prefix=ADMIN_PREFIX, tags=["admin"], dependencies=[Depends(admin_principal)]
)

ConfigRead = Annotated[AdminPrincipal, requires(scopes.CONFIG_READ)]
ConfigWrite = Annotated[AdminPrincipal, requires(scopes.CONFIG_WRITE)]
PushSend = Annotated[AdminPrincipal, requires(scopes.PUSH_SEND)]
UsersRead = Annotated[AdminPrincipal, requires(scopes.USERS_READ)]
UsersRevoke = Annotated[AdminPrincipal, requires(scopes.USERS_REVOKE)]
OpsRead = Annotated[AdminPrincipal, requires(scopes.OPS_READ)]
AuditRead = Annotated[AdminPrincipal, requires(scopes.AUDIT_READ)]
TokensWrite = Annotated[AdminPrincipal, requires(scopes.TOKENS_WRITE)]

PlatformParam = Annotated[str, Path(min_length=1, max_length=16)]
FlagKey = Annotated[str, Path(min_length=1, max_length=64)]
Topic = Annotated[str, Path(min_length=1, max_length=100)]
UserRef = Annotated[str, Path(min_length=1, max_length=254, description="a user id or email")]
DeviceId = Annotated[str, Path(min_length=1, max_length=200)]
AppVersionParam = Annotated[str, Path(min_length=1, max_length=32, description="as X-App-Version")]


# --- app config ---------------------------------------------------------------------------


@router.get("/config", response_model=ConfigOut)
async def get_config(_: ConfigRead, bff: BffDep) -> ConfigOut:
    """Releases, maintenance mode and flags, as the database has them now."""
    return _config(await bff.app_config.current())


@router.put("/releases/{platform}", response_model=ReleaseOut, name="release.set")
async def set_release(
    platform: PlatformParam, body: ReleaseIn, principal: ConfigWrite, bff: BffDep, admin: AdminDep
) -> ReleaseOut:
    """Set a platform's minimum and latest versions: apps below the minimum get 426."""
    details = body.model_dump()
    async with admin.audit.recording(principal, "release.set", platform, details):
        release = config_changes.checked_release(
            platform, body.min_version, body.latest_version, body.update_url
        )
        await bff.app_config.set_release(
            platform,
            min_version=release.min_version,
            latest_version=release.latest_version,
            update_url=release.update_url,
        )
    return ReleaseOut(platform=platform, **details)


@router.patch("/flags/{key}", response_model=FlagOut, name="flag.set")
async def set_flag(
    key: FlagKey, body: FlagPatch, principal: ConfigWrite, bff: BffDep, admin: AdminDep
) -> FlagOut:
    """Create or change a flag (only the fields sent change)."""
    changes = body.model_dump(exclude_unset=True)
    async with admin.audit.recording(principal, "flag.set", key, {"changes": changes}) as entry:
        current = next((f for f in (await bff.app_config.current()).flags if f.key == key), None)
        flag = config_changes.merged_flag(key, current, changes)
        await bff.app_config.set_flag(flag, changes.get("description"))
        entry.details["flag"] = _flag(flag).model_dump()
    return _flag(flag)


@router.delete("/flags/{key}", status_code=204, response_class=Response, name="flag.delete")
async def delete_flag(
    key: FlagKey, principal: ConfigWrite, bff: BffDep, admin: AdminDep
) -> Response:
    """Remove a flag (apps then see it off, as an unknown flag)."""
    async with admin.audit.recording(principal, "flag.delete", key):
        if not await bff.app_config.delete_flag(key):
            raise not_found("flag", key)
    return Response(status_code=204)


@router.put("/maintenance", response_model=MaintenanceState, name="maintenance.set")
async def set_maintenance(
    body: MaintenanceIn, principal: ConfigWrite, bff: BffDep, admin: AdminDep
) -> MaintenanceState:
    """Turn maintenance mode on (every API call answers 503 with the message) or off."""
    async with admin.audit.recording(
        principal, "maintenance.set", "maintenance", body.model_dump()
    ):
        await bff.app_config.set_maintenance(body.enabled, body.message)
    return MaintenanceState(enabled=body.enabled, message=body.message)


# --- GraphQL safelists --------------------------------------------------------------------

_SAFELIST = "/graphql/safelists/{platform}/{app_version}"


@router.put(_SAFELIST, response_model=SafelistUploaded, name="safelist.set")
async def set_safelist(
    platform: PlatformParam,
    app_version: AppVersionParam,
    body: SafelistIn,
    principal: ConfigWrite,
    bff: BffDep,
    admin: AdminDep,
) -> SafelistUploaded:
    """Upload an app build's GraphQL documents: from now on that platform and version runs
    only these (sent whole, or by APQ hash without registering), on every replica."""
    details = {"documents": len(body.documents)}
    target = f"{platform}/{app_version}"
    async with admin.audit.recording(principal, "safelist.set", target, details) as entry:
        config_changes.check_platform(platform)
        config_changes.check_version("app_version", app_version)
        upload = await bff.safelists.replace(platform, app_version, body.documents, principal.name)
        entry.details.update(
            digest=upload.safelist.digest,
            previous_digest=upload.previous_digest,
            added=upload.added,
            removed=upload.removed,
        )
    return SafelistUploaded(
        **_safelist(upload.safelist).model_dump(),
        added=upload.added,
        removed=upload.removed,
        previous_digest=upload.previous_digest,
    )


@router.get(_SAFELIST, response_model=SafelistDetail)
async def get_safelist(
    platform: PlatformParam, app_version: AppVersionParam, _: ConfigRead, bff: BffDep
) -> SafelistDetail:
    """A version's safelist: the hash and operation names of each document."""
    row, documents = await bff.safelists.listed(platform, app_version)
    return SafelistDetail(
        **_safelist(row).model_dump(),
        documents=[
            SafelistDocumentOut(sha256=document.sha256, operations=list(document.operations))
            for document in documents
        ],
    )


@router.delete(_SAFELIST, status_code=204, response_class=Response, name="safelist.delete")
async def delete_safelist(
    platform: PlatformParam,
    app_version: AppVersionParam,
    principal: ConfigWrite,
    bff: BffDep,
    admin: AdminDep,
) -> Response:
    """Lift a version's safelist: it runs any document again."""
    target = f"{platform}/{app_version}"
    async with admin.audit.recording(principal, "safelist.delete", target) as entry:
        row = await bff.safelists.delete(platform, app_version)
        entry.details["digest"] = row.digest
    return Response(status_code=204)


@router.get("/graphql/safelists", response_model=Page[SafelistOut])
async def list_safelists(_: ConfigRead, bff: BffDep, page: PageParams) -> Page[SafelistOut]:
    """Every app version with a safelist, latest upload first."""
    rows, next_cursor = await bff.safelists.page(page.cursor, clamp_limit(page.limit))
    return Page[SafelistOut](items=[_safelist(row) for row in rows], next_cursor=next_cursor)


# --- pushes -------------------------------------------------------------------------------


@router.post("/topics/{topic}/broadcasts", response_model=BroadcastOut, name="topic.broadcast")
async def broadcast(
    topic: Topic, body: BroadcastIn, principal: PushSend, bff: BffDep, admin: AdminDep
) -> BroadcastOut:
    """Push to every device following a topic, or with `dry_run` only count them."""
    notifications = bff.clients.notifications
    if body.dry_run:
        audience = await notifications.topic_audience(topic)
        return BroadcastOut(
            topic=topic, dry_run=True, devices=audience.devices, devices_at_least=audience.at_least
        )
    request = Broadcast(
        **body.model_dump(exclude={"dry_run", "idempotency_key"}),
        idempotency_key=body.idempotency_key or uuid.uuid4().hex,
    )
    details = request.model_dump(include={"title", "category", "kind", "idempotency_key"})
    async with admin.audit.recording(principal, "topic.broadcast", topic, details) as entry:
        audience = await notifications.topic_audience(topic)
        result = await notifications.broadcast(topic, request)
        entry.details["broadcast_id"] = str(result.broadcast_id)
    return BroadcastOut(
        topic=topic,
        dry_run=False,
        devices=audience.devices,
        devices_at_least=audience.at_least,
        broadcast=result,
    )


@router.get("/pushes/dead", response_model=Page[DeadDelivery])
async def dead_pushes(
    _: OpsRead, bff: BffDep, page: PageParams, status: DeadStatus = "failed"
) -> Page[DeadDelivery]:
    """Pushes given up on (`failed`) or refused for a dead token (`invalid_token`)."""
    return await bff.clients.notifications.dead_deliveries(status, page.cursor, page.limit)


@router.get("/training/queue", response_model=JobQueue)
async def training_queue(
    _: OpsRead, bff: BffDep, page: PageParams, status: QueueStatus | None = None
) -> JobQueue:
    """Every user's queued and running jobs, oldest first, with counts."""
    return await bff.clients.training.job_queue(status, page.cursor, page.limit)


# --- users --------------------------------------------------------------------------------


@router.get("/users/{user}", response_model=UserAccount)
async def get_user(user: UserRef, _: UsersRead, bff: BffDep) -> UserAccount:
    """An account, by id or email."""
    found = await find_user(bff.runtime.db, user)
    return UserAccount(id=found.id, email=found.email, created_at=as_utc(found.created_at))


@router.get("/users/{user}/sessions", response_model=Page[UserSessionOut])
async def user_sessions(
    user: UserRef, _: UsersRead, bff: BffDep, page: PageParams
) -> Page[UserSessionOut]:
    """The user's live sessions (signed-in devices), newest first."""
    found = await find_user(bff.runtime.db, user)
    rows, next_cursor = await bff.auth.sessions(found.id, page.cursor, clamp_limit(page.limit))
    items = [
        UserSessionOut(
            id=row.id,
            device_id=row.device_id,
            created_at=as_utc(row.created_at),
            last_used_at=as_utc(row.last_used_at),
        )
        for row in rows
    ]
    return Page[UserSessionOut](items=items, next_cursor=next_cursor)


@router.get("/users/{user}/devices", response_model=Page[Device])
async def user_devices(user: UserRef, _: UsersRead, bff: BffDep, page: PageParams) -> Page[Device]:
    """The user's devices registered for push, newest first."""
    found = await find_user(bff.runtime.db, user)
    return await bff.clients.notifications.list_devices(str(found.id), page.cursor, page.limit)


@router.delete("/users/{user}/sessions/{session_id}", response_model=Revoked, name="session.revoke")
async def revoke_session(
    user: UserRef, session_id: uuid.UUID, principal: UsersRevoke, bff: BffDep, admin: AdminDep
) -> Revoked:
    """End one session: its tokens stop working at once, on every replica."""
    async with admin.audit.recording(principal, "session.revoke", f"{user}/{session_id}"):
        found = await find_user(bff.runtime.db, user)
        await bff.auth.revoke_session(found.id, session_id)
    return Revoked(sessions_ended=1)


@router.delete("/users/{user}/sessions", response_model=Revoked, name="sessions.revoke_all")
async def revoke_all_sessions(
    user: UserRef, principal: UsersRevoke, bff: BffDep, admin: AdminDep
) -> Revoked:
    """Sign the user out everywhere."""
    async with admin.audit.recording(principal, "sessions.revoke_all", user) as entry:
        found = await find_user(bff.runtime.db, user)
        ended = await bff.auth.logout_all(found.id)
        entry.details["sessions_ended"] = ended
    return Revoked(sessions_ended=ended)


@router.delete("/users/{user}/devices/{device_id}", response_model=Revoked, name="device.revoke")
async def revoke_device(
    user: UserRef, device_id: DeviceId, principal: UsersRevoke, bff: BffDep, admin: AdminDep
) -> Revoked:
    """A lost phone: end its sessions and stop pushing to it."""
    async with admin.audit.recording(principal, "device.revoke", f"{user}/{device_id}") as entry:
        found = await find_user(bff.runtime.db, user)
        ended = await bff.auth.revoke_device_sessions(found.id, device_id)
        await bff.clients.notifications.unregister_device(str(found.id), device_id)
        entry.details["sessions_ended"] = ended
    return Revoked(sessions_ended=ended, device_forgotten=True)


# --- admin tokens and the audit log -------------------------------------------------------


@router.post("/tokens", response_model=TokenMinted, status_code=201, name="token.create")
async def create_token(body: TokenCreate, principal: TokensWrite, admin: AdminDep) -> TokenMinted:
    """Mint an admin token; its secret is answered this once."""
    details = body.model_dump()
    async with admin.audit.recording(principal, "token.create", body.name, details) as entry:
        minted = await admin.tokens.mint(
            body.name, body.scopes, timedelta(seconds=body.ttl_s), principal.token_id
        )
        entry.details["token_id"] = str(minted.row.id)
    return TokenMinted(**_token(minted.row).model_dump(), token=minted.secret)


@router.get("/tokens", response_model=Page[TokenOut])
async def list_tokens(_: TokensWrite, admin: AdminDep, page: PageParams) -> Page[TokenOut]:
    """Every admin token (never its secret), newest first."""
    rows, next_cursor = await admin.tokens.page(page.cursor, clamp_limit(page.limit))
    return Page[TokenOut](items=[_token(row) for row in rows], next_cursor=next_cursor)


@router.delete("/tokens/{token_id}", response_model=TokenOut, name="token.revoke")
async def revoke_token(token_id: uuid.UUID, principal: TokensWrite, admin: AdminDep) -> TokenOut:
    """Revoke an admin token: refused from its next request on, on every replica."""
    async with admin.audit.recording(principal, "token.revoke", str(token_id)):
        row = await admin.tokens.revoke(token_id)
    return _token(row)


@router.get("/audit", response_model=Page[AuditOut])
async def audit_log(
    _: AuditRead,
    admin: AdminDep,
    page: PageParams,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditOut]:
    """Every admin write and refused write, newest first (only `action`'s when given)."""
    rows, next_cursor = await admin.audit.page(page.cursor, clamp_limit(page.limit), action)
    return Page[AuditOut](items=[_audit(row) for row in rows], next_cursor=next_cursor)


def _config(snapshot: Snapshot) -> ConfigOut:
    return ConfigOut(
        releases=[
            ReleaseOut(platform=platform, **_release_fields(release))
            for platform, release in sorted(snapshot.releases.items())
        ],
        maintenance=MaintenanceState(
            enabled=snapshot.maintenance, message=snapshot.maintenance_message
        ),
        flags=[_flag(flag) for flag in snapshot.flags],
    )


def _release_fields(release: object) -> dict[str, object]:
    return {
        name: getattr(release, name) for name in ("min_version", "latest_version", "update_url")
    }


def _flag(flag: Flag) -> FlagOut:
    return FlagOut(
        key=flag.key,
        enabled=flag.enabled,
        rollout_percent=flag.rollout_percent,
        platforms=list(flag.platforms) if flag.platforms is not None else None,
        min_app_version=flag.min_app_version,
        max_app_version=flag.max_app_version,
    )


def _safelist(row: GraphqlSafelist) -> SafelistOut:
    return SafelistOut(
        platform=row.platform,
        app_version=row.app_version,
        digest=row.digest,
        document_count=row.document_count,
        uploaded_at=row.uploaded_at,
        uploaded_by=row.uploaded_by,
    )


def _token(row: AdminToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        scopes=list(row.scopes),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        created_by=row.created_by,
    )


def _audit(row: AuditEntry) -> AuditOut:
    return AuditOut(
        id=row.id,
        at=as_utc(row.at),
        token_id=row.token_id,
        token_name=row.token_name,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        details=row.details,
        request_id=row.request_id,
    )
