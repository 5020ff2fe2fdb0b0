"""The checked-in OpenAPI/SDL documents in proto/ must match what the code generates."""

from __future__ import annotations

import difflib
import json

from infra.contracts import OPENAPI_DIR, expected_files


def test_checked_in_contracts_match_the_code() -> None:
    stale = []
    for path, expected in expected_files().items():
        actual = path.read_text() if path.exists() else ""
        if actual != expected:
            diff = "".join(
                list(
                    difflib.unified_diff(
                        actual.splitlines(True), expected.splitlines(True), str(path), "generated"
                    )
                )[:40]
            )
            stale.append(diff or f"{path} is missing")
    assert not stale, "contracts drifted; run `make contracts`:\n" + "\n".join(stale)


def test_every_internal_route_needs_a_service_token() -> None:
    """Each internal operation declares the 401/403 it answers without a valid service token."""
    import importlib
    import tempfile
    from pathlib import Path

    from fastapi.routing import APIRoute

    from infra.contracts import DEPLOYABLES
    from services.kit.dependencies import service_principal

    for name, app_module, settings_module, settings_class in DEPLOYABLES:
        settings_cls = getattr(importlib.import_module(settings_module), settings_class)
        with tempfile.TemporaryDirectory() as tmp:
            app = importlib.import_module(app_module).create_app(settings_cls(data_dir=Path(tmp)))
        for route in app.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/internal/"):
                calls = {dep.call for dep in route.dependant.dependencies}
                assert service_principal in calls or any(
                    service_principal in {d.call for d in dep.dependencies}
                    for dep in route.dependant.dependencies
                ), f"{name}: {route.path} does not check the service token"


def test_every_operation_documents_its_errors_in_the_mobile_error_body() -> None:
    """Each operation of each document lists its error statuses with the one error schema,
    and the credential it needs: a user token on the BFF's API, a service token inside."""
    for path in sorted(OPENAPI_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        for route, operations in document["paths"].items():
            for method, operation in operations.items():
                where = f"{path.name} {method.upper()} {route}"
                responses = operation["responses"]
                assert {"400", "404", "409", "422"} <= set(responses), where
                schema = responses["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, where
                if route.startswith("/internal/"):
                    assert operation.get("security") == [{"serviceToken": []}], where
                if operation.get("security"):
                    assert {"401", "403"} <= set(responses), where
    bff = json.loads((OPENAPI_DIR / "bff.json").read_text())["paths"]
    for route in ("/api/v1/dashboard", "/api/v1/datasets", "/api/v1/models", "/api/v1/uploads"):
        for operation in bff[route].values():
            assert operation["security"] == [{"userToken": []}], route
