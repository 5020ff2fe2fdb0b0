"""W3C trace context: each request is a span, its outbound calls are its children, all logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from services.datasets.settings import DatasetsSettings
from services.kit.app_factory import create_service_app
from services.kit.request_context import bind, outbound_headers, parse_traceparent
from services.kit.runtime import ServiceRuntime
from services.training.settings import TrainingSettings
from tests.support.apps import running_app
from tests.support.logs import access_lines
from tests.support.servers import serve_app
from tests.support.settings import make_settings

_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
_PHONE_SPAN = "00f067aa0ba902b7"


def test_a_valid_traceparent_is_continued_and_a_bad_one_starts_a_trace() -> None:
    continued = parse_traceparent(f"00-{_TRACE_ID}-{_PHONE_SPAN}-01")
    root = parse_traceparent("00-" + "0" * 32 + f"-{_PHONE_SPAN}-01")

    assert (continued.trace_id, continued.parent_span_id) == (_TRACE_ID, _PHONE_SPAN)
    assert len(continued.span_id) == 16 and continued.span_id != _PHONE_SPAN
    assert root.trace_id != "0" * 32 and root.parent_span_id is None


async def test_outbound_calls_name_this_span_as_their_parent() -> None:
    # async: the test runs in a task of its own, so the bound ids stay in it
    trace = parse_traceparent(f"00-{_TRACE_ID}-{_PHONE_SPAN}-01")
    bind("req-1", trace)

    headers = [outbound_headers() for _ in range(2)]

    assert headers[0] == headers[1]  # every call of one span has the same parent: this span
    assert headers[0]["traceparent"] == f"00-{_TRACE_ID}-{trace.span_id}-01"
    assert headers[0]["x-request-id"] == "req-1"


def _leaf(tmp_path: Path) -> FastAPI:
    app = create_service_app(
        make_settings(TrainingSettings, tmp_path / "leaf"), title="leaf", migrations_dir=None
    )

    @app.get("/leaf")
    async def leaf(request: Request) -> dict[str, str | None]:
        return {"traceparent": request.headers.get("traceparent")}

    return app


def _edge(tmp_path: Path, leaf_url: str) -> FastAPI:
    app = create_service_app(
        make_settings(DatasetsSettings, tmp_path / "edge"),
        title="edge",
        migrations_dir=None,
        downstreams={"training": leaf_url},
    )

    @app.get("/hop")
    async def hop(request: Request) -> dict[str, str | None]:
        runtime: ServiceRuntime = request.app.state.runtime
        leaf: dict[str, str | None] = await runtime.client("training").get_json("/leaf")
        return leaf

    return app


async def test_the_span_tree_can_be_rebuilt_from_the_access_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve_app(_leaf(tmp_path)) as leaf_url:
        async with running_app(_edge(tmp_path, leaf_url)) as client:
            traced = await client.get(
                "/hop",
                headers={"traceparent": f"00-{_TRACE_ID}-{_PHONE_SPAN}-01", "x-request-id": "r-1"},
            )
            untraced = await client.get("/hop", headers={"x-request-id": "r-2"})
    logged = capsys.readouterr().out

    assert traced.status_code == untraced.status_code == 200
    [edge] = access_lines(logged, route="/hop", request_id="r-1")
    [leaf] = access_lines(logged, route="/leaf", request_id="r-1")
    assert (edge["trace_id"], edge["parent_span_id"]) == (_TRACE_ID, _PHONE_SPAN)
    assert (leaf["trace_id"], leaf["parent_span_id"]) == (_TRACE_ID, edge["span_id"])
    assert len({_PHONE_SPAN, edge["span_id"], leaf["span_id"]}) == 3
    assert traced.json()["traceparent"] == f"00-{_TRACE_ID}-{edge['span_id']}-01"

    [root] = access_lines(logged, route="/hop", request_id="r-2")
    [child] = access_lines(logged, route="/leaf", request_id="r-2")
    assert root["parent_span_id"] is None and root["trace_id"] != _TRACE_ID
    assert (child["trace_id"], child["parent_span_id"]) == (root["trace_id"], root["span_id"])
