"""Progress passes from the training process to the worker as JSON lines, none lost or doubled."""

from __future__ import annotations

import math
from pathlib import Path

from services.training.progress import ProgressLog, ProgressReader


def test_only_complete_lines_are_read_and_only_once_stored(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    reader = ProgressReader(path)
    assert reader.peek() == ([], 0)
    log = ProgressLog(str(path))
    log.write({"epoch": 1, "loss": 0.5, "val_loss": math.nan, "extra": 3})
    with path.open("a") as file:
        file.write('{"epoch": 2, "lo')  # the writer is mid-line

    steps, offset = reader.peek()
    assert steps == [
        {
            "epoch": 1.0,
            "loss": 0.5,
            "val_loss": None,
            "metric": None,
            "val_metric": None,
            "eta_s": None,
        }
    ]
    assert reader.peek()[0] == steps  # not stored yet: read again
    reader.advance(offset)
    with path.open("a") as file:
        file.write('ss": 0.4}\n')
    assert [s["epoch"] for s in reader.peek()[0]] == [2.0]
