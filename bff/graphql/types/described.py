"""`@described("...")`: a resolver field with a description, typed for mypy (strawberry types
`strawberry.field(description=...)` as Any, which would make each resolver untyped).
`loaded=n` marks a field read through the request's DataLoaders (n loads): the cost limit
prices it once per operation, not once per parent, since one call serves every parent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

from bff.graphql.cost import priced

F = TypeVar("F", bound=Callable[..., Any])


def described(description: str, *, loaded: int = 0) -> Callable[[F], F]:
    """`@strawberry.field(description=description)`, keeping the resolver's type."""
    metadata = priced(loaded, batched=True) if loaded else None
    return cast(Callable[[F], F], strawberry.field(description=description, metadata=metadata))
