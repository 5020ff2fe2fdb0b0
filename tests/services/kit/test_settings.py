from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bff.settings import BffSettings
from services.datasets.settings import DatasetsSettings
from services.inference.settings import InferenceSettings
from services.kit.service_keys import KNOWN_SERVICES, TrustedKey
from services.kit.settings import ServiceSettings, normalize_database_url
from services.notifications.settings import NotificationsSettings
from services.training.settings import TrainingSettings
from tests.support.service_keys import production_keys, signing_key, trusted_keys_setting

SEED = "a-development-seed-of-32-bytes-or-more"


def test_development_accepts_the_placeholder_secret(tmp_path: Path) -> None:
    settings = DatasetsSettings(environment="development", data_dir=tmp_path)
    assert settings.service_token_secret.get_secret_value() == "change-me"


@pytest.mark.parametrize("secret", ["change-me", "", "short-secret"])
def test_a_weak_seed_of_derived_keys_is_refused_outside_development(secret: str) -> None:
    with pytest.raises(ValidationError, match="TERN_DATASETS_SERVICE_TOKEN_SECRET"):
        DatasetsSettings(environment="test", service_token_secret=SecretStr(secret))


@pytest.mark.parametrize(
    ("cls", "variable"),
    [
        (BffSettings, "TERN_BFF_SERVICE_SIGNING_KEY"),
        (TrainingSettings, "TERN_TRAINING_SERVICE_SIGNING_KEY"),
        (DatasetsSettings, "TERN_DATASETS_SERVICE_TRUSTED_KEYS"),
        (InferenceSettings, "TERN_INFERENCE_SERVICE_TRUSTED_KEYS"),
        (NotificationsSettings, "TERN_NOTIFICATIONS_SERVICE_TRUSTED_KEYS"),
    ],
)
def test_production_without_service_keys_refuses_to_start(
    cls: type[ServiceSettings], variable: str
) -> None:
    """No key is ever derived in production, however good the seed: each caller needs its own
    signing key, each callee the public keys of its callers."""
    with pytest.raises(ValidationError, match=variable):
        cls(
            environment="production",
            service_token_secret=SecretStr(SEED),
            metrics_token=SecretStr("m" * 32),
            jwt_secret=SecretStr("j" * 32),
        )


def test_production_runs_on_its_keys_alone() -> None:
    settings = TrainingSettings(
        environment="production", metrics_token=SecretStr("m" * 32), **production_keys("training")
    )
    key = settings.signing_key()
    assert key is not None and key.kid == signing_key("training").kid
    assert settings.trusted_keys().owners() == frozenset(KNOWN_SERVICES)
    # A service that calls nobody needs no private key of its own.
    datasets = DatasetsSettings(
        environment="production",
        metrics_token=SecretStr("m" * 32),
        service_trusted_keys=trusted_keys_setting(),
    )
    assert datasets.signing_key() is None


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"service_signing_key": SecretStr("not-a-key")}, "TERN_DATASETS_SERVICE_SIGNING_KEY"),
        ({"service_trusted_keys": "bff"}, "TERN_DATASETS_SERVICE_TRUSTED_KEYS"),
        ({"service_trusted_keys": "bff=AAAA"}, "TERN_DATASETS_SERVICE_TRUSTED_KEYS"),
    ],
)
def test_malformed_service_keys_are_refused_naming_the_variable(
    overrides: dict[str, object], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        DatasetsSettings(environment="development", **overrides)  # type: ignore[arg-type]


def test_trusted_keys_must_name_every_caller() -> None:
    # training calls datasets too: a list without its key would lock it out.
    with pytest.raises(ValidationError, match="has no key of training"):
        DatasetsSettings(service_trusted_keys=trusted_keys_setting(("bff",)))


def test_derived_development_keys_differ_per_service_and_agree_between_services() -> None:
    """One seed gives each service its own key pair, and each callee derives its callers'
    public keys exactly as the callers derive their private keys."""
    every = {
        cls.service_name: cls(environment="development", service_token_secret=SecretStr(SEED))
        for cls in (
            BffSettings,
            DatasetsSettings,
            TrainingSettings,
            InferenceSettings,
            NotificationsSettings,
        )
    }
    keys = {name: s.signing_key() for name, s in every.items()}
    kids = {name: key.kid for name, key in keys.items() if key is not None}
    assert len(set(kids.values())) == len(KNOWN_SERVICES)
    trusted = every["datasets"].trusted_keys()
    for name, kid in kids.items():
        known = trusted.get(kid)
        assert known is not None and known.owner == name
    other_seed = DatasetsSettings(service_token_secret=SecretStr(SEED + "!")).signing_key()
    assert other_seed is not None and other_seed.kid != kids["datasets"]


def test_configured_keys_win_over_derived_ones() -> None:
    bff_key = signing_key("bff")
    settings = NotificationsSettings(
        environment="development",
        service_trusted_keys=f"{TrustedKey.of('bff', bff_key.public_key()).entry()}\n"
        f"{TrustedKey.of('training', signing_key('training').public_key()).entry()}",
    )
    assert settings.trusted_keys().owners() == {"bff", "training"}
    assert settings.trusted_keys().get(bff_key.kid) is not None


@pytest.mark.parametrize("token", [None, "change-me", "short-token"])
def test_production_refuses_to_serve_metrics_without_a_real_token(token: str | None) -> None:
    with pytest.raises(ValidationError, match="TERN_DATASETS_METRICS_TOKEN"):
        DatasetsSettings(
            environment="production",
            service_token_secret=SecretStr("s" * 32),
            metrics_token=None if token is None else SecretStr(token),
        )


def test_env_prefix_is_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERN_DATASETS_PORT", "9999")
    monkeypatch.setenv("TERN_TRAINING_PORT", "1111")
    assert DatasetsSettings().port == 9999


def test_default_database_is_a_sqlite_file_per_service(tmp_path: Path) -> None:
    url = DatasetsSettings(data_dir=tmp_path).sqlalchemy_url
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/datasets.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_map_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("environment", ["production", "development"])
def test_tls_needs_both_cert_and_key(tmp_path: Path, environment: str) -> None:
    # Even in development: a certificate without its key would quietly serve cleartext.
    with pytest.raises(ValidationError, match="TLS_KEYFILE"):
        DatasetsSettings(
            environment=environment,
            service_token_secret=SecretStr("x" * 32),
            tls_certfile=tmp_path / "cert.pem",
        )
