"""`make contracts`: write the OpenAPI documents and the GraphQL SDL that proto/ checks in.

The documents are generated from the apps themselves, so they cannot drift from the code;
tests/contract compares the checked-in files with a fresh generation. This lives with the
tooling, not in proto/: the contracts are imported by the apps, never the other way round.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

PROTO_DIR = Path(__file__).parent.parent / "proto"
OPENAPI_DIR = PROTO_DIR / "openapi"
SDL_PATH = PROTO_DIR / "graphql" / "schema.graphql"

# (document name, app module, settings module, settings class)
DEPLOYABLES: tuple[tuple[str, str, str, str], ...] = (
    ("bff", "bff.app", "bff.settings", "BffSettings"),
    ("datasets", "services.datasets.app", "services.datasets.settings", "DatasetsSettings"),
    ("training", "services.training.app", "services.training.settings", "TrainingSettings"),
    ("inference", "services.inference.app", "services.inference.settings", "InferenceSettings"),
    (
        "notifications",
        "services.notifications.app",
        "services.notifications.settings",
        "NotificationsSettings",
    ),
)


def openapi_document(name: str, data_dir: Path) -> dict[str, Any]:
    """The OpenAPI document of one deployable, built from its app factory (no I/O happens)."""
    _doc, app_module, settings_module, settings_class = next(d for d in DEPLOYABLES if d[0] == name)
    settings_cls = getattr(importlib.import_module(settings_module), settings_class)
    app = importlib.import_module(app_module).create_app(settings_cls(data_dir=data_dir))
    document: dict[str, Any] = app.openapi()
    document["info"]["version"] = "v1"
    return document


def graphql_sdl() -> str:
    """The BFF's GraphQL schema as SDL."""
    schema_module = importlib.import_module("bff.graphql.schema")
    return str(schema_module.build_schema().as_str()) + "\n"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and its content."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            OPENAPI_DIR / f"{name}.json": render(openapi_document(name, Path(tmp)))
            for name, *_ in DEPLOYABLES
        }
    files[SDL_PATH] = graphql_sdl()
    return files


def main() -> int:
    for path, content in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path.relative_to(PROTO_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
