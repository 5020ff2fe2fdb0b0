"""`make chaos`: SIGKILL each process under a steady load of the user story, restart it, and
count what the phones lost or got twice.

The whole system runs on loopback (on PostgreSQL and Redis when TEST_DATABASE_URL and
TEST_REDIS_URL are set, else on the embedded defaults). Phones, each on a thread, loop over
the user story: the dashboard, label edits through the offline queue (`/api/v1/sync/push`,
kept and replayed until applied, as an app does), preference changes, and a training job
now and then (with an Idempotency-Key, retried with the same key after a failure), whose
"model ready" push reaches the phone. Meanwhile every process in turn is killed with
SIGKILL, restarted, and timed until the dashboard answers again.

At the end the queues are drained and the jobs finished, and the summary says:
- requests and server errors (a 5xx other than 503 while a process is down is a bug);
- lost: an applied label edit that a final sync does not show, an accepted job that is gone;
- duplicated: a job created twice for one Idempotency-Key, a push delivered twice;
- resent: a push sent again because notifications was killed between the provider's answer
  and the record of it. Sending is at-least-once (services/notifications/dispatcher.py): the
  copy carries the same collapse id, so the phone shows one notification. Only a copy whose
  first send came before that kill and whose second came after it counts as resent; any
  other second copy is a duplicate;
- the time each process took to be serving again.
The exit status is 1 if anything was lost or duplicated or a server error seen.
`tests/integration/test_chaos.py` runs a short version in CI.

    python -m tests.chaos [seconds of load around each kill, default 20]
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from infra.local.stack import DATABASE_SERVICES, SERVICES, Stack, StackConfig
from tests.integration.flows import Phone, is_poke
from tests.support import backends
from tests.support.servers import free_port

PHONES = 3
KILLED = ("datasets", "training", "inference", "notifications", "bff")
CSV = b"x,y,label\n" + b"".join(f"{i},{(i * 7) % 13},{i % 2}\n".encode() for i in range(60))
_TIMEOUT = httpx.Timeout(10.0, connect=2.0)


@dataclass
class Report:
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    unavailable: int = 0  # 503s and refused connections while a process was down
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # across the notifications crash
    recovery_s: dict[str, float] = field(default_factory=dict)
    down: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # killed, restarted
    applied_edits: int = 0
    jobs: Counter[str] = field(default_factory=Counter)  # by final status
    job_errors: list[str] = field(default_factory=list)
    pushes: int = 0

    @property
    def passed(self) -> bool:
        return not (self.server_errors or self.lost or self.duplicated)

    def summary(self) -> str:
        lines = [
            f"requests {self.requests:,}, unavailable while a process was down "
            f"{self.unavailable:,}, server errors {len(self.server_errors)}",
            f"label edits applied {self.applied_edits}, jobs {dict(self.jobs)}, "
            f"model-ready pushes {self.pushes}",
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
            f"resent across the notifications crash {len(self.resent)}",
            "serving again after SIGKILL + restart: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.recovery_s.items()),
        ]
        lines += [f"  job failed: {e}" for e in self.job_errors[:20]]
        lines += [f"  server error: {e}" for e in self.server_errors[:20]]
        lines += [f"  lost: {item}" for item in self.lost[:20]]
        lines += [f"  duplicated: {item}" for item in self.duplicated[:20]]
        lines += [f"  resent: {item}" for item in self.resent[:20]]
        if self.duplicated or self.resent:
            lines += [
                f"  {name} killed {killed:%H:%M:%S.%f}, restarted {restarted:%H:%M:%S.%f}"
                for name, (killed, restarted) in self.down.items()
            ]
        return "\n".join(lines)


class _Load:
    """One phone's steady user story, on its own thread, recording what the server accepted."""

    def __init__(self, bff_url: str, report: Report, lock: threading.Lock, stop: threading.Event):
        self.client = httpx.Client(base_url=bff_url, timeout=_TIMEOUT)
        self.phone = Phone(self.client)
        self.token = uuid.uuid4().hex * 2
        self.phone.register_push_token(self.token, "ios")
        self.dataset_id = str(self.phone.upload("chaos.csv", CSV)["dataset_id"])
        self.report, self.lock, self.stop = report, lock, stop
        self.queue: list[dict[str, Any]] = []  # the offline queue: edits not applied yet
        self.applied: dict[str, str] = {}  # label id -> the value last applied
        self.revisions: dict[str, int] = {}  # label id -> its revision after our last edit
        self.job_keys: dict[str, str | None] = {}  # Idempotency-Key -> job id (None: unsure)
        self.step = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.step += 1
            self._call("GET", "/api/v1/dashboard")
            self._edit_label()
            if self.step % 5 == 0:
                self._call("PUT", "/api/v1/notification-preferences", json={"hourly_cap": 50})
            if self.step % 15 == 1 and self._active_jobs() < 2:
                self._create_job(str(uuid.uuid4()))
            time.sleep(0.05)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self.client.request(method, path, headers=self.phone.headers, **kwargs)
        except httpx.TransportError:
            with self.lock:
                self.report.requests += 1
                self.report.unavailable += 1
            return None
        with self.lock:
            self.report.requests += 1
            if response.status_code == 503:
                self.report.unavailable += 1
            elif response.status_code >= 500:
                self.report.server_errors.append(f"{method} {path}: {response.status_code}")
        return response

    def _edit_label(self) -> None:
        label_id = f"{self.dataset_id}/1/{self.step % 40}"
        self.queue.append(
            {
                "mutation_id": f"m-{self.step}",
                "entity": "labels",
                "op": "upsert",
                "id": label_id,
                "data": {"label": f"v{self.step}", "note": None},
                "base_version": self.revisions.get(label_id, 0),
            }
        )
        self.flush_queue()

    def flush_queue(self) -> None:
        """Replay the queue in order, as an app does when it is online again."""
        if not self.queue:
            return
        pushed = self._call("POST", "/api/v1/sync/push", json={"mutations": self.queue[:50]})
        if pushed is None or pushed.status_code != 200:
            return
        for result, mutation in zip(pushed.json()["results"], list(self.queue), strict=False):
            status = result["status"]
            if status in ("applied", "duplicate"):
                self.applied[mutation["id"]] = mutation["data"]["label"]
                self.revisions[mutation["id"]] = result["server_version"]
                self.queue.remove(mutation)
            elif status == "conflict":  # another edit of ours won: rebase on the server's
                self.queue.remove(mutation)
                state = result["server_state"] or {}
                self.queue.append(
                    {**mutation, "mutation_id": f"{mutation['mutation_id']}r",
                     "base_version": state.get("revision", 0)}
                )  # fmt: skip
            elif not (result["error"] or {}).get("retryable"):
                raise AssertionError(f"a label edit was refused: {result}")
            else:
                break  # the rest waits, in order

    def _active_jobs(self) -> int:
        return sum(1 for job in self.job_keys.values() if job is None)

    def _create_job(self, key: str) -> None:
        self.job_keys.setdefault(key, None)
        created = self.client_post_job(key)
        if created is not None and created.status_code in (200, 201):
            self.job_keys[key] = created.json()["id"]

    def client_post_job(self, key: str) -> httpx.Response | None:
        body = {"dataset_id": self.dataset_id, "target": "label", "model": "logistic_regression"}
        try:
            response = self.client.post(
                "/api/v1/training-jobs",
                json=body,
                headers={**self.phone.headers, "Idempotency-Key": key},
            )
        except httpx.TransportError:
            return None
        with self.lock:
            self.report.requests += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.report.server_errors.append(
                    f"POST /api/v1/training-jobs: {response.status_code}"
                )
        return response

    def settle(self, deadline: float) -> None:
        """After the faults: the queue drained, every unsure job created (same key)."""
        while (self.queue or self._active_jobs()) and time.monotonic() < deadline:
            self.flush_queue()
            for key, job in list(self.job_keys.items()):
                if job is None:
                    self._create_job(key)
            time.sleep(0.2)


def run(seconds_per_kill: float = 20.0, workdir: Path | None = None) -> Report:
    work = workdir or Path(tempfile.mkdtemp(prefix="tern-chaos-"))
    database_urls: dict[str, str] = {}
    redis_url = None
    admin_pg, admin_redis = backends.postgres_admin_url(), backends.redis_admin_url()
    if admin_pg:
        database_urls = {
            n: backends.create_postgres_database(admin_pg, n) for n in DATABASE_SERVICES
        }
    if admin_redis:
        redis_url = backends.claim_redis_database(admin_redis)
    config = StackConfig(
        data_dir=work / "data",
        ports={name: free_port() for name, _module, _port in SERVICES},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        database_urls=database_urls,
        redis_url=redis_url,
        extra_env={"TERN_TRAINING_POLL_INTERVAL_S": "0.1"},
    )
    stack = Stack(config)
    report = Report()
    try:
        stack.start(timeout_s=120)
        _chaos(stack, config, report, seconds_per_kill)
    finally:
        stack.stop()
        if admin_pg:
            for url in database_urls.values():
                backends.drop_postgres_database(admin_pg, url)
        if admin_redis and redis_url:
            backends.flush_redis_database(redis_url)
    return report


def _chaos(stack: Stack, config: StackConfig, report: Report, seconds_per_kill: float) -> None:
    lock, stop = threading.Lock(), threading.Event()
    loads = [_Load(config.bff_url, report, lock, stop) for _ in range(PHONES)]
    threads = [threading.Thread(target=load.run, daemon=True) for load in loads]
    for thread in threads:
        thread.start()
    probe = httpx.Client(base_url=config.bff_url, timeout=_TIMEOUT)
    try:
        for name in KILLED:
            time.sleep(seconds_per_kill / 2)
            killed_at = time.monotonic()
            stack.kill(name)
            killed_wall = datetime.now(UTC)  # dead by now: it sends nothing after this
            time.sleep(0.5)
            stack.restart(name, timeout_s=120)
            report.down[name] = (killed_wall, datetime.now(UTC))
            report.recovery_s[name] = _serving_again(probe, loads[0].phone.headers) - killed_at
            time.sleep(seconds_per_kill / 2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    try:
        deadline = time.monotonic() + 120
        for load in loads:
            load.settle(deadline)
        _check(loads, config, report, time.monotonic() + 120)
    finally:
        probe.close()
        for load in loads:
            load.client.close()


def _serving_again(probe: httpx.Client, headers: dict[str, str]) -> float:
    while True:
        try:
            if probe.get("/api/v1/dashboard", headers=headers).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def _check(loads: list[_Load], config: StackConfig, report: Report, deadline: float) -> None:
    for load in loads:
        phone = load.phone
        if load.queue:
            report.lost += [f"edit {m['mutation_id']} never applied" for m in load.queue]
        labels = _labels(load)
        for label_id, value in load.applied.items():
            report.applied_edits += 1
            if labels.get(label_id) != value:
                report.lost.append(
                    f"{label_id}: applied {value}, the server has {labels.get(label_id)}"
                )
        jobs = _all_jobs(load)
        accepted = {job for job in load.job_keys.values() if job is not None}
        report.lost += [
            f"job {job} accepted, then gone" for job in accepted - {j["id"] for j in jobs}
        ]
        unsure = [key for key, job in load.job_keys.items() if job is None]
        report.lost += [f"job for key {key} never created" for key in unsure]
        if len(jobs) > len(load.job_keys):
            report.duplicated.append(
                f"{len(jobs)} jobs for {len(load.job_keys)} keys ({phone.email})"
            )
        finished = _finished_jobs(load, deadline)
        report.jobs.update(job["status"] for job in finished)
        report.job_errors += [str(job["error"]) for job in finished if job["status"] == "failed"]
        succeeded = [job for job in finished if job["status"] == "succeeded"]
        pushes = _pushes(config, load.token, len(succeeded), deadline)
        report.pushes += len(pushes)
        sent = Counter(_notification_of(p) for p in pushes)
        for what, n in sent.items():
            if n > 1:
                copies = [p for p in pushes if _notification_of(p) == what]
                line = f"push {what} x{n}, received at " + ", ".join(
                    p["received_at"] for p in copies
                )
                crash = report.down.get("notifications")
                if crash is not None and resent_across(copies, crash[0]):
                    report.resent.append(line)
                else:
                    report.duplicated.append(line)
        if len(sent) < len(succeeded):
            report.lost.append(f"{len(succeeded) - len(sent)} model-ready pushes ({phone.email})")


def resent_across(copies: list[dict[str, Any]], killed: datetime) -> bool:
    """Two copies of one push, the first sent before notifications was killed and the second
    after it, with one collapse id: the resend at-least-once sending makes after a crash."""
    if len(copies) != 2:
        return False
    first, second = sorted(copies, key=lambda p: p["received_at"])
    collapse = {p["headers"].get("apns-collapse-id") for p in copies}
    return (
        datetime.fromisoformat(first["received_at"])
        <= killed
        < datetime.fromisoformat(second["received_at"])
        and len(collapse) == 1
        and None not in collapse
        and first["payload"] == second["payload"]
    )


def _notification_of(push: dict[str, Any]) -> str:
    """What a push delivers: its notification id (APNs at the top, FCM in data)."""
    payload = push["payload"]
    found = payload.get("notification_id") or (payload.get("data") or {}).get("notification_id")
    return str(found or sorted(payload.items()))


def _labels(load: _Load) -> dict[str, str | None]:
    labels: dict[str, str | None] = {}
    cursor = None
    while True:
        answer = load.client.get(
            f"/api/v1/datasets/{load.dataset_id}/versions/1/labels",
            params={"limit": 200, **({"cursor": cursor} if cursor else {})},
            headers=load.phone.headers,
        ).json()
        for label in answer["items"]:
            labels[f"{load.dataset_id}/1/{label['row_id']}"] = label["label"]
        cursor = answer.get("next_cursor")
        if not cursor:
            return labels


def _all_jobs(load: _Load) -> list[dict[str, Any]]:
    answer = load.client.get(
        "/api/v1/training-jobs", params={"limit": 200}, headers=load.phone.headers
    )
    answer.raise_for_status()
    jobs: list[dict[str, Any]] = answer.json()["items"]
    return jobs


def _finished_jobs(load: _Load, deadline: float) -> list[dict[str, Any]]:
    """Every job once finished (or as it stands at the deadline)."""
    while True:
        jobs = _all_jobs(load)
        done = [j for j in jobs if j["status"] in ("succeeded", "failed", "cancelled")]
        if len(done) == len(jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def _pushes(
    config: StackConfig, token: str, expected: int, deadline: float
) -> list[dict[str, Any]]:
    with httpx.Client(base_url=config.url("fake_push"), timeout=_TIMEOUT) as client:
        while True:
            received = [
                p
                for p in client.get("/_fake/received", params={"token": token}).json()
                if not is_poke(p)
            ]
            if len(received) >= expected or time.monotonic() > deadline:
                time.sleep(1.0)  # a duplicate would arrive now
                return [
                    p
                    for p in client.get("/_fake/received", params={"token": token}).json()
                    if not is_poke(p)
                ]
            time.sleep(0.3)


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 20.0
    report = run(seconds)
    print(report.summary())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
