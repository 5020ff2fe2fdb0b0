"""The whole Tern system as local processes: what `make run` and the integration tests start."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES: tuple[tuple[str, str, int], ...] = (
    # (name, python module, default port)
    ("fake_push", "services.fake_push", 8105),
    ("datasets", "services.datasets", 8101),
    ("inference", "services.inference", 8103),
    ("notifications", "services.notifications", 8104),
    ("training", "services.training", 8102),
    ("bff", "bff", 8000),
)
DATABASE_SERVICES = ("bff", "datasets", "training", "inference", "notifications")


def replica_name(name: str, index: int) -> str:
    """The process name of a deployable's `index`-th replica: its own name for the first."""
    return name if index == 1 else f"{name}-{index}"


def split_replica(process: str) -> tuple[str, int]:
    """(deployable, replica index) of a process name made by `replica_name`."""
    name, _, index = process.rpartition("-")
    return (name, int(index)) if name and index.isdigit() else (process, 1)


@dataclass(frozen=True)
class StackConfig:
    """Where and how to run: ports, data dir, secrets, and optional PostgreSQL/Redis."""

    data_dir: Path
    ports: Mapping[str, int]
    service_token_secret: str
    jwt_secret: str
    environment: str = "development"
    host: str = "127.0.0.1"
    database_urls: Mapping[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    # The ASGI server every process runs on (services/kit/server.py); None: each one's default.
    server: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Processes per deployable (default 1). Replica i is named `replica_name(name, i)` in
    # `ports` and in the Stack, keeps its own data dir under `data_dir`, and shares the
    # databases, Redis and the file store with its siblings; it calls replica i of each
    # service (wrapping round where a service has fewer), so that a request's path through
    # the replicas is known: see `downstream`.
    replicas: Mapping[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """Base URL of a process by its name (`replica_name`)."""
        if split_replica(name)[0] == "bff":
            scheme = "https" if self.tls_certfile else "http"
            return f"{scheme}://{self.host}:{self.ports[name]}"
        return f"http://{self.host}:{self.ports[name]}"

    def replica_count(self, name: str) -> int:
        return self.replicas.get(name, 1)

    def process_names(self, name: str) -> list[str]:
        """The process names of every replica of a deployable."""
        return [replica_name(name, i) for i in range(1, self.replica_count(name) + 1)]

    def downstream(self, caller: str, callee: str) -> str:
        """The process of `callee` that process `caller` calls: replica i calls replica i.

        A fixed path (rather than a balancer in front of each service) makes every
        cross-replica effect in a test deliberate: a write through one BFF replica lands on
        one service replica, a read through the other BFF lands on the other.
        """
        index = split_replica(caller)[1]
        return replica_name(callee, (index - 1) % self.replica_count(callee) + 1)

    def tls_verify(self) -> ssl.SSLContext | bool:
        """How local clients check the BFF's certificate: trust the configured (self-signed) one."""
        if self.tls_certfile is None:
            return True
        return ssl.create_default_context(cafile=str(self.tls_certfile))

    @property
    def bff_url(self) -> str:
        return self.url("bff")

    def data_dir_of(self, process: str) -> Path:
        """The first replica keeps `data_dir` itself; each other one a folder of its own."""
        return self.data_dir if process == split_replica(process)[0] else self.data_dir / process


def service_env(config: StackConfig, process: str) -> dict[str, str]:
    """The environment variables one process gets (each deployable has its own prefix);
    `process` is a deployable's name or one of its replicas' (`replica_name`)."""
    name = split_replica(process)[0]
    prefix = f"TERN_{name.upper()}_"
    env = {
        f"{prefix}ENVIRONMENT": config.environment,
        f"{prefix}HOST": config.host,
        f"{prefix}PORT": str(config.ports[process]),
        f"{prefix}DATA_DIR": str(config.data_dir_of(process)),
        f"{prefix}SERVICE_TOKEN_SECRET": config.service_token_secret,
    }
    if config.server is not None:
        env[f"{prefix}SERVER"] = config.server
    if name in config.database_urls:
        env[f"{prefix}DATABASE_URL"] = config.database_urls[name]
    if config.redis_url and name != "fake_push":
        env[f"{prefix}REDIS_URL"] = config.redis_url
    push = config.url("fake_push")
    if name == "bff":
        env[f"{prefix}JWT_SECRET"] = config.jwt_secret
        for downstream in ("datasets", "training", "inference", "notifications"):
            env[f"{prefix}{downstream.upper()}_URL"] = config.url(
                config.downstream(process, downstream)
            )
        if config.tls_certfile and config.tls_keyfile:
            env[f"{prefix}TLS_CERTFILE"] = str(config.tls_certfile)
            env[f"{prefix}TLS_KEYFILE"] = str(config.tls_keyfile)
    elif name == "training":
        for downstream in ("datasets", "inference", "notifications"):
            env[f"{prefix}{downstream.upper()}_URL"] = config.url(
                config.downstream(process, downstream)
            )
    elif name == "notifications":
        env[f"{prefix}FCM_BASE_URL"] = push
        env[f"{prefix}FCM_TOKEN_URI"] = f"{push}/token"
        env[f"{prefix}APNS_BASE_URL"] = push
    env.update({k: v for k, v in config.extra_env.items() if k.startswith(prefix)})
    return env


@dataclass
class ManagedProcess:
    name: str
    module: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def exit_code(self) -> int | None:
        return self.process.poll()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """Starts every process, waits until each is healthy, and stops them all."""

    def __init__(self, config: StackConfig, only: tuple[str, ...] | None = None) -> None:
        self.config = config
        self.only = only
        self.processes: dict[str, ManagedProcess] = {}
        self.log_dir = config.data_dir / "logs"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start all processes and return once every /health answers; raise if one dies."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, module, _port in SERVICES:
            if self.only is None or name in self.only:
                for process in self.config.process_names(name):
                    self.start_process(process, module)
        self.wait_healthy(timeout_s)

    def start_process(self, name: str, module: str | None = None) -> ManagedProcess:
        """Start one process: a deployable, or one of its replicas (`replica_name`)."""
        module = module or dict((n, m) for n, m, _ in SERVICES)[split_replica(name)[0]]
        log_path = self.log_dir / f"{name}.log"
        env = {**os.environ, **service_env(self.config, name), "PYTHONUNBUFFERED": "1"}
        log = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        managed = ManagedProcess(name, module, process, log_path)
        self.processes[name] = managed
        return managed

    def wait_healthy(self, timeout_s: float = 60.0, names: tuple[str, ...] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names or self.processes)
        with httpx.Client(timeout=1.0, verify=self.config.tls_verify()) as client:
            while pending:
                for name in sorted(pending):
                    proc = self.processes[name]
                    code = proc.exit_code()
                    if code is not None:
                        raise RuntimeError(
                            f"{name} exited with code {code} during start-up:\n{proc.tail()}"
                        )
                    base = self.config.url(name)
                    try:
                        if client.get(f"{base}{self._ready_path(name)}").status_code == 200:
                            pending.discard(name)
                    except httpx.TransportError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not healthy after {timeout_s}s: {sorted(pending)}")
                if pending:
                    time.sleep(0.1)

    def _ready_path(self, name: str) -> str:
        # The whole system is up when the BFF is ready: every service answers and is heard.
        bff = split_replica(name)[0] == "bff"
        return "/ready" if bff and self.only is None else "/health"

    def dead(self) -> list[ManagedProcess]:
        """Processes that have exited."""
        return [p for p in self.processes.values() if p.exit_code() is not None]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one process (tests use SIGKILL to simulate a crash)."""
        proc = self.processes[name].process
        proc.send_signal(sig)
        proc.wait(timeout=10)

    def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a stopped process again and wait until it is healthy."""
        self.start_process(name)
        self.wait_healthy(timeout_s, names=(name,))

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM everything (reverse start order), then SIGKILL what is left."""
        for managed in reversed(list(self.processes.values())):
            if managed.exit_code() is None:
                managed.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for managed in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                managed.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                managed.process.kill()
                managed.process.wait(timeout=5)
