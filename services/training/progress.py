"""Progress of one training, passed from the training process to the worker as JSON lines.

The training process appends one line per epoch (or estimator step) to a file in the job's work
directory; the worker reads the new lines and stores them as job events. A file needs no pipe
between processes and survives the loss of either side.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The figures one step carries; others are dropped, non-finite ones become null.
STEP_FIELDS = ("epoch", "loss", "val_loss", "metric", "val_metric", "eta_s")


class ProgressLog:
    """Appends steps to a JSON-lines file (or nowhere when there is no path)."""

    def __init__(self, path: str | None) -> None:
        self._path = Path(path) if path else None

    def write(self, step: dict[str, float]) -> None:
        """Append one step."""
        if self._path is None:
            return
        with self._path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(clean_step(step)) + "\n")


def clean_step(step: dict[str, Any]) -> dict[str, float | None]:
    """Only the step fields, finite floats or null."""
    cleaned: dict[str, float | None] = {}
    for name in STEP_FIELDS:
        value = step.get(name)
        number = float(value) if isinstance(value, int | float) else math.nan
        cleaned[name] = number if math.isfinite(number) else None
    return cleaned


class ProgressReader:
    """Reads the complete lines appended since the last read."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def peek(self) -> tuple[list[dict[str, float | None]], int]:
        """Steps written since the last `advance`, and the offset to advance to once stored."""
        try:
            with self._path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return [], self._offset
        end = data.rfind(b"\n") + 1  # a partly written last line waits for the next read
        steps = []
        for line in data[:end].splitlines():
            try:
                steps.append(clean_step(json.loads(line)))
            except (ValueError, AttributeError):
                continue
        return steps, self._offset + end

    def advance(self, offset: int) -> None:
        """The steps up to `offset` were stored."""
        self._offset = offset


# Milestones keep the change feed small: a job stores every step (an epoch, up to 1000 of
# them) as an event of its SSE stream, but its feed entry, and with it the owner's version and
# the pokes to their devices, moves at each tenth of the run only: at most 9 times an attempt,
# the finish being the tenth.
MILESTONES = 10


class ProgressMilestones:
    """Which stored progress is a milestone the owner's change feed hears of: each tenth of the
    run, once, estimated from the latest step's ETA and the time since training started. The
    job's contract carries no progress figures (those are its events): a milestone is the job
    again, so that the feed's watchers (pokes, subscriptions) hear it is moving."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._reached = 0

    def reached(self, steps: Sequence[Mapping[str, float | None]]) -> bool:
        """Whether these new steps take the run past a tenth not announced yet."""
        eta = steps[-1].get("eta_s") if steps else None
        if eta is None or eta <= 0:  # no estimate; or the last step, which the finish records
            return False
        elapsed = max(self._clock() - self._started, 0.0)
        tenth = int(MILESTONES * elapsed / (elapsed + eta))
        if tenth <= self._reached:
            return False
        self._reached = tenth
        return True
