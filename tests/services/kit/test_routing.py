"""Routers that decline a request by its path: the request still reaches the route it names."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import Scope

from services.kit.routing import FixedPathsRouter, PrefixedRouter


def _app() -> tuple[FastAPI, FixedPathsRouter, PrefixedRouter]:
    probes = FixedPathsRouter()
    items = PrefixedRouter(prefix="/internal/v1/items")

    @probes.get("/health")
    async def health() -> dict[str, str]:
        return {"route": "health"}

    @items.get("")
    async def list_items() -> dict[str, str]:
        return {"route": "list"}

    @items.get("/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    app = FastAPI()
    app.include_router(probes)
    app.include_router(items)

    @app.get("/internal/v1/other/{name}")
    async def other(name: str) -> dict[str, str]:
        return {"other": name}

    return app, probes, items


async def test_each_request_reaches_its_route_past_routers_that_decline_it() -> None:
    app, _, _ = _app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        answers = {
            path: (await client.get(path)).json()
            for path in (
                "/health",
                "/internal/v1/items",
                "/internal/v1/items/7",
                "/internal/v1/other/x",
            )
        }
        missing = await client.get("/internal/v1/itemsx")

    assert answers == {
        "/health": {"route": "health"},
        "/internal/v1/items": {"route": "list"},
        "/internal/v1/items/7": {"item": 7},
        "/internal/v1/other/x": {"other": "x"},
    }
    assert missing.status_code == 404


async def test_a_declining_router_tries_none_of_its_routes() -> None:
    app, probes, items = _app()
    tried: list[str] = []
    for router in (probes, items):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            original = route.matches

            def counting(scope: Scope, route: APIRoute = route, original: Any = original) -> Any:
                tried.append(route.path)
                return original(scope)

            route.matches = counting  # type: ignore[method-assign]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        await client.get("/internal/v1/other/x")
        other = list(tried)
        tried.clear()
        await client.get("/health")

    assert other == []
    assert set(tried) == {"/health"}  # the items router declined it too


async def test_a_fixed_paths_router_never_declines_a_route_with_parameters() -> None:
    router = FixedPathsRouter()

    @router.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        return {"thing": name}

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        answer = await client.get("/things/kettle")

    assert answer.json() == {"thing": "kettle"}
