import pytest

from bff.app import create_app
from bff.mobile_headers import AppVersionLabels, MobileHeaders
from bff.settings import BffSettings
from tests.support.apps import running_app
from tests.support.logs import access_lines

_PHONE = {
    "X-App-Version": "2.7.1",
    "X-Platform": "iOS",
    "X-OS-Version": "17.4.1",
    "X-Device-Model": "iPhone15,2",
    "X-Device-ID": "device-7f3a",
    "X-Timezone": "Europe/Paris",
}


def _scope(**headers: str) -> dict[str, object]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "headers": raw}


def test_headers_are_read_trimmed_and_bounded() -> None:
    scope = _scope(x_platform=" Android ", x_app_version="2.7.1 (build 9)", x_timezone="x" * 500)

    headers = MobileHeaders.from_scope(scope)

    assert headers.platform == "android"
    assert headers.platform_label == "android"
    assert headers.app_version == "2.7.1 (build 9)"
    assert headers.timezone is not None and len(headers.timezone) == 64
    assert headers.log_fields().keys() == {"platform", "app_version", "timezone"}


def test_unknown_platforms_collapse_to_other() -> None:
    assert MobileHeaders(platform="blackberry").platform_label == "other"
    assert MobileHeaders().platform_label == "other"


def test_app_version_labels_keep_major_minor_and_stay_bounded() -> None:
    labels = AppVersionLabels(limit=2)

    assert labels.label("1.2.3") == "1.2"
    assert labels.label("v1.2.9-beta") == "1.2"
    assert labels.label("3.0") == "3.0"
    assert labels.label("4.1") == "other"  # over the limit of distinct versions
    assert labels.label("nonsense") == "other"
    assert labels.label(None) == "other"


async def test_the_access_line_carries_the_mobile_headers_and_request_id(
    settings: BffSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app starts in the test, so that its log handler writes to the captured stdout.
    async with running_app(create_app(settings)) as client:
        response = await client.get(
            "/api/v1/app-config", headers={**_PHONE, "X-Request-ID": "req-mobile-1"}
        )
        minted = await client.get("/api/v1/app-config", headers=_PHONE)

    logged = capsys.readouterr().out
    [line] = access_lines(logged, request_id="req-mobile-1")
    assert response.headers["x-request-id"] == "req-mobile-1"
    assert line["route"] == "/api/v1/app-config" and line["status"] == response.status_code
    assert {name: line.get(name) for name in _LOGGED} == {
        "app_version": "2.7.1",
        "platform": "ios",  # lower-cased, as the metric label uses it
        "os_version": "17.4.1",
        "device_model": "iPhone15,2",
        "device_id": "device-7f3a",
        "timezone": "Europe/Paris",
    }
    [generated] = access_lines(logged, request_id=minted.headers["x-request-id"])
    assert generated["device_id"] == "device-7f3a"


async def test_the_access_line_leaves_out_headers_not_sent_and_bounds_long_ones(
    settings: BffSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(create_app(settings)) as client:
        response = await client.get(
            "/api/v1/app-config",
            headers={"X-Device-Model": "m" * 500, "X-Request-ID": "req-mobile-2"},
        )

    [line] = access_lines(capsys.readouterr().out, request_id="req-mobile-2")
    assert response.status_code == 200
    assert line["device_model"] == "m" * 64
    assert (set(_LOGGED) - {"device_model"}) & set(line) == set()


_LOGGED = ("app_version", "platform", "os_version", "device_model", "device_id", "timezone")
