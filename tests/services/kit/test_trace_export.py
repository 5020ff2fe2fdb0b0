"""OpenTelemetry export: two apps on loopback post their spans to a real OTLP/HTTP receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import text

from services.datasets.settings import DatasetsSettings
from services.kit.app_factory import create_service_app
from services.kit.errors import ApiError
from services.kit.runtime import ServiceRuntime
from services.kit.tracing import traces_url
from services.training.settings import TrainingSettings
from tests.support.logs import access_lines
from tests.support.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.support.servers import serve_app
from tests.support.settings import make_settings

_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
_PHONE_SPAN = "00f067aa0ba902b7"


def _leaf(tmp_path: Path, endpoint: str | None) -> FastAPI:
    settings = make_settings(TrainingSettings, tmp_path / "leaf", otlp_endpoint=endpoint)
    app = create_service_app(settings, title="leaf", migrations_dir=None)
    failures = [503]  # /flaky answers this first, then 200

    @app.get("/leaf")
    async def leaf(request: Request) -> dict[str, object]:
        runtime: ServiceRuntime = request.app.state.runtime
        async with runtime.db.transaction() as session:
            await session.execute(text("SELECT 1"))
        return {
            "traceparent": request.headers.get("traceparent"),
            "in_span": trace.get_current_span().get_span_context().is_valid,
        }

    @app.get("/flaky")
    async def flaky(request: Request) -> dict[str, str | None]:
        if failures:
            raise ApiError(failures.pop(), "BUSY", "try again")
        return {"traceparent": request.headers.get("traceparent")}

    return app


def _edge(tmp_path: Path, leaf_url: str, endpoint: str | None) -> FastAPI:
    settings = make_settings(DatasetsSettings, tmp_path / "edge", otlp_endpoint=endpoint)
    app = create_service_app(
        settings, title="edge", migrations_dir=None, downstreams={"training": leaf_url}
    )

    @app.get("/hop/{leaf}")
    async def hop(leaf: str, request: Request) -> dict[str, object]:
        runtime: ServiceRuntime = request.app.state.runtime
        answer: dict[str, object] = await runtime.client("training").get_json(f"/{leaf}")
        return answer

    return app


@asynccontextmanager
async def _two_apps(tmp_path: Path, endpoint: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """The edge (datasets) calling the leaf (training), both served on loopback; their
    lifespans end (and flush their spans) when the block does."""
    async with serve_app(_leaf(tmp_path, endpoint)) as leaf_url:
        async with serve_app(_edge(tmp_path, leaf_url, endpoint)) as edge_url:
            async with httpx.AsyncClient(base_url=edge_url) as client:
                yield client


def _one(spans: list[ReceivedSpan]) -> ReceivedSpan:
    assert len(spans) == 1, spans
    return spans[0]


def _names_as_parent(traceparent: str, span: ReceivedSpan) -> bool:
    """Whether a sampled traceparent makes `span` the parent (the SDK's flags also say its
    trace id is random: 03)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    return (version, trace_id, span_id) == ("00", span.trace_id, span.span_id) and bool(
        int(flags, 16) & 1
    )


async def test_one_request_is_one_trace_across_both_apps_and_their_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_receiver() as receiver:
        async with _two_apps(tmp_path, receiver.url) as client:
            answer = await client.get("/hop/leaf", headers={"x-request-id": "r-1"})
    logged = capsys.readouterr().out

    assert answer.status_code == 200 and answer.json()["in_span"] is True
    edge = _one(receiver.of(service="datasets", kind="SERVER"))
    call = _one(receiver.of(service="datasets", kind="CLIENT"))
    leaf = _one(receiver.of(service="training", kind="SERVER"))
    database = _one(receiver.of(service="training", kind="CLIENT"))
    # The phone sent no traceparent: the edge's server span starts the trace.
    assert edge.parent_span_id is None
    assert call.parent_span_id == edge.span_id
    assert leaf.parent_span_id == call.span_id
    assert database.parent_span_id == leaf.span_id
    assert len({edge.trace_id, call.trace_id, leaf.trace_id, database.trace_id}) == 1
    assert (edge.name, leaf.name, call.name, database.name) == (
        "GET /hop/{leaf}",
        "GET /leaf",
        "GET",
        "db.transaction",
    )
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["peer.service"] == "training"
    assert call.attributes["url.full"].endswith("/leaf")
    assert database.attributes["db.system.name"] == "sqlite"
    # The leaf was called with the client span as its parent...
    assert _names_as_parent(answer.json()["traceparent"], call)
    # ...and both access lines carry the exported ids.
    [edge_line] = access_lines(logged, route="/hop/{leaf}", request_id="r-1")
    [leaf_line] = access_lines(logged, route="/leaf", request_id="r-1")
    assert (edge_line["trace_id"], edge_line["span_id"]) == (edge.trace_id, edge.span_id)
    assert (leaf_line["trace_id"], leaf_line["span_id"]) == (leaf.trace_id, leaf.span_id)
    assert leaf_line["parent_span_id"] == call.span_id
    # Probes and the receiver's own traffic are no spans; everything went to /v1/traces.
    assert not [s for s in receiver.spans if "/health" in s.name]
    assert set(receiver.posts) == {"/v1/traces"}


async def test_an_incoming_traceparent_is_continued_and_its_sampling_decision_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unsampled_trace = "a" * 32
    with otlp_receiver() as receiver:
        async with _two_apps(tmp_path, receiver.url) as client:
            sampled = await client.get(
                "/hop/leaf",
                headers={"traceparent": f"00-{_TRACE_ID}-{_PHONE_SPAN}-01", "x-request-id": "s"},
            )
            unsampled = await client.get(
                "/hop/leaf",
                headers={
                    "traceparent": f"00-{unsampled_trace}-{_PHONE_SPAN}-00",
                    "x-request-id": "u",
                },
            )
    logged = capsys.readouterr().out

    assert sampled.status_code == unsampled.status_code == 200
    edge = _one(receiver.of(service="datasets", kind="SERVER"))
    assert (edge.trace_id, edge.parent_span_id) == (_TRACE_ID, _PHONE_SPAN)
    assert {s.trace_id for s in receiver.spans} == {_TRACE_ID}
    [edge_line] = access_lines(logged, route="/hop/{leaf}", request_id="s")
    assert (edge_line["trace_id"], edge_line["parent_span_id"]) == (_TRACE_ID, _PHONE_SPAN)
    # A caller that did not sample: nothing exported, yet the logs still name its trace and
    # the flag travels on, so no service downstream samples it either.
    [leaf_line] = access_lines(logged, route="/leaf", request_id="u")
    assert leaf_line["trace_id"] == unsampled_trace
    assert unsampled.json()["traceparent"].startswith(f"00-{unsampled_trace}-")
    assert unsampled.json()["traceparent"].endswith("-00")


async def test_each_retry_is_a_client_span_of_its_own(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        async with _two_apps(tmp_path, receiver.url) as client:
            answer = await client.get("/hop/flaky")

    assert answer.status_code == 200
    first, retry = sorted(
        receiver.of(service="datasets", kind="CLIENT"),
        key=lambda s: s.attributes.get("http.request.resend_count", 0),
    )
    assert first.error and first.attributes["http.response.status_code"] == 503
    assert not retry.error and retry.attributes["http.request.resend_count"] == 1
    callees = {s.parent_span_id for s in receiver.of(service="training", kind="SERVER")}
    assert callees == {first.span_id, retry.span_id}
    assert _names_as_parent(answer.json()["traceparent"], retry)


async def test_without_an_endpoint_no_span_is_made_and_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with otlp_receiver() as receiver:
        # Even OpenTelemetry's and FastAPI's own switches pointing at a receiver change nothing.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
        async with _two_apps(tmp_path, None) as client:
            answer = await client.get("/hop/leaf", headers={"x-request-id": "r-0"})
    logged = capsys.readouterr().out

    assert answer.status_code == 200
    assert answer.json()["in_span"] is False
    assert receiver.posts == []
    # The kit's own trace context, as before: the leaf's parent is the edge's span.
    [edge_line] = access_lines(logged, route="/hop/{leaf}", request_id="r-0")
    expected = f"00-{edge_line['trace_id']}-{edge_line['span_id']}-01"
    assert answer.json()["traceparent"] == expected
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_the_endpoint_and_ratio_are_read_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERN_DATASETS_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("TERN_DATASETS_TRACE_SAMPLE_RATIO", "0.25")

    settings = DatasetsSettings()

    assert (settings.otlp_endpoint, settings.trace_sample_ratio) == ("http://collector:4318", 0.25)
    assert TrainingSettings().otlp_endpoint is None
    with pytest.raises(ValidationError, match="OTLP endpoint"):
        DatasetsSettings(otlp_endpoint="collector:4318")
    with pytest.raises(ValidationError):
        DatasetsSettings(trace_sample_ratio=1.5)
    # A base URL gets the traces path; a full one is taken as it is.
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"
