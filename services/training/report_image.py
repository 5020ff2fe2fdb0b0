"""The PNG report of a finished job: training curves, and the confusion matrix of a classifier."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot's import

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def render_report(title: str, result: dict[str, Any]) -> bytes:
    """PNG bytes: loss and metric per epoch, plus the confusion matrix when there is one."""
    history: list[dict[str, Any]] = result.get("history") or []
    confusion = result.get("confusion_matrix")
    panels = 2 + (1 if confusion else 0)
    # Figure, not pyplot: no global state, so concurrent renders on threads stay apart.
    figure = Figure(figsize=(5 * panels, 4.2), dpi=100)
    figure.suptitle(title)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    epochs = [step.get("epoch") for step in history]
    for ax, name, label in ((axes[0], "loss", "loss"), (axes[1], "metric", "metric")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            values = [step.get(prefix + name) for step in history]
            points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(
                    xs,
                    ys,
                    style,
                    markersize=3,
                    label=("validation " if prefix else "train ") + label,
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and stages are whole
        ax.set_title(label)
        if ax.lines:
            ax.legend()
    if confusion:
        _confusion(axes[2], confusion["labels"], confusion["matrix"])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _confusion(ax: Any, labels: list[str], matrix: list[list[int]]) -> None:
    ax.imshow(matrix, cmap="Blues")
    ax.set_title("confusion matrix (validation)")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ticks = range(len(labels))
    ax.set_xticks(list(ticks), labels=labels, rotation=45, ha="right")
    ax.set_yticks(list(ticks), labels=labels)
    if len(labels) <= 20:
        # White on the dark half of the colour map, black on the light half: always legible.
        threshold = max((max(row) for row in matrix if row), default=0) / 2
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                colour = "white" if count > threshold else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)
