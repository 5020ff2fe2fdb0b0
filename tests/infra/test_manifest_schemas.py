"""The deploy files match their published schemas, checked offline: docker-compose.yml
against the Compose Specification (its JSON schema, vendored in tests/infra/schemas/ from
compose-spec/compose-spec at 170098ba), and every kustomize overlay, rendered, against the
Kubernetes API schemas that kubernetes-validate ships (strict: an unknown field fails)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
OVERLAYS = ("infra/k8s/base", "infra/k8s/dev", "infra/k8s/prod")
KUBERNETES_VERSION = "1.31"  # the oldest Kubernetes minor the manifests target


def test_the_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    errors = sorted(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    )
    assert errors == []


def _rendered(overlay: str) -> list[dict[str, Any]]:
    """The overlay as kubectl would apply it (kubectl is on this project's machines; where it
    is not, the base's plain manifests are checked as written)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return [
            doc
            for path in sorted((ROOT / "infra/k8s/base").glob("*.yaml"))
            if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text())
            if doc
        ]
    result = subprocess.run(
        [kubectl, "kustomize", str(ROOT / overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_matches_the_kubernetes_schemas(overlay: str) -> None:
    rendered = _rendered(overlay)
    assert rendered
    failures = []
    for doc in rendered:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert failures == []
