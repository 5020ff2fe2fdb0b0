"""`python -m bff.compact.dictionaries`: train every family's dictionary again and write it."""

from __future__ import annotations

import hashlib

from bff.compact.dictionaries.training import write_all


def main() -> None:
    for path in write_all():
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        print(f"{path.name}: {len(content):,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
