from bff.mobile_headers import AppVersionLabels, MobileHeaders


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
