"""`make bench`: run every tests/bench/bench_*.py and write its results to tests/bench/results/.

`python -m tests.bench kit_overhead` runs only the named benchmarks.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _benchmarks() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def main(names: list[str]) -> int:
    selected = names or _benchmarks()
    unknown = sorted(set(selected) - set(_benchmarks()))
    if unknown:
        print(f"unknown benchmarks: {unknown}; known: {_benchmarks()}", file=sys.stderr)
        return 2
    for name in selected:
        print(f"running {name} ...", flush=True)
        result = importlib.import_module(f"tests.bench.bench_{name}").run()
        json_path, md_path = result.write()
        print(result.markdown())
        print(f"wrote {json_path} and {md_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
