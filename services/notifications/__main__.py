"""`python -m services.notifications`: serve the notifications service."""

import gc

from services.kit.server import run
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings

# The cyclic collector, tuned for push fan-out (tests/bench/bench_push_fanout.py): what is
# imported by now lives as long as the process, so it is frozen out of every collection, and
# young objects are collected every 20,000 allocations instead of 700 (a push allocates a
# few dozen; with the defaults the collector took ~20% of the process's CPU at 2,000/s).
GC_YOUNG_THRESHOLD = 20_000

if __name__ == "__main__":
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    run(create_app, NotificationsSettings())
