"""Metric labels stay bounded whatever a client sends."""

from __future__ import annotations

from services.kit.metrics import HttpMetrics, method_label


def test_only_standard_methods_get_a_label_of_their_own() -> None:
    assert [method_label(m) for m in ("GET", "PATCH", "OPTIONS")] == ["GET", "PATCH", "OPTIONS"]
    # Methods are case-sensitive: "get" is some other method, as is anything a client invents.
    assert {method_label(m) for m in ("get", "PROPFIND", "X" * 200, "")} == {"OTHER"}


def test_invented_methods_share_one_series() -> None:
    metrics = HttpMetrics("test")
    for n in range(50):
        metrics.observe(f"M{n}", "/items/{item_id}", 405, 0.001, 10)

    text = metrics.render()[0].decode()

    assert (
        'tern_http_requests_total{method="OTHER",route="/items/{item_id}",status="405"} 50.0'
        in text
    )
    assert "M1" not in text
