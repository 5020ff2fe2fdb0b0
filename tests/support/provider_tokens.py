"""Credentials a push provider accepts: APNs provider tokens (ES256) and FCM access tokens."""

from __future__ import annotations

import functools
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.fake_push.fcm import FCM_SCOPE, JWT_BEARER_GRANT


@functools.cache
def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def apns_provider_token(iat: int | None = None) -> str:
    key = _ec_key()
    claims = {"iss": "TEAM123456", "iat": int(time.time()) if iat is None else iat}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "KEY1234567"})


async def fcm_access_token(client: httpx.AsyncClient) -> str:
    key = _rsa_key()
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": "tern@tern-dev.iam.gserviceaccount.com",
            "scope": FCM_SCOPE,
            "aud": "http://fake/token",
            "iat": now,
            "exp": now + 3600,
        },
        key,
        algorithm="RS256",
    )
    response = await client.post(
        "/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
