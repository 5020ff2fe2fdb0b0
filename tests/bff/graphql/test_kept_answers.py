"""Kept GraphQL answers: answered again only while every version they were read under is the
user's now, only for the user who asked, and only when wholly versioned and whole."""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

from graphql import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from bff import read_versions
from bff.auth.service import AuthenticatedUser
from bff.context import BffContext
from bff.graphql.context import Context, FieldWarning
from bff.graphql.kept_answers import KeptAnswers
from bff.known_versions import KnownVersions
from bff.read_versions import ReadVersions
from services.kit.errors import ApiError

QUERY = "{ viewer { datasets { items { name } } } }"
SERVICES = ("datasets", "training")


def known_versions() -> KnownVersions:
    known = KnownVersions(SERVICES)
    for service in SERVICES:
        known.start_watching(service)
    return known


def signed_in(user_id: uuid.UUID | None = None) -> Context:
    user = AuthenticatedUser(user_id or uuid.uuid4(), uuid.uuid4(), None)
    context = Context(cast(BffContext, None), user, None)
    context.operation_type = OperationType.QUERY
    return context


def request(query: str = QUERY, variables: dict[str, object] | None = None) -> GraphQLRequestData:
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=None, extensions=None
    )


def read_under(**versions: int | None) -> ReadVersions:
    reads = ReadVersions()
    for service, version in versions.items():
        reads.note(service, version)
    return reads


ANSWER = ExecutionResult(data={"viewer": {"datasets": {"items": [{"name": "a"}]}}}, errors=None)


def test_an_answer_is_current_until_a_version_it_was_read_under_moves() -> None:
    known = known_versions()
    answers = KeptAnswers(known)
    context = signed_in()
    user = str(context.require_user().user_id)
    known.observe("datasets", user, 3)
    known.observe("training", user, 7)
    key = answers.key(context, request())
    assert key is not None

    answers.keep(key, context, read_under(datasets=3), ANSWER)
    kept = answers.current(key)
    assert kept is not None and (kept.data, kept.errors) == (ANSWER.data, None)
    known.observe("training", user, 8)  # a service the answer did not read from
    assert answers.current(key) is kept

    known.observe("datasets", user, 4)
    assert answers.current(key) is None


def test_nothing_is_current_while_the_service_is_not_watched() -> None:
    known = known_versions()
    answers = KeptAnswers(known)
    context = signed_in()
    known.observe("datasets", str(context.require_user().user_id), 3)
    key = answers.key(context, request())
    assert key is not None
    answers.keep(key, context, read_under(datasets=3), ANSWER)

    known.stop_watching("datasets")

    assert answers.current(key) is None


def test_each_user_variables_and_document_ask_a_different_answer() -> None:
    answers = KeptAnswers(known_versions())
    me, them = signed_in(), signed_in()
    keys = {
        answers.key(me, request()),
        answers.key(them, request()),
        answers.key(me, request(variables={"first": 5})),
        answers.key(me, request(variables={"first": 6})),
        answers.key(me, request(QUERY.replace("name", "id"))),
    }
    assert len(keys) == 5
    assert answers.key(me, request(variables={"a": 1, "b": 2})) == answers.key(
        me, request(variables={"b": 2, "a": 1})
    )


def test_no_answer_is_kept_without_a_user_or_with_keeping_off() -> None:
    anonymous = Context(cast(BffContext, None), None, None)
    assert KeptAnswers(known_versions()).key(anonymous, request()) is None
    assert KeptAnswers(known_versions(), reuse=False).key(signed_in(), request()) is None


def test_only_whole_versioned_query_answers_are_kept() -> None:
    known = known_versions()
    answers = KeptAnswers(known, max_answer_bytes=1_000)
    context = signed_in()
    known.observe("datasets", str(context.require_user().user_id), 3)
    key = answers.key(context, request())
    assert key is not None
    failed = ExecutionResult(data={"viewer": None}, errors=[GraphQLError("down")])
    big = ExecutionResult(data={"viewer": {"notes": "x" * 2_000}}, errors=None)

    refused = [
        (context, read_under(datasets=3, training=None), ANSWER),  # a read without a version
        (context, ReadVersions(), ANSWER),  # no read at all
        (context, read_under(datasets=3), failed),
        (context, read_under(datasets=3), big),
    ]
    for asking, reads, result in refused:
        answers.keep(key, asking, reads, result)
        assert answers.current(key) is None

    mutation = signed_in(context.require_user().user_id)
    mutation.operation_type = OperationType.MUTATION
    answers.keep(key, mutation, read_under(datasets=3), ANSWER)
    assert answers.current(key) is None

    stale = signed_in(context.require_user().user_id)
    stale.warnings.append(FieldWarning(["viewer"], ApiError(503, "DOWN", "down"), 5))
    answers.keep(key, stale, read_under(datasets=3), ANSWER)
    assert answers.current(key) is None


def test_a_refused_answer_drops_the_one_kept_before() -> None:
    known = known_versions()
    answers = KeptAnswers(known)
    context = signed_in()
    known.observe("datasets", str(context.require_user().user_id), 3)
    key = answers.key(context, request())
    assert key is not None
    answers.keep(key, context, read_under(datasets=3), ANSWER)

    answers.keep(key, context, read_under(datasets=None), ANSWER)

    assert answers.current(key) is None


def test_reads_of_one_service_under_two_versions_keep_the_older() -> None:
    reads = read_under(datasets=5)
    reads.note("datasets", 4)
    reads.note("datasets", 6)
    assert reads.versions == {"datasets": 4} and reads.versioned


async def test_reads_are_noted_across_the_tasks_an_operation_starts() -> None:
    async def resolve(service: str, version: int | None) -> None:
        await asyncio.sleep(0)
        read_versions.note(service, version)

    with read_versions.reading() as reads:
        async with asyncio.TaskGroup() as group:
            group.create_task(resolve("datasets", 2))
            group.create_task(resolve("training", 9))
    read_versions.note("datasets", 1)  # outside: noted nowhere

    assert reads.versions == {"datasets": 2, "training": 9} and reads.complete
    with read_versions.reading() as unversioned:
        read_versions.unversioned()
    assert not unversioned.versioned
