"""The CPUs a training may use: affinity mask, cgroup quota, and a share per concurrent job."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.training.cpu_budget import (
    available_cpus,
    capped_threads,
    cgroup_cpu_quota,
    threads_per_training,
)

needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform"
)


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake /sys/fs/cgroup holding `files` (relative path: content)."""
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n")
    return tmp_path


@pytest.fixture
def one_cpu() -> Iterator[int]:
    """This process pinned to one of its CPUs for the test, then given all of them back."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield min(allowed)
    finally:
        os.sched_setaffinity(0, allowed)


def test_cgroup_v2_and_v1_quotas_are_read_in_cpus(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(cgroup(tmp_path / "a", {"cpu.max": "250000 100000"})) == 2.5
    assert cgroup_cpu_quota(cgroup(tmp_path / "b", {"cpu.max": "max 100000"})) is None
    v1 = {"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000"}
    assert cgroup_cpu_quota(cgroup(tmp_path / "c", v1)) == 1.5
    unlimited = {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}
    assert cgroup_cpu_quota(cgroup(tmp_path / "d", unlimited)) is None
    assert cgroup_cpu_quota(tmp_path / "no-cgroup-here") is None


def test_a_quota_caps_the_cpus_rounded_down_but_never_below_one(tmp_path: Path) -> None:
    machine = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cpus(tmp_path / "none") == machine
    assert available_cpus(cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1
    generous = cgroup(tmp_path / "big", {"cpu.max": f"{(machine or 1) * 400000} 100000"})
    assert available_cpus(generous) == machine
    if machine and machine >= 2:
        assert available_cpus(cgroup(tmp_path / "q", {"cpu.max": "190000 100000"})) == 1


def test_concurrent_trainings_share_the_cpus() -> None:
    assert threads_per_training(4, concurrency=1, cpus=8) == 4
    assert threads_per_training(4, concurrency=2, cpus=8) == 4
    assert threads_per_training(4, concurrency=3, cpus=8) == 2
    assert threads_per_training(4, concurrency=16, cpus=8) == 1
    assert threads_per_training(1, concurrency=1, cpus=8) == 1
    assert capped_threads(10_000, cpus=3) == 3
    assert capped_threads(2, cpus=3) == 2


@needs_affinity
def test_the_affinity_mask_caps_threads(one_cpu: int) -> None:
    assert available_cpus() == 1
    assert capped_threads(8) == 1
    assert threads_per_training(8, concurrency=2) == 1
