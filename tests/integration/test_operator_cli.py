"""The operator's CLI against the real processes: the first token from the BFF's database,
then forcing an update (a phone below the minimum gets 426) and rolling a flag out to 10%."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from bff.app_config.rollout import in_rollout
from infra.local.stack import Stack

pytestmark = pytest.mark.integration

_URL = "https://apps.example/tern"


def _cli(stack: Stack, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TERN_BFF_DATA_DIR": str(stack.config.data_dir_of("bff")),
        "TERN_ADMIN_URL": stack.config.bff_url,
    }
    if "bff" in stack.config.database_urls:
        env["TERN_BFF_DATABASE_URL"] = stack.config.database_urls["bff"]
    if token is not None:
        env["TERN_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "bff.admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# One pass is enough: the CLI speaks HTTP to the BFF whatever serves it.
@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_an_operator_forces_an_update_and_rolls_a_flag_out(stack: Stack) -> None:
    minted = _cli(stack, "tokens", "bootstrap", "--name", "ci", "--all-scopes", "--quiet")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    bff = httpx.Client(base_url=stack.config.bff_url, timeout=10)
    old_phone = {"X-Platform": "ios", "X-App-Version": "1.9.0", "X-Device-ID": "old-phone"}
    assert bff.get("/api/v1/app-config", headers=old_phone).json()["force_update"] is False

    forced = _cli(
        stack, "releases", "set", "ios", "--min", "2.0.0", "--latest", "2.3.0",
        "--update-url", _URL, token=token,
    )  # fmt: skip
    refused = bff.get("/api/v1/datasets", headers=old_phone)
    rolled = _cli(stack, "flags", "set", "new_ui", "--rollout", "10", token=token)
    devices = [f"phone-{i}" for i in range(60)]
    seen = {
        device: bff.get("/api/v1/app-config", headers={"X-Device-ID": device}).json()["flags"]
        for device in devices
    }
    denied = _cli(stack, "flags", "set", "new_ui", "--rollout", "101", token=token)
    foreign = _cli(stack, "config", token="not-an-admin-token")
    audit = _cli(stack, "--json", "audit", token=token)

    assert forced.returncode == 0, forced.stderr
    assert "2.0.0" in forced.stdout
    assert refused.status_code == 426
    assert refused.json()["error"]["details"]["update_url"] == _URL
    assert rolled.returncode == 0, rolled.stderr
    assert all(seen[d]["new_ui"] == in_rollout("new_ui", d, 10) for d in devices)
    assert any(flags["new_ui"] for flags in seen.values())
    assert denied.returncode == 2  # refused by the CLI before any call
    assert foreign.returncode == 1
    assert "401 ADMIN_TOKEN_INVALID" in foreign.stderr
    actions = [entry["action"] for entry in json.loads(audit.stdout)["items"]]
    assert actions == ["flag.set", "release.set", "token.bootstrap"]
    bff.close()
