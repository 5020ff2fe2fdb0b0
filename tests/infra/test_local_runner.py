"""`make run` as an operator meets it: all healthy, a crashed child reported, Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.local.stack import SERVICES
from tests.support.logs import json_lines

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process groups from /proc"),
]

_HEALTHY = re.compile(r"^\s+(\w+)\s+(https?://\S+)\s+healthy \(pid (\d+)\)$", re.MULTILINE)
_START_TIMEOUT_S = 180  # six Python processes on a small shared machine


@dataclass
class Runner:
    """The runner process and the files its stdout and stderr go to."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def wait_for(self, what: str, found: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not found():
            if self.process.poll() is not None:
                raise AssertionError(f"the runner exited before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout_s} s:\n{self.output()}")
            time.sleep(0.2)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.local.run",
                "--data-dir",
                str(tmp_path / "var"),
                "--no-seed",
                "--free-ports",
            ],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    running = Runner(process, stdout, stderr)
    try:
        yield running
    finally:
        if process.poll() is None:  # a failed test: still stop everything it started
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _live_in_group(pgid: int) -> list[int]:
    """Processes of a child's session (it, or what it started) that still run (zombies aside:
    an orphan's exit status waits for PID 1, which in a container may never collect it)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _wait_until_gone(pgids: dict[str, int], timeout_s: float = 15) -> dict[str, list[int]]:
    """The groups still running after `timeout_s` (helpers exit just after their parent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {name: pids for name, pgid in pgids.items() if (pids := _live_in_group(pgid))}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_the_runner_reports_a_dead_child_and_stops_every_process_on_ctrl_c(
    runner: Runner,
) -> None:
    runner.wait_for(
        "healthy services",
        lambda: len(_HEALTHY.findall(runner.output())) == len(SERVICES),
        _START_TIMEOUT_S,
    )
    children = {name: (url, int(pid)) for name, url, pid in _HEALTHY.findall(runner.output())}
    assert set(children) == {name for name, _module, _port in SERVICES}
    assert httpx.get(f"{children['bff'][0]}/health", timeout=5).status_code == 200
    ports = {int(url.rsplit(":", 1)[1]) for url, _pid in children.values()}
    assert len(ports) == len(SERVICES) and not ports & {port for _n, _m, port in SERVICES}

    os.kill(children["datasets"][1], signal.SIGKILL)
    runner.wait_for(
        "report of the killed child",
        lambda: "!! datasets was killed by SIGKILL (exit code -9)" in runner.output(),
        30,
    )
    report = runner.stderr.read_text().split("!! datasets", 1)[1]
    assert "datasets.log" in report
    assert json_lines(report, event="service_started")  # the tail of the child's own log
    assert httpx.get(f"{children['bff'][0]}/health", timeout=5).status_code == 200

    runner.process.send_signal(signal.SIGINT)
    assert runner.process.wait(timeout=60) == 0
    assert "stopping" in runner.output()
    # Each child leads a session of its own (start_new_session): its pid is its group id.
    assert _wait_until_gone({name: pid for name, (_url, pid) in children.items()}) == {}
