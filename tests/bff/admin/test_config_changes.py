"""What an operator may store in the app config: checked releases and merged flag edits."""

from __future__ import annotations

import pytest

from bff.admin.config_changes import checked_release, merged_flag
from bff.app_config.service import Flag, Release
from services.kit.errors import ApiError

_URL = "https://apps.example/tern"


def test_a_release_with_versions_in_order_is_kept() -> None:
    assert checked_release("ios", "2.0.0", "2.3.0", _URL) == Release("2.0.0", "2.3.0", _URL)
    assert checked_release("android", None, "3.1", None) == Release(None, "3.1", None)


@pytest.mark.parametrize(
    ("platform", "minimum", "latest", "url", "code"),
    [
        ("windows", "1.0", None, _URL, "UNKNOWN_PLATFORM"),
        ("ios", "two", None, _URL, "INVALID_VERSION"),
        ("ios", "2.0", "1.9.9", _URL, "VERSIONS_OUT_OF_ORDER"),
        ("ios", "2.0", None, "ftp://apps.example", "INVALID_UPDATE_URL"),
        ("ios", "2.0", None, None, "UPDATE_URL_REQUIRED"),
    ],
)
def test_a_release_that_would_strand_users_is_refused(
    platform: str, minimum: str, latest: str | None, url: str | None, code: str
) -> None:
    with pytest.raises(ApiError) as caught:
        checked_release(platform, minimum, latest, url)

    assert (caught.value.status, caught.value.code) == (422, code)


def test_a_new_flag_starts_enabled_for_nobody() -> None:
    assert merged_flag("new_ui", None, {}) == Flag("new_ui", True, 0)


def test_an_edit_changes_only_the_fields_sent() -> None:
    current = Flag("new_ui", True, 10, ("ios",), "2.0", None)

    rolled = merged_flag("new_ui", current, {"rollout_percent": 50})
    untargeted = merged_flag("new_ui", current, {"platforms": None, "min_app_version": None})

    assert rolled == Flag("new_ui", True, 50, ("ios",), "2.0", None)
    assert untargeted == Flag("new_ui", True, 10, None, None, None)


@pytest.mark.parametrize(
    ("key", "changes", "code"),
    [
        ("New UI", {}, "INVALID_FLAG_KEY"),
        ("new_ui", {"min_app_version": "x"}, "INVALID_VERSION"),
        ("new_ui", {"min_app_version": "3.0", "max_app_version": "2.0"}, "VERSIONS_OUT_OF_ORDER"),
        ("new_ui", {"rollout_percent": None}, "VALUE_REQUIRED"),
    ],
)
def test_a_bad_flag_edit_is_refused(key: str, changes: dict[str, object], code: str) -> None:
    with pytest.raises(ApiError) as caught:
        merged_flag(key, None, changes)

    assert caught.value.code == code
