"""How many CPUs this process may use, and so how many threads each training may take.

A container usually sees every core of its host in `os.cpu_count()`; what it may really use is
its affinity mask (cpusets, `taskset`) and its cgroup CPU quota (Kubernetes CPU limits).
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on: its affinity mask, capped by its cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        # Rounded down: a thread more than the quota is throttled, which costs more than it adds.
        cpus = min(cpus, int(quota))
    return max(1, cpus)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup's CPU limit in CPUs (v2 `cpu.max`, else v1 CFS quota); None when unlimited."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else _ratio(quota, period)
    for controller in ("cpu", "cpu,cpuacct"):
        quota_us = _read(root / controller / "cpu.cfs_quota_us")
        if quota_us is not None:
            period_us = _read(root / controller / "cpu.cfs_period_us")
            return _ratio(quota_us, period_us or "")
    return None


def capped_threads(requested: int, cpus: int | None = None) -> int:
    """`requested` threads, never more than the CPUs this process may use, and at least one."""
    cpus = available_cpus() if cpus is None else cpus
    return max(1, min(requested, cpus))


def threads_per_training(requested: int, concurrency: int, cpus: int | None = None) -> int:
    """Threads for each of `concurrency` trainings at once, so that together they fit the CPUs."""
    cpus = available_cpus() if cpus is None else cpus
    return max(1, min(requested, cpus // max(1, concurrency)))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_value, period_value = int(quota), int(period or "100000")
    except ValueError:
        return None
    if quota_value <= 0 or period_value <= 0:  # v1 writes -1 for "no limit"
        return None
    return quota_value / period_value
