"""Each deployable's image holds what its entrypoint imports, and the light ones no more.

An image installs pyproject.toml's core dependencies and the group its EXTRAS build argument
names (infra/docker/Dockerfile). No Docker engine runs here, so the check is static: every
third-party module that `python -m <module>` can reach through our imports must come from a
distribution installed with that image's requirements (followed through their own
dependencies, extras and markers, as pip would), and the BFF, notifications and the fake
provider carry no data or ML stack.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.local.stack import SERVICES
from tests.support.import_graph import reachable, third_party_imports

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ML_STACK = {"numpy", "pyarrow", "scikit-learn", "torch", "onnxruntime", "matplotlib"}
LIGHT = ("bff", "services.notifications", "services.fake_push")


def _extras_built() -> dict[str, str]:
    """module -> its EXTRAS, as skaffold builds it (compose must agree)."""
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    built = {
        a["docker"]["buildArgs"]["SERVICE"]: a["docker"]["buildArgs"].get("EXTRAS", "")
        for a in skaffold["build"]["artifacts"]
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    composed = {
        s["build"]["args"]["SERVICE"]: s["build"]["args"].get("EXTRAS", "")
        for s in compose["services"].values()
        if "build" in s
    }
    assert built == composed
    return built


def _installed_with(requirements: list[str]) -> set[str]:
    """The distributions pip installs for `requirements`: them and what they require."""
    environment = {k: str(v) for k, v in default_environment().items()}
    todo = [(Requirement(line), "") for line in requirements]
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        found.add(name)
        if name == "tern":
            continue  # a group naming others of this project (`all`)
        for line in importlib.metadata.requires(requirement.name) or []:
            inner = Requirement(line)
            if inner.marker is not None and "extra" in str(inner.marker):
                todo.extend((inner, wanted) for wanted in requirement.extras)
            else:
                todo.append((inner, ""))
    return found


def _providers() -> dict[str, set[str]]:
    """Import name -> the distributions that install it."""
    return {
        name: {canonicalize_name(d) for d in distributions}
        for name, distributions in importlib.metadata.packages_distributions().items()
    }


@pytest.mark.parametrize("module", [module for _name, module, _port in SERVICES])
def test_an_image_installs_everything_its_entrypoint_imports(module: str) -> None:
    extras = [e for e in _extras_built()[module].split(",") if e]
    requirements = list(PROJECT["dependencies"])
    for extra in extras:
        requirements += PROJECT["optional-dependencies"][extra]
    installed = _installed_with(requirements)
    providers = _providers()

    missing = {
        f"{name} (imported by {ours})"
        for ours in reachable(module)
        for name in third_party_imports(ours)
        if not name.startswith("_") and not providers.get(name, set()) & installed
    }

    assert missing == set()
    if module in LIGHT:
        assert installed & ML_STACK == set()
