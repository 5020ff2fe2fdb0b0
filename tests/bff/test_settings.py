from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bff.settings import BffSettings
from tests.support.bff_accounts import JWT_SECRET
from tests.support.service_keys import production_keys
from tests.support.settings import make_settings


@pytest.mark.parametrize("secret", ["change-me", "short-but-not-a-placeholder"])
def test_a_weak_jwt_secret_is_refused_outside_development(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="TERN_BFF_JWT_SECRET"):
        make_settings(BffSettings, tmp_path, environment="production", jwt_secret=SecretStr(secret))


def test_development_runs_on_defaults(tmp_path: Path) -> None:
    settings = BffSettings(data_dir=tmp_path)

    assert settings.port == 8000
    assert settings.downstream_urls()["notifications"] == "http://127.0.0.1:8104"


def test_a_real_secret_is_accepted(tmp_path: Path) -> None:
    settings = make_settings(
        BffSettings,
        tmp_path,
        environment="production",
        jwt_secret=SecretStr(JWT_SECRET),
        metrics_token=SecretStr("m" * 32),
        **production_keys("bff"),
    )

    assert settings.access_token_ttl_s == 900
