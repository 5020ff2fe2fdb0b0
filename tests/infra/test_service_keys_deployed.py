"""Compose and Kubernetes give each service its own signing key and its callers' public keys.

Least privilege between services holds only if no deployment hands a service another's
private key, and every production process gets the keys its settings demand (else it does
not start). The dev overlay's keys are rendered, resolved and run through the settings and
the token code, so a bad paste there fails here rather than in a cluster.
"""

from __future__ import annotations

import base64
import importlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.kit.service_auth import ServiceTokenIssuer, ServiceTokenVerifier
from services.kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "bff": ("bff.settings", "BffSettings"),
    "datasets": ("services.datasets.settings", "DatasetsSettings"),
    "training": ("services.training.settings", "TrainingSettings"),
    "inference": ("services.inference.settings", "InferenceSettings"),
    "notifications": ("services.notifications.settings", "NotificationsSettings"),
}


def _settings_class(name: str) -> type[ServiceSettings]:
    module, cls = SETTINGS[name]
    settings_cls: type[ServiceSettings] = getattr(importlib.import_module(module), cls)
    return settings_cls


def _key_variables(name: str) -> set[str]:
    """The key settings a production `name` needs: a signing key if it calls, trusted keys
    if it is called."""
    cls, prefix = _settings_class(name), f"TERN_{name.upper()}_"
    needed = set()
    if cls.calls:
        needed.add(f"{prefix}SERVICE_SIGNING_KEY")
    if cls.accepted_callers:
        needed.add(f"{prefix}SERVICE_TRUSTED_KEYS")
    return needed


def _deployments(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["env"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] in SETTINGS
    }


def _base_docs() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((ROOT / "infra/k8s/base").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_compose_gives_each_service_only_its_own_keys(name: str) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env: dict[str, str] = compose["services"][name]["environment"]
    keys = {v for v in env if "SERVICE_SIGNING_KEY" in v or "SERVICE_TRUSTED_KEYS" in v}
    assert keys == _key_variables(name)
    assert not any(v.endswith("SERVICE_TOKEN_SECRET") for v in env)  # no shared secret
    signing = env.get(f"TERN_{name.upper()}_SERVICE_SIGNING_KEY")
    if signing is not None:  # from the host variable named for this service alone
        assert signing.startswith(f"${{TERN_{name.upper()}_SERVICE_SIGNING_KEY:?")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_kubernetes_gives_each_service_only_its_own_keys(name: str) -> None:
    env = _deployments(_base_docs())[name]
    keys = {e["name"] for e in env if "SERVICE_SIGNING_KEY" in e["name"] or "TRUSTED" in e["name"]}
    assert keys == _key_variables(name)
    assert not any(e["name"].endswith("SERVICE_TOKEN_SECRET") for e in env)
    for entry in env:
        if entry["name"].endswith("SERVICE_SIGNING_KEY"):
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "tern-secrets", "key": f"{name}-service-signing-key"}
        if entry["name"].endswith("SERVICE_TRUSTED_KEYS"):  # public: a ConfigMap
            assert entry["valueFrom"]["configMapKeyRef"]["name"] == "tern-config"


def _resolved_env(docs: list[dict[str, Any]], env: list[dict[str, Any]]) -> dict[str, str]:
    secrets = {
        d["metadata"]["name"]: {
            k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()
        }
        for d in docs
        if d["kind"] == "Secret"
    }
    config = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    resolved = {}
    for entry in env:
        if "value" in entry:
            resolved[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["secretKeyRef"]
            if ref["key"] in secrets.get(ref["name"], {}):  # else optional, or pushed later
                resolved[entry["name"]] = secrets[ref["name"]][ref["key"]]
        elif "configMapKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["configMapKeyRef"]
            if ref["key"] in config.get(ref["name"], {}):
                resolved[entry["name"]] = config[ref["name"]][ref["key"]]
    return resolved


def test_the_dev_overlay_keys_let_each_caller_reach_its_callees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "infra/k8s/dev")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    settings: dict[str, ServiceSettings] = {}
    for name, env in _deployments(docs).items():
        for variable in [v for v in os.environ if v.startswith("TERN_")]:
            monkeypatch.delenv(variable)
        for variable, value in _resolved_env(docs, env).items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv(f"TERN_{name.upper()}_DATA_DIR", str(tmp_path))
        settings[name] = _settings_class(name)()
    for caller, caller_settings in settings.items():
        key = caller_settings.signing_key()
        for callee in caller_settings.calls:
            assert key is not None, caller
            callee_settings = settings[callee]
            verifier = ServiceTokenVerifier(
                callee_settings.trusted_keys(), callee, callers=callee_settings.accepted_callers
            )
            token = ServiceTokenIssuer(key, caller).mint(callee, "user-1")
            assert verifier.verify(f"Bearer {token}").caller == caller
