"""`make bench`: run the benchmarks and write their results to tests/bench/results/."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("tests.bench.kit_overhead",)


def main(names: list[str]) -> int:
    selected = [b for b in BENCHMARKS if not names or b.rsplit(".", 1)[-1] in names]
    for module_name in selected:
        print(f"running {module_name} ...", flush=True)
        result = importlib.import_module(module_name).run()
        json_path, md_path = result.write()
        print(result.markdown())
        print(f"wrote {json_path} and {md_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
