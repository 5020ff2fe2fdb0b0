"""An error the user can fix (bad input, an id not theirs, a conflict), in a mutation's payload."""

from __future__ import annotations

import strawberry


@strawberry.type
class UserError:
    """`code` is the REST mobile code (VALIDATION_FAILED, TOO_MANY_DEVICES, ...); `field` the
    path of the input field at fault (["input", "datasetId"]), null when it is no one field."""

    code: str
    message: str
    field: list[str] | None = None
