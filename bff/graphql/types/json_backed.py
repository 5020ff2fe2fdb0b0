"""GraphQL objects read from a service's JSON one field at a time, when a field is first read.

A page of 20 training jobs carries 18 fields each, and a home screen selects four or five of
them. Converting every field up front (timestamps parsed, ids made global, the dataclass built
from keyword arguments) cost more than completing the selected ones did. An object made by
`backed_by` holds the service's item and nothing else; the first read of a field (by the
executor, a resolver, `==`) converts it with the type's reader for that field and keeps the
value, so the second read is a plain attribute. Reading on demand costs more per field than
reading a set attribute, so it pays for types of many fields of which few are selected (jobs,
datasets, models: measured in process); notifications, few fields and half of them selected,
are built whole.

A type lists one reader per field in `readers`; `tests/bff/graphql/test_json_backed.py` checks
that every field of every such type has one. Objects built with the type's constructor (tests,
mutations that already hold the values) never reach a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

Reader = Callable[[dict[str, Any]], Any]

_SOURCE = "_json_source"


class JsonBacked:
    """A strawberry type whose objects may be read lazily from a service's JSON item."""

    readers: ClassVar[Mapping[str, Reader]]
    # Not cast to another type (strawberry.cast sets it on an object): found here, strawberry's
    # type check does not go through __getattr__ (an AttributeError made and caught) per item.
    __as_strawberry_type__ = None

    @classmethod
    def backed_by(cls, item: dict[str, Any]) -> Self:
        """An object of this type over `item`, as the service answered it."""
        made = object.__new__(cls)
        made.__dict__[_SOURCE] = item
        return made

    def field_value(self, name: str) -> Any:
        """What `getattr(self, name)` answers, without the failed lookup before `__getattr__`
        (an exception raised and caught per field on the first read): the plain-fields
        executor reads a backed object's fields through this."""
        values = self.__dict__
        if name in values:
            return values[name]
        return self._converted(name)

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set yet: those of an object made by `backed_by`.
        return self._converted(name)

    def _converted(self, name: str) -> Any:
        """The field read from the item and kept; the AttributeError getattr raises when the
        type has no such field or the object holds no item."""
        values = self.__dict__
        item = values.get(_SOURCE)
        read = type(self).readers.get(name)
        if item is None or read is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = values[name] = read(item)
        return value
