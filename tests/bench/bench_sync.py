"""Delta sync against a full refetch, on a 10,000-record account with 1% changed.

One run of the real stack (embedded defaults). The account: one dataset of 10,000 rows, every
row labelled (seeded through the datasets service's bulk label API, 500 a call). Then 100 of
the labels (1%) change. Measured, as a phone asks (compact representation, brotli):

- a delta pull: POST /api/v1/sync from the cursor the phone held before the change, paged;
- a full refetch: the same account synced from nothing (what a phone without delta sync, or
  a new device, must download), paged at the largest page;
- bytes on the wire and wall time of each (median of rounds), their ratios;
- the BFF's peak resident memory while a first sync pages through the account (VmHWM);
- pokes per write burst: 20 preference writes from one device in a burst, silent pushes that
  reach the user's other device.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx

from infra.local.demo_data import churn_csv
from proto.datasets import LabelBatch, LabelWrite
from services.kit.service_auth import ServiceTokenIssuer
from tests.bench.reporting import BenchResult
from tests.bench.viewer_stack import running_stack
from tests.integration.flows import Phone, wait_for_pushes

RECORDS = 10_000
CHANGED = RECORDS // 100
ROUNDS = 5
PAGE = 1000
PHONE = {"accept": "application/json", "accept-encoding": "br"}
BURST = 20


def _pull(
    client: httpx.Client, headers: dict[str, str], cursor: str | None
) -> tuple[int, int, str]:
    """Pull until caught up: (bytes on the wire, entries, the cursor then)."""
    wire = entries = 0
    while True:
        answer = client.post(
            "/api/v1/sync", json={"cursor": cursor, "limit": PAGE}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        wire += answer.num_bytes_downloaded
        data = answer.json()
        entries += sum(len(c["upserts"]) + len(c["deletes"]) for c in data["changes"].values())
        cursor = data["cursor"]
        if not data["has_more"]:
            return wire, entries, cursor


def _label_all(base_url: str, secret: str, user_id: str, dataset_id: str, revision: int) -> None:
    tokens = ServiceTokenIssuer(secret, "bff")
    with httpx.Client(base_url=base_url, timeout=60.0) as datasets:
        for start in range(0, RECORDS, 500):
            batch = LabelBatch(
                labels=[
                    LabelWrite(row_id=row, label=f"class-{row % 7}", base_revision=revision)
                    for row in range(start, min(RECORDS, start + 500))
                ]
            )
            answer = datasets.put(
                f"/internal/v1/datasets/{dataset_id}/versions/1/labels",
                content=batch.model_dump_json(),
                headers={
                    "authorization": f"Bearer {tokens.mint('datasets', user_id)}",
                    "content-type": "application/json",
                },
            )
            assert answer.status_code == 200, answer.text


class _RssSampler:
    """The highest resident memory of a process while the block runs (sampled every 2 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = _rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_mib(self.pid))

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run() -> BenchResult:
    with running_stack("tern-bench-sync-", {"TERN_BFF_POKE_DEBOUNCE_S": "0.5"}) as (stack, config):
        with httpx.Client(base_url=config.bff_url, timeout=120.0) as client:
            phone = Phone(client)
            tablet_token = "c3" * 32
            version = phone.upload("labelled.csv", churn_csv(rows=RECORDS, seed=7))
            dataset_id = str(version["dataset_id"])
            _label_all(
                config.url("datasets"), config.service_token_secret, phone.user_id, dataset_id, 0
            )
            headers = {**phone.headers, **PHONE}

            bff_pid = stack.processes["bff"].process.pid
            rss_before = _rss_mib(bff_pid)
            with _RssSampler(bff_pid) as rss:
                _, first_entries, cursor = _pull(client, headers, None)

            # 1% of the records change.
            tokens = ServiceTokenIssuer(config.service_token_secret, "bff")
            with httpx.Client(base_url=config.url("datasets"), timeout=60.0) as datasets:
                batch = LabelBatch(
                    labels=[
                        LabelWrite(row_id=row, label="changed", base_revision=1)
                        for row in range(0, RECORDS, RECORDS // CHANGED)
                    ]
                )
                changed = datasets.put(
                    f"/internal/v1/datasets/{dataset_id}/versions/1/labels",
                    content=batch.model_dump_json(),
                    headers={
                        "authorization": f"Bearer {tokens.mint('datasets', phone.user_id)}",
                        "content-type": "application/json",
                    },
                )
                assert changed.status_code == 200 and len(changed.json()["applied"]) == CHANGED

            delta_times, full_times = [], []
            delta_bytes = full_bytes = delta_entries = 0
            for _ in range(ROUNDS):
                started = time.perf_counter()
                delta_bytes, delta_entries, _ = _pull(client, headers, cursor)
                delta_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                full_bytes, _, _ = _pull(client, headers, None)
                full_times.append(time.perf_counter() - started)

            # A burst of writes from the phone; the user's tablet gets its pokes.
            tablet = Phone.__new__(Phone)
            tablet.client, tablet.email, tablet.user_id = client, phone.email, phone.user_id
            tablet.device_id = "bench-tablet"
            login = client.post(
                "/api/v1/auth/login",
                json={"email": phone.email, "password": "correct horse battery"},
                headers={"X-Device-ID": tablet.device_id},
            )
            tablet.access_token = login.json()["access_token"]
            tablet.register_push_token(tablet_token, "ios")
            time.sleep(1.5)  # the tablet's own sign-in and device pokes pass
            before = len(
                wait_for_pushes(config.url("fake_push"), tablet_token, 0, timeout_s=0, pokes=True)
            )
            burst_started = time.monotonic()
            for n in range(BURST):
                answer = phone.put("/api/v1/notification-preferences", json={"hourly_cap": 10 + n})
                assert answer.status_code == 200
            pokes = wait_for_pushes(
                config.url("fake_push"), tablet_token, before + 1, timeout_s=5, pokes=True
            )
            first_poke_s = time.monotonic() - burst_started
            time.sleep(2.0)
            pokes = wait_for_pushes(
                config.url("fake_push"), tablet_token, 10**6, timeout_s=0, pokes=True
            )

    delta_ms = statistics.median(delta_times) * 1000
    full_ms = statistics.median(full_times) * 1000
    saved = 100 - 100 * delta_bytes / full_bytes
    rows = [
        {"pull": "delta (1% changed)", "entries": delta_entries, "wire bytes": delta_bytes,
         "ms (median)": round(delta_ms, 1)},
        {"pull": "full refetch", "entries": first_entries, "wire bytes": full_bytes,
         "ms (median)": round(full_ms, 1)},
    ]  # fmt: skip
    return BenchResult(
        name="sync",
        title=f"Delta sync vs full refetch: {RECORDS:,} records, {CHANGED} changed",
        columns=["pull", "entries", "wire bytes", "ms (median)"],
        rows=rows,
        summary={
            "bytes saved by the delta (target >= 98%)": f"{saved:.1f}%",
            "delta faster by (target >= 20x)": f"{full_ms / delta_ms:.1f}x",
            "BFF RSS before first sync (MiB)": round(rss_before, 1),
            "BFF peak RSS during the first sync, above its RSS before (MiB)": round(
                rss.peak - rss_before, 1
            ),
            f"pokes to the other device per burst of {BURST} writes": len(pokes) - before,
            "first poke after the burst began (s)": round(first_poke_s, 2),
        },
        notes=[
            "JSON with brotli; pages of 1,000 entries; wire bytes are the compressed bodies. "
            "One run on the development machine (2 cores).",
        ],
    )
