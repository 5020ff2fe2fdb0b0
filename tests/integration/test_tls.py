"""The BFF over TLS: HTTP/2 negotiated by ALPN, as phones connect in production."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.local.stack import SERVICES, Stack, StackConfig
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_bff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    data_dir = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(data_dir)
    config = StackConfig(
        data_dir=data_dir,
        ports={name: free_port() for name, _module, _port in SERVICES},
        service_token_secret=secrets.token_urlsafe(32),
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
        tls_certfile=cert,
        tls_keyfile=key,
    )
    stack = Stack(config, only=("bff",))
    try:
        stack.start(timeout_s=60)
        yield stack, cert
    finally:
        stack.stop()


def test_alpn_negotiates_http2(tls_bff: tuple[Stack, Path]) -> None:
    stack, cert = tls_bff
    assert stack.config.bff_url.startswith("https://")
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(cert))) as client:
        response = client.get(f"{stack.config.bff_url}/health")
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"


def test_http11_clients_still_work_over_tls(tls_bff: tuple[Stack, Path]) -> None:
    stack, cert = tls_bff
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        response = client.get(f"{stack.config.bff_url}/health")
    assert response.http_version == "HTTP/1.1"
    assert response.json()["service"] == "bff"
