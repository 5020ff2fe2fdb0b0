"""`make run`: the whole system on embedded defaults, seeded, until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

from infra.local.seed import DEMO_EMAIL, DEMO_PASSWORD, seed
from infra.local.stack import SERVICES, Stack, StackConfig


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Random secrets made once per data dir, so tokens survive a restart of `make run`."""
    path = data_dir / "dev-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {"service_token": secrets.token_urlsafe(32), "jwt": secrets.token_urlsafe(32)}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _free_port(host: str) -> int:
    """A port nothing listens on now (another program could take it before we do: dev only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _describe_exit(code: int | None) -> str:
    """How a child ended, in words: a negative code is the signal that killed it."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"


def _python() -> str:
    """This interpreter, as a command typed in the current directory would name it."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def _operator_commands(bff_url: str, data_dir: Path) -> str:
    """How to use the admin CLI (development: the first token is minted in the database)."""
    python = _python()
    return f"""Operate it (the admin API, {bff_url}/admin/v1; a dev token, minted in the database):
  export TERN_ADMIN_URL={bff_url}
  export TERN_ADMIN_TOKEN=$(TERN_BFF_DATA_DIR={data_dir} {python} -m bff.admin \\
    tokens bootstrap --name dev --all-scopes --ttl 1d --quiet)
  {python} -m bff.admin config
README.md, "Operating Tern", goes on from there (forcing an update, rolling a flag out).
"""


def _tour(bff_url: str, dataset_id: str, log_dir: Path) -> str:
    insecure = " -k" if bff_url.startswith("https") else ""
    return f"""
Tern is up. BFF: {bff_url}  (GraphQL IDE: {bff_url}/graphql, logs: {log_dir})
Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}; demo dataset: {dataset_id}

Try it:
  TOKEN=$(curl -s{insecure} {bff_url}/api/v1/auth/login -H 'content-type: application/json' \\
    -d '{{"email":"{DEMO_EMAIL}","password":"{DEMO_PASSWORD}"}}' \\
    | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  curl -s{insecure} {bff_url}/api/v1/datasets -H "authorization: Bearer $TOKEN"

The README's five-minute tour goes on from there. Ctrl-C stops everything.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    parser.add_argument("--no-seed", action="store_true", help="skip the demo user and dataset")
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free loopback ports instead of 8000 and 8101-8105 (a second copy, tests)",
    )
    args = parser.parse_args()
    data_dir: Path = args.data_dir.resolve()
    dev = _dev_secrets(data_dir)
    certfile = os.environ.get("TERN_BFF_TLS_CERTFILE")
    keyfile = os.environ.get("TERN_BFF_TLS_KEYFILE")
    host = "127.0.0.1"
    config = StackConfig(
        data_dir=data_dir,
        host=host,
        ports={
            name: _free_port(host) if args.free_ports else port for name, _module, port in SERVICES
        },
        service_token_secret=dev["service_token"],
        jwt_secret=dev["jwt"],
        tls_certfile=Path(certfile) if certfile else None,
        tls_keyfile=Path(keyfile) if keyfile else None,
    )
    stack = Stack(config)
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"starting {len(SERVICES)} processes (logs in {stack.log_dir}) ...", flush=True)
    try:
        stack.start(timeout_s=90)
        for name, _module, _port in SERVICES:
            url = config.bff_url if name == "bff" else config.url(name)
            pid = stack.processes[name].process.pid
            print(f"  {name:<14} {url}  healthy (pid {pid})", flush=True)
        if not args.no_seed:
            result = seed(config.bff_url, config.tls_verify())
            print(_tour(config.bff_url, result.dataset_id, stack.log_dir), flush=True)
        print(_operator_commands(config.bff_url, data_dir), flush=True)
        reported: set[str] = set()
        while not stopping:
            for proc in stack.dead():
                if proc.name not in reported:
                    reported.add(proc.name)
                    print(
                        f"\n!! {proc.name} {_describe_exit(proc.exit_code())}; last lines of "
                        f"{proc.log_path}:\n{proc.tail()}\n",
                        file=sys.stderr,
                        flush=True,
                    )
            time.sleep(0.5)
    except (RuntimeError, TimeoutError) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping ...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
