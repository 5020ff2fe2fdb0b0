"""What an operator may set in the app config, checked before it is stored: versions that
parse and are in order, https update links, flag keys the apps can name, merged flag edits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bff.app_config.service import Flag, Release
from bff.app_config.versions import is_below, parse_version
from services.kit.errors import invalid_input

PLATFORMS = ("ios", "android")
_FLAG_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def check_version(field: str, value: str | None) -> str | None:
    """`value` if it is an app version ("2.3.0"); 422 INVALID_VERSION naming the field."""
    if value is not None and parse_version(value) is None:
        raise invalid_input(
            "INVALID_VERSION", f"{field} is not a version like 2.3.0: {value!r}", field=field
        )
    return value


def check_platform(platform: str) -> str:
    """`platform` if the apps name it (X-Platform); 422 UNKNOWN_PLATFORM."""
    if platform not in PLATFORMS:
        raise invalid_input(
            "UNKNOWN_PLATFORM", f"platform is one of {', '.join(PLATFORMS)}", platform=platform
        )
    return platform


def checked_release(
    platform: str, min_version: str | None, latest_version: str | None, update_url: str | None
) -> Release:
    """A platform's release as it may be stored; 422 with a code naming what is wrong."""
    check_platform(platform)
    check_version("min_version", min_version)
    check_version("latest_version", latest_version)
    if is_below(latest_version, min_version):
        raise invalid_input(
            "VERSIONS_OUT_OF_ORDER",
            f"latest_version {latest_version} is below min_version {min_version}",
        )
    if update_url is not None and not _URL.match(update_url):
        raise invalid_input("INVALID_UPDATE_URL", "update_url is an http(s) URL")
    if min_version is not None and update_url is None:
        # A forced update with nowhere to go strands the user on the 426 screen.
        raise invalid_input("UPDATE_URL_REQUIRED", "a minimum version needs an update_url")
    return Release(min_version, latest_version, update_url)


def check_flag_key(key: str) -> str:
    """`key` if apps can name it; 422 INVALID_FLAG_KEY."""
    if not _FLAG_KEY.match(key):
        raise invalid_input(
            "INVALID_FLAG_KEY", "a flag key is 1-64 of a-z 0-9 _ . - and starts with a letter"
        )
    return key


def merged_flag(key: str, current: Flag | None, changes: Mapping[str, Any]) -> Flag:
    """The flag after an edit: `changes` holds only the fields the operator set; a new flag
    starts enabled for 0% of devices, untargeted."""
    check_flag_key(key)
    base = current or Flag(key, enabled=True, rollout_percent=0)
    enabled = changes.get("enabled", base.enabled)
    percent = changes.get("rollout_percent", base.rollout_percent)
    if enabled is None or percent is None:
        raise invalid_input("VALUE_REQUIRED", "enabled and rollout_percent cannot be null")
    platforms = changes.get("platforms", base.platforms)
    minimum = check_version("min_app_version", changes.get("min_app_version", base.min_app_version))
    maximum = check_version("max_app_version", changes.get("max_app_version", base.max_app_version))
    if is_below(maximum, minimum):
        raise invalid_input(
            "VERSIONS_OUT_OF_ORDER", f"max_app_version {maximum} is below min_app_version {minimum}"
        )
    return Flag(
        key,
        bool(enabled),
        int(percent),
        tuple(sorted(set(platforms))) if platforms is not None else None,
        minimum,
        maximum,
    )
