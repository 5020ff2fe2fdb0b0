"""GET /api/v1/app-config and the version gate, with the config changed in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.app import create_app
from bff.app_config.service import AppConfigService, Flag
from bff.settings import BffSettings
from services.kit.database import Database
from tests.support.apps import running_app
from tests.support.bff_accounts import bff_settings, sign_up

_IOS_OLD = {"X-Platform": "ios", "X-App-Version": "1.4.0", "X-Device-ID": "phone-1"}
_IOS_NEW = {"X-Platform": "ios", "X-App-Version": "2.1.0", "X-Device-ID": "phone-1"}


@pytest.fixture
def settings(tmp_path: Path) -> BffSettings:
    return bff_settings(tmp_path, app_config_ttl_s=0)


@pytest.fixture
async def client(settings: BffSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as http:
        yield http


@pytest.fixture
async def operator(
    settings: BffSettings, client: httpx.AsyncClient
) -> AsyncIterator[AppConfigService]:
    """Another process changing the config in the same database (an admin tool)."""
    db = Database(settings.sqlalchemy_url)
    yield AppConfigService(db, ttl_s=0)
    await db.dispose()


async def test_config_is_empty_until_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/app-config", headers=_IOS_NEW)

    assert response.status_code == 200
    assert response.json() == {
        "platform": "ios",
        "min_version": None,
        "latest_version": None,
        "force_update": False,
        "update_available": False,
        "update_url": None,
        "maintenance": {"enabled": False, "message": None},
        "flags": {},
    }


async def test_changes_show_without_a_restart(
    client: httpx.AsyncClient, operator: AppConfigService
) -> None:
    await client.get("/api/v1/app-config", headers=_IOS_NEW)  # read once, then change it
    await operator.set_release(
        "ios", min_version="2.0", latest_version="2.3", update_url="https://apps.example/tern"
    )
    await operator.set_maintenance(True, "Back at 14:00 UTC")
    await operator.set_flag(Flag("new_ui", True, 100, ("ios",)))
    await operator.set_flag(Flag("android_only", True, 100, ("android",)))

    body = (await client.get("/api/v1/app-config", headers=_IOS_OLD)).json()

    assert body["min_version"] == "2.0"
    assert body["latest_version"] == "2.3"
    assert body["force_update"] is True
    assert body["update_available"] is True
    assert body["update_url"] == "https://apps.example/tern"
    assert body["maintenance"] == {"enabled": True, "message": "Back at 14:00 UTC"}
    assert body["flags"] == {"android_only": False, "new_ui": True}


async def test_flags_are_stable_per_device(
    client: httpx.AsyncClient, operator: AppConfigService
) -> None:
    await operator.set_flag(Flag("half", True, 50))
    devices = [f"device-{index}" for index in range(40)]

    async def seen() -> list[bool]:
        answers = []
        for device in devices:
            response = await client.get("/api/v1/app-config", headers={"X-Device-ID": device})
            answers.append(response.json()["flags"]["half"])
        return answers

    first = await seen()

    assert first == await seen()
    assert 0 < sum(first) < len(devices)


async def test_an_app_below_the_minimum_gets_426(
    client: httpx.AsyncClient, operator: AppConfigService
) -> None:
    await operator.set_release(
        "ios", min_version="2.0", latest_version=None, update_url="https://apps.example/tern"
    )

    old = await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@example.com", "password": "correct horse battery"},
        headers=_IOS_OLD,
    )
    android = await client.get(
        "/api/v1/me", headers={"X-Platform": "android", "X-App-Version": "1.0"}
    )
    config = await client.get("/api/v1/app-config", headers=_IOS_OLD)

    assert old.status_code == 426
    error = old.json()["error"]
    assert error["code"] == "UPGRADE_REQUIRED"
    assert error["action"] == "update_app"
    assert error["details"] == {"min_version": "2.0", "update_url": "https://apps.example/tern"}
    assert "x-request-id" in old.headers
    assert android.status_code == 401  # another platform's minimum does not apply
    assert config.status_code == 200  # the app can still learn where to update
    await sign_up(client)  # no version headers: not gated


async def test_maintenance_pauses_the_api_but_not_the_config(
    client: httpx.AsyncClient, operator: AppConfigService
) -> None:
    await operator.set_maintenance(True, "Back at 14:00 UTC")

    paused = await client.get("/api/v1/me")
    config = await client.get("/api/v1/app-config")
    await operator.set_maintenance(False)
    resumed = await client.get("/api/v1/me")

    assert paused.status_code == 503
    assert paused.json()["error"]["code"] == "MAINTENANCE"
    assert paused.json()["error"]["user_message"] == "Back at 14:00 UTC"
    assert paused.headers["retry-after"] == "60"
    assert config.json()["maintenance"]["enabled"] is True
    assert resumed.status_code == 401
