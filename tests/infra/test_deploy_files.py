"""docker-compose.yml, skaffold.yaml and the k8s manifests agree with the code they deploy.

No Docker engine or cluster runs here, so these files are validated, not run: every variable
they set must be a real setting of the process it is set on (a typo would silently be ignored
by pydantic-settings), and every deployable has its image, probes and limits.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local.stack import SERVICES

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "bff": ("bff.settings", "BffSettings"),
    "datasets": ("services.datasets.settings", "DatasetsSettings"),
    "training": ("services.training.settings", "TrainingSettings"),
    "inference": ("services.inference.settings", "InferenceSettings"),
    "notifications": ("services.notifications.settings", "NotificationsSettings"),
    "fake_push": ("services.fake_push.settings", "FakePushSettings"),
}
K8S_SERVICES = ("bff", "datasets", "training", "inference", "notifications")


def _settings_fields(name: str) -> set[str]:
    module, cls = SETTINGS[name]
    settings_cls = getattr(importlib.import_module(module), cls)
    return {field.upper() for field in settings_cls.model_fields}


def _assert_env_is_known(name: str, variables: list[str]) -> None:
    prefix = f"TERN_{name.upper()}_"
    fields = _settings_fields(name)
    for variable in variables:
        assert variable.startswith(prefix), f"{name}: {variable} lacks the {prefix} prefix"
        assert variable[len(prefix) :] in fields, f"{name}: {variable} is not a setting"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((ROOT / "infra/k8s").rglob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_compose_runs_every_deployable_with_known_settings() -> None:
    services = _compose()["services"]
    for name, module, _port in SERVICES:
        entry = services[name.replace("_", "-")]
        assert entry["build"]["args"]["SERVICE"] == module
        _assert_env_is_known(name, list(entry["environment"]))


def test_compose_starts_each_process_after_what_it_calls_is_healthy() -> None:
    services = _compose()["services"]
    for name, _module, port in SERVICES:
        entry = services[name.replace("_", "-")]
        probe = " ".join(entry["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health" in probe, name
        for needed, condition in entry.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, needed)
    assert set(services["bff"]["depends_on"]) == {
        "datasets",
        "training",
        "inference",
        "notifications",
    }


@pytest.mark.parametrize("name", K8S_SERVICES)
def test_k8s_deployment_has_probes_limits_and_known_settings(name: str) -> None:
    deployment = next(
        d for d in _k8s_docs() if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    )
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    _assert_env_is_known(name, [e["name"] for e in container["env"]])


def test_a_pod_on_its_own_volume_is_replaced_not_rolled() -> None:
    """A ReadWriteOnce volume attaches to one node: a rolling update would start the new
    pod beside the old one and wait for the volume for ever."""
    docs = _k8s_docs()
    rwo = {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "PersistentVolumeClaim" and d["spec"]["accessModes"] == ["ReadWriteOnce"]
    }
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
        claims = {
            v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
        }
        if claims & rwo and deployment["spec"].get("replicas", 1) == 1:
            assert deployment["spec"]["strategy"] == {"type": "Recreate"}, deployment["metadata"]


def test_every_replicated_deployment_has_a_disruption_budget() -> None:
    docs = _k8s_docs()
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app"]
        for d in docs
        if d["kind"] == "PodDisruptionBudget"
    }
    replicated = {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Deployment" and d["spec"].get("replicas", 1) > 1
    }
    assert replicated and replicated <= budgets


@pytest.mark.parametrize("name", K8S_SERVICES)
def test_the_network_lets_in_only_the_callers_the_service_accepts(name: str) -> None:
    """The NetworkPolicy and the service's own token check name the same callers."""
    policy = next(
        d for d in _k8s_docs() if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == name
    )
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app": name}
    (rule,) = policy["spec"]["ingress"]
    module, cls = SETTINGS[name]
    accepted = getattr(importlib.import_module(module), cls).accepted_callers
    if name == "bff":
        assert "from" not in rule  # the phones' entry point: open to the ingress
        return
    apps = {
        peer["podSelector"]["matchLabels"]["app"]
        for peer in rule["from"]
        if "namespaceSelector" not in peer
    }
    assert apps == accepted


def test_skaffold_builds_one_image_per_deployable() -> None:
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    built = {
        a["image"]: a["docker"]["buildArgs"]["SERVICE"] for a in skaffold["build"]["artifacts"]
    }
    assert built == {f"tern-{name.replace('_', '-')}": module for name, module, _ in SERVICES}


def test_kustomize_builds_when_kubectl_is_installed() -> None:
    """kubectl is on this project's machines; elsewhere the YAML checks above still run."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        assert _k8s_docs(), "no manifests found"
        return
    for overlay in ("infra/k8s/base", "infra/k8s/dev"):
        result = subprocess.run(
            [kubectl, "kustomize", str(ROOT / overlay)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
        assert [d["kind"] for d in rendered].count("Deployment") >= len(K8S_SERVICES)
    # The dev overlay's notifications talks to the fake provider, as a development process.
    notifications = next(
        d
        for d in rendered
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "notifications"
    )
    env = {
        e["name"]: e.get("value")
        for e in notifications["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TERN_NOTIFICATIONS_ENVIRONMENT"] == "development"
    assert env["TERN_NOTIFICATIONS_APNS_BASE_URL"] == "http://fake-push:8105"


def test_the_public_ingress_routes_only_what_phones_call() -> None:
    """/api and /graphql reach the BFF from the internet; the admin API, /metrics and the
    probes do not (they stay inside the cluster)."""
    ingress = yaml.safe_load((ROOT / "infra/k8s/prod/ingress.yaml").read_text())
    routed = {
        (path["path"], path["pathType"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routed == {("/api/", "Prefix"), ("/graphql", "Exact")}
