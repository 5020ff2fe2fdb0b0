"""GraphQL query answers kept per user and answered again, without running the query, while
every service they were read from still has the user's change version they were read under.

The REST dashboard answers from its kept pages; a GraphQL query would still resolve every
field of the same pages. So a whole answer is kept, by user, document, operation name and
variables, with the versions its reads were made under (`bff.read_versions`). Only answers
that are wholly versioned are kept: a query operation, no error or stale copy in it, every
read a versioned one. The user's own write, a change a service makes (a job finishing) and a
write through another replica all move a version this process hears of (the answers it gets
and the services' watch streams), so the next read runs the query again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cachetools
import orjson
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from bff.graphql.context import Context
from bff.known_versions import KnownVersions
from bff.read_versions import ReadVersions

AnswerKey = tuple[str, bytes]


@dataclass
class KeptResult(ExecutionResult):
    """A kept answer as served again: its HTTP body is encoded once, on first use."""

    encoded: bytes | None = None


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    result: KeptResult
    versions: tuple[tuple[str, int], ...]


class KeptAnswers:
    """Kept answers by (user, what was asked)."""

    def __init__(
        self,
        known: KnownVersions,
        *,
        reuse: bool = True,
        max_entries: int = 20_000,
        max_answer_bytes: int = 256 * 1024,
    ) -> None:
        self._known = known
        self._reuse = reuse  # off: every query runs (benchmarks, debugging)
        self._max_answer_bytes = max_answer_bytes
        self._kept: cachetools.LRUCache[AnswerKey, KeptAnswer] = cachetools.LRUCache(max_entries)

    def key(self, context: Context, request: GraphQLRequestData) -> AnswerKey | None:
        """What the answer is kept under; None when it is not to be kept (no signed-in user,
        no document, keeping is off)."""
        if not self._reuse or context.user is None or not request.query:
            return None
        asked = orjson.dumps(
            [request.query, request.operation_name, request.variables],
            option=orjson.OPT_SORT_KEYS,
        )
        return str(context.user.user_id), hashlib.blake2b(asked, digest_size=20).digest()

    def current(self, key: AnswerKey) -> KeptResult | None:
        """The kept answer, if every version it was read under is still the user's."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        user_id = key[0]
        for service, version in kept.versions:
            if self._known.current(service, user_id) != version:
                return None
        return kept.result

    def keep(
        self, key: AnswerKey, context: Context, reads: ReadVersions, result: ExecutionResult
    ) -> None:
        """Keep the answer of a query if it is wholly versioned and whole."""
        if (
            context.operation_type is not OperationType.QUERY
            or result.errors
            or context.warnings
            or not reads.versioned
            or len(orjson.dumps(result.data)) > self._max_answer_bytes
        ):
            self._kept.pop(key, None)
            return
        kept = KeptResult(result.data, result.errors, result.extensions)
        self._kept[key] = KeptAnswer(kept, tuple(reads.versions.items()))
