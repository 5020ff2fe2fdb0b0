"""Percentage rollouts are stable per device and grow monotonically."""

from __future__ import annotations

from bff.app_config.rollout import in_rollout, rollout_bucket
from bff.app_config.service import Client, Flag, flag_on
from bff.app_config.versions import is_below, parse_version

_DEVICES = [f"device-{index}" for index in range(2000)]


def test_a_device_always_lands_in_the_same_bucket() -> None:
    assert rollout_bucket("new_ui", "device-7") == rollout_bucket("new_ui", "device-7")
    assert [in_rollout("new_ui", d, 30) for d in _DEVICES] == [
        in_rollout("new_ui", d, 30) for d in _DEVICES
    ]


def test_the_share_of_devices_follows_the_percentage() -> None:
    share = sum(in_rollout("new_ui", d, 30) for d in _DEVICES) / len(_DEVICES)

    assert 0.26 < share < 0.34


def test_raising_the_percentage_only_adds_devices() -> None:
    at_10 = {d for d in _DEVICES if in_rollout("new_ui", d, 10)}
    at_50 = {d for d in _DEVICES if in_rollout("new_ui", d, 50)}

    assert at_10 < at_50


def test_flags_roll_out_independently() -> None:
    first = {d for d in _DEVICES if in_rollout("flag_a", d, 50)}
    second = {d for d in _DEVICES if in_rollout("flag_b", d, 50)}

    assert first != second


def test_targeting_by_platform_and_version() -> None:
    flag = Flag("charts", True, 100, ("ios",), "2.0", "3.0")

    assert flag_on(flag, Client("ios", "2.5.1", "d"))
    assert not flag_on(flag, Client("android", "2.5.1", "d"))
    assert not flag_on(flag, Client("ios", "1.9", "d"))
    assert not flag_on(flag, Client("ios", "3.1", "d"))
    assert not flag_on(flag, Client("ios", None, "d"))
    assert not flag_on(Flag("off", False, 100), Client("ios", "2.5", "d"))


def test_versions_compare_numerically() -> None:
    assert parse_version("v2.10.1-beta+4") == (2, 10, 1, 0)
    assert is_below("2.9", "2.10")
    assert not is_below("2.10.0", "2.10")
    assert not is_below("garbage", "2.0")
