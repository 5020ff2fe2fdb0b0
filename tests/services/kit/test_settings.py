from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.datasets.settings import DatasetsSettings
from services.kit.settings import normalize_database_url


def test_development_accepts_the_placeholder_secret(tmp_path: Path) -> None:
    settings = DatasetsSettings(environment="development", data_dir=tmp_path)
    assert settings.service_token_secret.get_secret_value() == "change-me"


@pytest.mark.parametrize("secret", ["change-me", "", "short-secret"])
def test_production_refuses_placeholder_secrets_naming_the_variable(secret: str) -> None:
    with pytest.raises(ValidationError, match="TERN_DATASETS_SERVICE_TOKEN_SECRET"):
        DatasetsSettings(environment="production", service_token_secret=SecretStr(secret))


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
