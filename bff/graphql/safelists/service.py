"""Safelists ("trusted documents"): the GraphQL documents one app build may run, per platform
and app version, stored in the BFF's database.

An operator uploads a build's documents; from then on that platform and version runs only
those (by the SHA-256 of their text, as APQ names them), and a hash alone runs a safelisted
document without registering it first. Versions without a safelist run anything.

On the request path the check is a set lookup: each replica keeps in memory which versions
have a safelist (re-read every `ttl_s`) and, for those its phones use, their documents
(re-read only when the upload's digest changed). A change made through any replica drops those
copies on every replica at once, over the app config's bus (bff/app_config/replicas.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select

from bff.graphql.persisted_queries import PersistedQueryError, hash_mismatch, persisted_hash
from bff.graphql.safelists.documents import (
    CheckedDocument,
    DocumentChecker,
    DocumentProblem,
    sha256_hex,
)
from bff.graphql.safelists.tables import GraphqlSafelist, GraphqlSafelistDocument
from services.kit.change_versions import VersionBus, VersionEvent
from services.kit.clock import utc_now
from services.kit.database import Database, again_if_raced
from services.kit.errors import Action, ApiError, invalid_input, not_found
from services.kit.paging import cursor_position, newest_first, split_page

SafelistKey = tuple[str, str]  # (platform, app version)
T = TypeVar("T")

# The bus event of a safelist change: every replica reads the safelists again.
_CHANGED: list[VersionEvent] = [("graphql-safelist", 0, None)]
# Problems named in one refused upload (the rest are counted).
_PROBLEMS_LISTED = 20
_NEVER = float("-inf")


def not_safelisted() -> ApiError:
    """403-like: this app version may run only the documents its build uploaded."""
    return ApiError(
        403,
        "OPERATION_NOT_SAFELISTED",
        "this app version may run only the GraphQL documents its build uploaded; "
        "this one is not among them",
        user_message="This version of the app can no longer do this. Please update it.",
        action=Action.UPDATE_APP,
        retry_allowed=False,
    )


@dataclass(frozen=True, slots=True)
class Safelist:
    """The documents one app version may run, by SHA-256."""

    digest: str
    documents: Mapping[str, str]

    def document(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document a request runs (its own, or the one its APQ hash names) if it is
        safelisted; PersistedQueryError OPERATION_NOT_SAFELISTED if not."""
        sha256 = persisted_hash(extensions)
        if sha256 is None:
            if query is None:
                return None  # no document at all: answered as any request without one
            sha256 = sha256_hex(query)
        elif query is not None and sha256_hex(query) != sha256:
            raise PersistedQueryError(hash_mismatch(), "provided sha does not match query")
        kept = self.documents.get(sha256)
        if kept is None:
            refusal = not_safelisted()
            raise PersistedQueryError(refusal, refusal.message)
        return kept


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload stored, and how it differs from the safelist it replaced."""

    safelist: GraphqlSafelist
    added: int
    removed: int
    previous_digest: str | None


class Safelists:
    """Safelists in the BFF's database, cached per replica for the request path."""

    def __init__(
        self,
        db: Database,
        checker: DocumentChecker,
        *,
        max_documents: int,
        ttl_s: float,
        bus: VersionBus | None = None,
    ) -> None:
        self._db = db
        self._checker = checker
        self.max_documents = max_documents
        self._ttl_s = ttl_s
        self._bus = bus
        self._index: dict[SafelistKey, str] = {}  # versions with a safelist -> its digest
        self._index_read_at = _NEVER
        self._generation = 0  # bumped by each change heard: a read begun before is stale
        self._lists: dict[SafelistKey, Safelist] = {}
        self._reads: dict[object, asyncio.Future[Any]] = {}

    # --- the request path -----------------------------------------------------------------

    async def of(self, platform: str | None, app_version: str | None) -> Safelist | None:
        """The safelist a request from this platform and app version runs under; None when
        it has none (it runs anything)."""
        if platform is None or app_version is None:
            return None
        if time.monotonic() - self._index_read_at >= self._ttl_s:
            await self._shared(("index", self._generation), self._read_index)
        key = (platform, app_version)
        digest = self._index.get(key)
        if digest is None:
            return None
        kept = self._lists.get(key)
        if kept is not None and kept.digest == digest:
            return kept
        return await self._shared(("list", key, self._generation), lambda: self._load(key))

    def invalidate(self) -> None:
        """Read the safelists again on next use (after a change on this or another replica)."""
        self._generation += 1
        self._index_read_at = _NEVER

    async def _shared(self, key: object, read: Callable[[], Awaitable[T]]) -> T:
        # One read at a time: the requests of a cold cache wait for the same one.
        future = self._reads.get(key)
        if future is None:
            future = asyncio.ensure_future(read())
            self._reads[key] = future
            future.add_done_callback(lambda _: self._reads.pop(key, None))
        result: T = await asyncio.shield(future)
        return result

    async def _read_index(self) -> None:
        generation = self._generation
        stmt = select(GraphqlSafelist.platform, GraphqlSafelist.app_version, GraphqlSafelist.digest)
        async with self._db.session() as db:
            rows = (await db.execute(stmt)).all()
        self._index = {(platform, version): digest for platform, version, digest in rows}
        self._lists = {key: kept for key, kept in self._lists.items() if key in self._index}
        if generation == self._generation:  # no change was heard while reading
            self._index_read_at = time.monotonic()

    async def _load(self, key: SafelistKey) -> Safelist | None:
        platform, app_version = key
        async with self._db.session() as db:
            row = await self._row(db, platform, app_version)
            if row is None:
                documents: dict[str, str] = {}
            else:
                stmt = select(GraphqlSafelistDocument.sha256, GraphqlSafelistDocument.document)
                stmt = stmt.where(GraphqlSafelistDocument.safelist_id == row.id)
                documents = {sha256: text for sha256, text in (await db.execute(stmt)).all()}
        if row is None or row.digest != self._index.get(key):
            self._index_read_at = _NEVER  # changed since the index was read: read it again
        if row is None:
            return None
        safelist = Safelist(row.digest, documents)
        self._lists[key] = safelist
        return safelist

    # --- the operator's side --------------------------------------------------------------

    async def replace(
        self,
        platform: str,
        app_version: str,
        documents: Sequence[str],
        uploaded_by: str | None,
    ) -> Upload:
        """Make `documents` the whole safelist of this platform and version (checked first:
        422 naming each document that does not validate, or over a limit)."""
        if len(documents) > self.max_documents:
            raise invalid_input(
                "TOO_MANY_DOCUMENTS",
                f"{len(documents)} documents, over the limit of {self.max_documents}",
                limit=self.max_documents,
            )
        # Validating a build's documents is pure CPU (milliseconds each): off the event loop.
        checked = await asyncio.to_thread(self._check_all, documents)
        digest = _digest(checked)

        async def write() -> Upload:
            async with self._db.transaction() as db:
                row = await self._row(db, platform, app_version)
                previous: set[str] = set()
                previous_digest = None
                if row is None:
                    row = GraphqlSafelist(id=uuid.uuid4(), platform=platform)
                    row.app_version = app_version
                else:
                    previous_digest = row.digest
                    previous = set(await db.scalars(self._hashes(row.id)))
                    await db.execute(
                        delete(GraphqlSafelistDocument).where(
                            GraphqlSafelistDocument.safelist_id == row.id
                        )
                    )
                row.digest, row.document_count = digest, len(checked)
                row.uploaded_at, row.uploaded_by = utc_now(), uploaded_by
                db.add(row)
                await db.flush()
                db.add_all(
                    GraphqlSafelistDocument(
                        safelist_id=row.id,
                        sha256=document.sha256,
                        document=document.text,
                        operations=list(document.operations),
                    )
                    for document in checked.values()
                )
            return Upload(
                row,
                added=len(checked.keys() - previous),
                removed=len(previous - checked.keys()),
                previous_digest=previous_digest,
            )

        upload = await again_if_raced(write)  # a concurrent first upload of this version
        await self._changed()
        return upload

    async def delete(self, platform: str, app_version: str) -> GraphqlSafelist:
        """Lift a version's safelist (it runs anything again); 404 SAFELIST_NOT_FOUND."""
        async with self._db.transaction() as db:
            row = await self._row(db, platform, app_version)
            if row is None:
                raise not_found("safelist", f"{platform} {app_version}")
            await db.execute(
                delete(GraphqlSafelistDocument).where(GraphqlSafelistDocument.safelist_id == row.id)
            )
            await db.delete(row)
        await self._changed()
        return row

    async def listed(
        self, platform: str, app_version: str
    ) -> tuple[GraphqlSafelist, list[GraphqlSafelistDocument]]:
        """A version's safelist and its documents, by hash; 404 SAFELIST_NOT_FOUND."""
        async with self._db.session() as db:
            row = await self._row(db, platform, app_version)
            if row is None:
                raise not_found("safelist", f"{platform} {app_version}")
            stmt = select(GraphqlSafelistDocument).where(
                GraphqlSafelistDocument.safelist_id == row.id
            )
            documents = list(await db.scalars(stmt.order_by(GraphqlSafelistDocument.sha256)))
        return row, documents

    async def page(
        self, cursor: str | None, limit: int
    ) -> tuple[list[GraphqlSafelist], str | None]:
        """Every version with a safelist, latest upload first."""
        stmt = newest_first(
            select(GraphqlSafelist),
            GraphqlSafelist.uploaded_at,
            GraphqlSafelist.id,
            cursor_position(cursor),
            limit,
        )
        async with self._db.session() as db:
            rows = list((await db.scalars(stmt)).all())
        return split_page(rows, limit, lambda row: (row.uploaded_at, row.id))

    def _check_all(self, documents: Sequence[str]) -> dict[str, CheckedDocument]:
        checked: dict[str, CheckedDocument] = {}
        problems: list[DocumentProblem] = []
        for index, text in enumerate(documents):
            result = self._checker.check(index, text)
            if isinstance(result, DocumentProblem):
                problems.append(result)
            else:
                checked.setdefault(result.sha256, result)  # the same document twice is once
        if problems:
            raise _invalid_documents(problems)
        return checked

    async def _changed(self) -> None:
        """After a write: this replica reads it on next use; the others hear of it."""
        self.invalidate()
        if self._bus is not None:
            sending = self._bus.publish(_CHANGED)
            if sending is not None:
                await sending

    @staticmethod
    async def _row(db: Any, platform: str, app_version: str) -> GraphqlSafelist | None:
        stmt = select(GraphqlSafelist).where(
            GraphqlSafelist.platform == platform, GraphqlSafelist.app_version == app_version
        )
        row: GraphqlSafelist | None = (await db.scalars(stmt)).first()
        return row

    @staticmethod
    def _hashes(safelist_id: uuid.UUID) -> Any:
        return select(GraphqlSafelistDocument.sha256).where(
            GraphqlSafelistDocument.safelist_id == safelist_id
        )


def _digest(checked: Mapping[str, CheckedDocument]) -> str:
    return hashlib.sha256("\n".join(sorted(checked)).encode()).hexdigest()


def _invalid_documents(problems: list[DocumentProblem]) -> ApiError:
    first = problems[0]
    name = f" ({', '.join(first.operations)})" if any(first.operations) else ""
    more = f"; and {len(problems) - 1} more" if len(problems) > 1 else ""
    return invalid_input(
        "SAFELIST_DOCUMENT_INVALID",
        f"document {first.index}{name}, sha256 {first.sha256[:12]}..., cannot be safelisted: "
        f"{first.errors[0]}{more}",
        documents=[problem.as_details() for problem in problems[:_PROBLEMS_LISTED]],
        invalid=len(problems),
    )
