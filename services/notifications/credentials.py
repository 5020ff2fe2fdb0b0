"""Provider credentials: read from the configured files, or made once for development and tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.notifications.settings import NotificationsSettings

DEV_SERVICE_ACCOUNT_FILE = "dev-fcm-service-account.json"
DEV_APNS_KEY_FILE = "dev-apns-key.p8"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a Google service-account JSON that sign FCM token requests."""

    client_email: str
    private_key: str
    private_key_id: str


class CredentialsError(Exception):
    """A credentials file is missing or unreadable; the message names the variable."""


def load_service_account(settings: NotificationsSettings) -> ServiceAccount:
    """The FCM service account from fcm_credentials_file, or the generated dev one."""
    path = settings.fcm_credentials_file or _dev_service_account(settings)
    try:
        raw = orjson.loads(path.read_bytes())
        return ServiceAccount(
            client_email=str(raw["client_email"]),
            private_key=str(raw["private_key"]),
            private_key_id=str(raw.get("private_key_id", "")),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise CredentialsError(
            f"TERN_NOTIFICATIONS_FCM_CREDENTIALS_FILE ({path}) is not a readable "
            f"service-account JSON: {exc}"
        ) from exc


def load_apns_key(settings: NotificationsSettings) -> str:
    """The APNs ES256 signing key (PEM) from apns_key_file, or the generated dev one."""
    path = settings.apns_key_file or _dev_apns_key(settings)
    try:
        pem = path.read_text()
        serialization.load_pem_private_key(pem.encode(), password=None)
    except (OSError, ValueError) as exc:
        raise CredentialsError(
            f"TERN_NOTIFICATIONS_APNS_KEY_FILE ({path}) is not a readable .p8 key: {exc}"
        ) from exc
    return pem


def _dev_service_account(settings: NotificationsSettings) -> Path:
    path = settings.service_dir / DEV_SERVICE_ACCOUNT_FILE
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        account = {
            "type": "service_account",
            "project_id": settings.fcm_project_id,
            "private_key_id": os.urandom(20).hex(),
            "private_key": _pem(key),
            "client_email": f"tern-dev@{settings.fcm_project_id}.iam.gserviceaccount.com",
            "token_uri": settings.fcm_token_uri,
        }
        _write_private(path, orjson.dumps(account, option=orjson.OPT_INDENT_2))
    return path


def _dev_apns_key(settings: NotificationsSettings) -> Path:
    path = settings.service_dir / DEV_APNS_KEY_FILE
    if not path.exists():
        _write_private(path, _pem(ec.generate_private_key(ec.SECP256R1())).encode())
    return path


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    tmp.replace(path)
