"""Objects whose selected fields are all plain values, completed in one pass.

graphql-core completes every field of every object alike: a path, a resolve info, the
resolver, then the checks and the serialisation of its value. For the fields a phone's lists
are made of (an attribute of the object, a scalar or an enum, or a list of them), that costs
more than the value: a home screen of four 20-item lists is ~400 such fields, and graphql-core's
execution was 31% of the BFF's main-thread time for the query in a profile (23% with this).
This execution context reads such an object's fields directly (the attribute strawberry's own
resolver reads, coerced for output by the field's type) when every field selected on it is
plain, and leaves everything else to graphql-core: fields with resolvers,
arguments or other objects, middleware, and any value it cannot complete the plain way (a
null in a non-null field, a value its scalar refuses), which graphql-core then completes, or
reports with its error and path, as it always would.

A list of such objects (a page's `items`) is completed the same way in one loop: graphql-core
would otherwise complete each item on its own (a path, the type check, the collected fields
looked up again), about as much again as the fields themselves. The type check still runs per
item; an item that cannot be completed the plain way sends the whole list back to graphql-core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import cachetools
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from graphql.type import GraphQLResolveInfo
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from bff.graphql.types.json_backed import JsonBacked

_DEFINITION = "strawberry-definition"  # where strawberry keeps a field's definition
_TYPENAME = "__typename"


class _Plain(NamedTuple):
    """One plain field: where its value is, and how it is coerced for output."""

    response_name: str
    python_name: str  # "" for __typename
    read: Callable[[Any, str], Any]
    coerce: Callable[[Any], Any]
    non_null: bool
    is_list: bool  # a list of non-null values, each coerced for output


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with plain objects completed in one pass."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            completed = _complete(plan, parent_type.name, source_value)
            if completed is not None:
                return completed
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """A list of non-null objects whose selected fields are all plain, in one loop; else
        (another type, @stream or @defer, an item it must complete) graphql-core's way."""
        plan = None
        if (
            isinstance(item_type, GraphQLNonNull)
            and isinstance(item_type.of_type, GraphQLObjectType)
            and isinstance(items, list | tuple)
            and self.get_stream_usage(field_details_list, path) is None
        ):
            object_type = item_type.of_type
            grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(
                object_type, field_details_list
            )
            if not new_defer_usages:
                plan = self._plan(object_type, grouped_field_set)
        if plan is not None:
            is_type_of, name = object_type.is_type_of, object_type.name
            completed: list[Any] = []
            for item in items:
                if is_type_of is not None and is_type_of(item, info) is not True:
                    break
                answer = _complete(plan, name, item)
                if answer is None:
                    break
                completed.append(answer)
            else:
                return completed
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> tuple[_Plain, ...] | None:
        # graphql-core collects one field set per selection and type, shared by every item
        # of a list: looked up once per operation (the set is kept with its plan, so that its
        # id stays its own).
        plans: dict[int, tuple[GroupedFieldSet, tuple[_Plain, ...] | None]]
        plans = self.__dict__.setdefault("_plans", {})
        known = plans.get(id(grouped_field_set))
        if known is not None:
            return known[1]
        middleware = self.middleware_manager
        wrapped = middleware is not None and bool(middleware.middlewares)
        plan = None if wrapped else _kept_plan(self, parent_type, grouped_field_set)
        plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan


# Plans outlive the operation. Parsed documents are cached (the ParserCache extension), so the
# next request of a document brings the very field nodes it brought before: a plan is kept
# under the ids of its type and nodes, with them, so that those ids stay theirs while it is.
_KEPT_PLANS_MAX = 4096
_kept_plans: cachetools.LRUCache[tuple[int, ...], tuple[object, tuple[_Plain, ...] | None]] = (
    cachetools.LRUCache(maxsize=_KEPT_PLANS_MAX)
)


def _kept_plan(
    executor: StrawberryGraphQLCoreExecutionContext,
    parent_type: GraphQLObjectType,
    grouped_field_set: GroupedFieldSet,
) -> tuple[_Plain, ...] | None:
    nodes = [details[0].node for details in grouped_field_set.values()]
    key = (id(executor.schema), id(parent_type), *map(id, nodes))
    kept = _kept_plans.get(key)
    if kept is None:
        plan = _plan_of(executor, parent_type, grouped_field_set)
        kept = _kept_plans[key] = ((executor.schema, parent_type, nodes), plan)
    return kept[1]


def _plan_of(
    executor: StrawberryGraphQLCoreExecutionContext,
    parent_type: GraphQLObjectType,
    grouped_field_set: GroupedFieldSet,
) -> tuple[_Plain, ...] | None:
    plan: list[_Plain] = []
    origin = getattr(parent_type.extensions.get(_DEFINITION), "origin", None)
    backed = isinstance(origin, type) and issubclass(origin, JsonBacked)
    for response_name, details in grouped_field_set.items():
        node = details[0].node
        name = node.name.value
        if name == _TYPENAME:
            plan.append(_Plain(response_name, "", getattr, str, True, False))
            continue
        field_def = executor.schema.get_field(parent_type, name)
        if field_def is None or field_def.args or node.arguments or node.selection_set:
            return None
        definition = field_def.extensions.get(_DEFINITION)
        resolve = field_def.resolve
        if (
            not isinstance(definition, StrawberryField)
            or not definition.is_basic_field
            or resolve is None
            # strawberry's resolver of a field that only reads its attribute (no handler)
            or not resolve.__qualname__.endswith("._get_basic_result")
        ):
            return None
        leaf = _leaf(field_def.type)
        if leaf is None:
            return None
        coerce, non_null, is_list = leaf
        read = definition.default_resolver
        if read is getattr and backed:
            read = JsonBacked.field_value  # the same value, without a failed lookup first
        plan.append(_Plain(response_name, definition.python_name, read, coerce, non_null, is_list))
    return tuple(plan)


def _leaf(type_: GraphQLOutputType) -> tuple[Callable[[Any], Any], bool, bool] | None:
    """(coerce for output, non-null, list of non-null) of a scalar, an enum or a list of them."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    is_list = isinstance(inner, GraphQLList)
    if is_list:
        item = inner.of_type
        if not isinstance(item, GraphQLNonNull):
            return None
        inner = item.of_type
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return inner.coerce_output_value, non_null, is_list
    return None


def _complete(plan: tuple[_Plain, ...], type_name: str, source: Any) -> dict[str, Any] | None:
    """The object's answer; None where graphql-core must complete it (to report an error)."""
    results: dict[str, Any] = {}
    try:
        for field in plan:
            if not field.python_name:
                results[field.response_name] = type_name
                continue
            value = field.read(source, field.python_name)
            if value is None:
                if field.non_null:
                    return None
                results[field.response_name] = None
                continue
            coerce = field.coerce
            if field.is_list:
                if not isinstance(value, list | tuple) or None in value:
                    return None
                items = [coerce(item) for item in value]
                if None in items or Undefined in items:
                    return None
                results[field.response_name] = items
                continue
            coerced = coerce(value)
            if coerced is None or coerced is Undefined:
                return None
            results[field.response_name] = coerced
    except Exception:  # graphql-core completes it again, and reports the error
        return None
    return results
