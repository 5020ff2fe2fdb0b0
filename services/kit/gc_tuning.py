"""The cyclic garbage collector, set for a long-running server.

With Python's defaults (a young collection every 700 allocations, each one also walking
whatever survived into the older generations now and then) a busy service spent a fifth of
its CPU in the collector: a request allocates thousands of short-lived objects, nearly none
of them in cycles. Once the app is built, what is alive (modules, the app, its settings and
pools) lives as long as the process, so it is frozen out of every collection; young objects
are then collected every 20,000 allocations (a few MB of garbage at most waits for it).
Measured on the push fan-out (tests/bench/bench_push_fanout.py) and the request path
(tests/bench/bench_request_path.py).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle_for_serving(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Freeze what is alive now out of the collector's way, and collect young objects every
    `young_threshold` allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, 10, 10)
