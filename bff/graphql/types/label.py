"""A label on one row of a dataset version, and a label write that met a newer revision."""

from __future__ import annotations

from datetime import datetime

import strawberry

from proto.datasets import Label as LabelContract
from proto.datasets import LabelConflict as LabelConflictContract


@strawberry.type
class Label:
    """`revision` grows by one on every change; send it back as `baseRevision` to change it."""

    dataset_id: strawberry.ID
    version: int
    row_id: int
    label: str | None
    note: str | None
    revision: int
    updated_at: datetime

    @classmethod
    def from_model(cls, label: LabelContract) -> Label:
        """From a `Label` as the datasets service answers it."""
        return cls(
            dataset_id=strawberry.ID(str(label.dataset_id)),
            version=label.version,
            row_id=label.row_id,
            label=label.label,
            note=label.note,
            revision=label.revision,
            updated_at=label.updated_at,
        )


@strawberry.type
class LabelConflict:
    """A write not applied: the server holds another revision (`current`, null if none)."""

    row_id: int
    base_revision: int
    current: Label | None

    @classmethod
    def from_model(cls, conflict: LabelConflictContract) -> LabelConflict:
        current = conflict.current
        return cls(
            row_id=conflict.row_id,
            base_revision=conflict.base_revision,
            current=Label.from_model(current) if current is not None else None,
        )
