"""Path and query integers every service and the BFF spell the same way, bounded to the
64-bit columns they are compared with (a larger one is a 422 at the edge, not a 500 inside).
The paging parameters, `cursor` and `limit`, are in `paging`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from proto.common import INT64_MAX

VersionPath = Annotated[int, Path(ge=1, le=INT64_MAX)]
"""A `{version}` in a path: a dataset's or a model's version number, from 1."""
SinceParam = Annotated[int, Query(ge=0, le=INT64_MAX)]
"""The `since` of a change feed: the `next_since` a previous page returned, 0 from the start."""
