"""Plain objects completed in one pass answer exactly what graphql-core answers, errors and
their paths included, and skip its per-field work where they can."""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from bff.graphql.plain_fields import PlainFieldsExecutionContext


@strawberry.enum
class Status(enum.Enum):
    QUEUED = "queued"
    DONE = "done"


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    count: int
    score: float | None
    status: Status
    tags: list[str]
    states: list[Status]
    created_at: datetime
    extra: JSON | None

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


@strawberry.type
class Query:
    items: list[Item]


def item(n: int, **changed: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID(f"id-{n}"),
        "name": f"item {n}",
        "count": n,
        "score": n / 3 if n % 2 else None,
        "status": Status.DONE if n % 2 else Status.QUEUED,
        "tags": [f"t{n}", "x"],
        "states": [Status.QUEUED, Status.DONE],
        "created_at": datetime(2026, 1, n % 28 + 1, 12, 30, tzinfo=UTC),
        "extra": {"n": n, "nested": [1, None]},
    }
    values.update(changed)
    return Item(**values)


class _Counting(PlainFieldsExecutionContext):
    infos = 0
    objects = 0  # objects graphql-core completed on its own

    def build_resolve_info(self, *args: Any, **kwargs: Any) -> Any:
        type(self).infos += 1
        return super().build_resolve_info(*args, **kwargs)

    def complete_object_value(self, *args: Any, **kwargs: Any) -> Any:
        type(self).objects += 1
        return super().complete_object_value(*args, **kwargs)


def answers(document: str, items: list[Item]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(graphql-core's answer, the plain-fields answer) of one document."""

    def run(execution_context_class: Any) -> dict[str, Any]:
        schema = strawberry.Schema(query=Query, execution_context_class=execution_context_class)
        result = asyncio.run(schema.execute(document, root_value=Query(items=items)))
        return {
            "data": result.data,
            "errors": [(e.message, e.path) for e in result.errors or []],
        }

    return run(None), run(PlainFieldsExecutionContext)


PLAIN = """{ items { __typename id name count score status tags states createdAt extra
  renamed: name } }"""


def test_plain_objects_answer_what_graphql_core_answers() -> None:
    core, plain = answers(PLAIN, [item(n) for n in range(1, 30)])
    assert plain == core
    assert core["errors"] == [] and len(core["data"]["items"]) == 29
    assert core["data"]["items"][0]["__typename"] == "Item"


def test_plain_objects_skip_the_per_field_work() -> None:
    schema = strawberry.Schema(query=Query, execution_context_class=_Counting)
    _Counting.infos = 0
    items = [item(n) for n in range(50)]
    result = asyncio.run(schema.execute(PLAIN, root_value=Query(items=items)))
    assert result.errors is None
    assert _Counting.infos == 1  # the list field's own; none for its 50 x 11 plain fields
    assert _Counting.objects == 0  # nor an object completion per item: one loop over the list


def test_a_field_with_a_resolver_or_arguments_is_left_to_graphql_core() -> None:
    core, plain = answers("{ items { name shout(times: 2) } }", [item(1), item(2)])
    assert plain == core
    assert core["data"]["items"][1]["shout"] == "ITEM 2ITEM 2"


def test_a_null_in_a_non_null_field_is_reported_with_its_path() -> None:
    for broken, path in [
        (item(2, name=None), ["items", 1, "name"]),
        (item(2, tags=["a", None]), ["items", 1, "tags", 1]),
    ]:
        core, plain = answers("{ items { id name tags } }", [item(1), broken])
        assert plain == core
        assert [error_path for _message, error_path in core["errors"]] == [path]


def test_a_value_its_scalar_refuses_is_reported_like_graphql_core() -> None:
    for broken, field in [
        (item(2, count="many"), "count"),
        (item(2, status="nope"), "status"),
        (item(2, created_at="soon"), "createdAt"),
        (item(2, tags="abc"), "tags"),  # a string where a list belongs is not split into items
        (item(2, score="high"), "score"),
    ]:
        core, plain = answers("{ items { count status createdAt tags score } }", [item(1), broken])
        assert plain == core
        assert [path for _message, path in core["errors"]] == [["items", 1, field]]


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tag(Named):
    colour: str


@strawberry.type
class Paint:  # a name and a colour, but no Named: not a Tag
    name: str
    colour: str


@strawberry.type
class TaggedQuery:
    tags: list[Tag]


def test_an_item_of_another_type_is_refused_like_graphql_core() -> None:
    def run(execution_context_class: Any, tags: list[Any]) -> dict[str, Any]:
        schema = strawberry.Schema(
            query=TaggedQuery, types=[Paint], execution_context_class=execution_context_class
        )
        result = asyncio.run(
            schema.execute("{ tags { name colour } }", root_value=TaggedQuery(tags=tags))
        )
        return {"data": result.data, "errors": [(e.message, e.path) for e in result.errors or []]}

    tags = [Tag(name="a", colour="red"), Tag(name="b", colour="blue")]
    assert run(PlainFieldsExecutionContext, tags) == run(None, tags)
    assert run(None, tags)["data"] == {
        "tags": [{"name": "a", "colour": "red"}, {"name": "b", "colour": "blue"}]
    }

    wrong: list[Any] = [tags[0], Paint(name="c", colour="green")]
    core = run(None, wrong)
    assert run(PlainFieldsExecutionContext, wrong) == core
    assert [path for _message, path in core["errors"]] == [["tags", 1]]


def test_a_cached_document_is_planned_once_across_operations(monkeypatch: Any) -> None:
    from strawberry.extensions import ParserCache

    from bff.graphql import plain_fields

    planned: list[str] = []
    plan_of = plain_fields._plan_of

    def counting(executor: Any, parent_type: Any, grouped: Any) -> Any:
        planned.append(parent_type.name)
        return plan_of(executor, parent_type, grouped)

    monkeypatch.setattr(plain_fields, "_plan_of", counting)
    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=8)],
        execution_context_class=PlainFieldsExecutionContext,
    )
    document = "{ items { id name count } }"
    for n in (3, 5):
        result = asyncio.run(
            schema.execute(document, root_value=Query(items=[item(i) for i in range(n)]))
        )
        assert result.errors is None and len(result.data["items"]) == n
    assert planned == ["Query", "Item"]  # the second operation found the plans of the first
    other = asyncio.run(schema.execute("{ items { name } }", root_value=Query(items=[item(1)])))
    assert other.data == {"items": [{"name": "item 1"}]}
    assert planned == ["Query", "Item"] * 2  # another document, other plans
