"""What a document costs downstream, priced from the parsed document before it runs.

A field backed by a call (it has a resolver and answers an object or a list) costs 1; a
scalar field costs nothing; a prediction costs `INFERENCE_WEIGHT`. Under a paged list
(a field with a `first` argument, its default page size when absent) every field is paid
`first` times: `datasets(first: 10) { items { versions { ... } } }` costs 1 + 10. A field
may name its own price with `strawberry.field(metadata=priced(...))`: a weight, and
`batched=True` for one loaded through a DataLoader (one call however many parents ask).
Variables count at their values. The price, and the limit, is in every answer's
`extensions.cost`; over the limit the operation does not run (QUERY_TOO_COSTLY).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import cachetools
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType
from strawberry.extensions import SchemaExtension

from bff.graphql.errors import error_extensions
from services.kit.errors import Action, ApiError
from services.kit.paging import clamp_limit

INFERENCE_WEIGHT = 10
_COST, _BATCHED = "cost", "cost_batched"
_PREDICTION_FIELDS = frozenset({"predict", "prediction", "predictions"})
_PAGE_ARGUMENT = "first"
_DEFINITION = "strawberry-definition"  # where strawberry keeps a field's own definition
_CACHE_SIZE = 512


def priced(weight: int, *, batched: bool = False) -> dict[str, Any]:
    """A field's `metadata` naming its price (and whether a DataLoader batches it)."""
    return {_COST: weight, _BATCHED: batched}


def query_too_costly(cost: int, limit: int) -> ApiError:
    return ApiError(
        400,
        "QUERY_TOO_COSTLY",
        f"this operation would cost {cost} downstream calls; at most {limit} may run",
        user_message="This request asks for too much at once.",
        action=Action.FIX_INPUT,
        details={"cost": cost, "limit": limit},
    )


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The price of the operation of `document` that would run, with these variables."""
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    values = dict(variables or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    pricing = _Pricing(schema, fragments, values)
    return pricing.selections(root, operation.selection_set, 1)


class _Pricing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables

    def selections(self, parent: Any, selection_set: SelectionSetNode, times: int) -> int:
        total = 0
        for field, owner in self._fields(parent, selection_set):
            definition = owner.fields.get(field.name.value)
            if definition is None:  # __typename, introspection: nothing downstream
                continue
            weight, batched = _price(field.name.value, definition)
            total += weight * (1 if batched else times)
            named = get_named_type(definition.type)
            if field.selection_set is not None and not is_leaf_type(named):
                total += self.selections(named, field.selection_set, times * self._page(field))
        return total

    def _fields(
        self, parent: Any, selection_set: SelectionSetNode
    ) -> Iterator[tuple[FieldNode, GraphQLObjectType | GraphQLInterfaceType]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                    yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                owner = self._schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(owner, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    owner = self._schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(owner, fragment.selection_set)

    def _page(self, field: FieldNode) -> int:
        """How many items a paged field answers at most (1 for any other field)."""
        for argument in field.arguments or ():
            if argument.name.value != _PAGE_ARGUMENT:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return clamp_limit(int(value.value))
            if isinstance(value, VariableNode):
                given = self._variables.get(value.name.value)
                return clamp_limit(given if isinstance(given, int) else None)
            if isinstance(value, NullValueNode):
                return clamp_limit(None)
        return clamp_limit(None) if _PAGE_ARGUMENT in _arguments(field) else 1


def _arguments(field: FieldNode) -> set[str]:
    return {argument.name.value for argument in field.arguments or ()}


def _price(name: str, definition: Any) -> tuple[int, bool]:
    field = definition.extensions.get(_DEFINITION)
    metadata = getattr(field, "metadata", None) or {}
    if _COST in metadata:
        return int(metadata[_COST]), bool(metadata.get(_BATCHED))
    if name in _PREDICTION_FIELDS:
        return INFERENCE_WEIGHT, False
    if getattr(field, "base_resolver", None) is None:
        return 0, False
    return (0 if is_leaf_type(get_named_type(definition.type)) else 1), False


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


class QueryCost(SchemaExtension):
    """Prices each operation before it runs; refuses it over `max_cost` (QUERY_TOO_COSTLY)."""

    # (document, operation, variables) -> price; shared by every request of the schema
    _prices: cachetools.LRUCache[tuple[str, str | None, bytes], int] = cachetools.LRUCache(
        _CACHE_SIZE
    )

    def __init__(self, *, max_cost: int) -> None:
        self._max_cost = max_cost
        self._cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            self._cost = self._price(document)
            if self._cost > self._max_cost:
                refusal = query_too_costly(self._cost, self._max_cost)
                raise GraphQLError(
                    refusal.message,
                    extensions={
                        **error_extensions(refusal),
                        "cost": self._cost,
                        "limit": self._max_cost,
                    },
                )
        yield

    def _price(self, document: DocumentNode) -> int:
        context = self.execution_context
        try:
            key = (context.query or "", context.operation_name, orjson.dumps(context.variables))
        except TypeError:  # variables orjson cannot write: price them uncached
            return operation_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
        price = self._prices.get(key)
        if price is None:
            price = self._prices[key] = operation_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
        return price

    def get_results(self) -> dict[str, Any]:
        if self._cost is None:
            return {}
        return {"cost": {"requested": self._cost, "limit": self._max_cost}}
