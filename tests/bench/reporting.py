"""Write a benchmark's figures as JSON plus a short markdown table in tests/bench/results/."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class BenchResult:
    """One benchmark's rows (same columns each) and the ratios that matter."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "---|" * len(self.columns))
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(row.get(c)) for c in self.columns) + " |")
        if self.summary:
            lines.append("")
            lines.extend(f"- **{key}**: {_cell(value)}" for key, value in self.summary.items())
        lines.extend(["", *self.notes] if self.notes else [])
        return "\n".join(lines) + "\n"

    def write(self) -> tuple[Path, Path]:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        payload = {
            "name": self.name,
            "title": self.title,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            "rows": self.rows,
            "summary": self.summary,
            "notes": self.notes,
        }
        json_path = RESULTS_DIR / f"{self.name}.json"
        md_path = RESULTS_DIR / f"{self.name}.md"
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
        md_path.write_text(self.markdown())
        return json_path, md_path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
