"""Service signing keys: each service signs its tokens with its own Ed25519 key.

A service holds one private key (`TERN_<SERVICE>_SERVICE_SIGNING_KEY`, the raw 32 bytes in
unpadded base64url) and the public keys it trusts, each bound to the service that owns it
(`TERN_<SERVICE>_SERVICE_TRUSTED_KEYS="bff=<base64url>,training=<base64url>"`). A key's id
(`kid`, carried in each token's header) is its RFC 7638 JWK thumbprint, so nothing else has
to be configured or kept in step. Outside production, a service without configured keys
derives them from the development seed (`service_token_secret`): HKDF over the service name,
so one seed gives every service its own distinct key pair.

`python -m services.kit.service_keys generate <service>` prints a new key pair for operators.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Every service that signs or checks service tokens: a development verifier derives the
# public keys of all of them, so a service calling where it may not is told so (403), not
# merely refused as unknown.
KNOWN_SERVICES = ("bff", "datasets", "training", "inference", "notifications")

_KEY_BYTES = 32
_HKDF_INFO = b"tern service signing key v1:"
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


class KeyFormatError(ValueError):
    """A key or key list that does not parse; the message says what is wrong, not the key."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One service's private key and the id its tokens name."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(private_key, key_id(private_key.public_key()))

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """A key as `generate` prints it: the raw 32-byte private key in base64url."""
        raw = _decode_key(text, "private key")
        return cls.from_private_key(Ed25519PrivateKey.from_private_bytes(raw))

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def encoded(self) -> str:
        """The private key as settings take it (a secret)."""
        return _b64(self.private_key.private_bytes_raw())


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key and the one service allowed to sign with it."""

    owner: str
    public_key: Ed25519PublicKey
    kid: str

    @classmethod
    def of(cls, owner: str, public_key: Ed25519PublicKey) -> TrustedKey:
        return cls(owner, public_key, key_id(public_key))

    def entry(self) -> str:
        """This key as one entry of a trusted-keys setting: `owner=<base64url>`."""
        return f"{self.owner}={encode_public_key(self.public_key)}"


class TrustedKeys:
    """The public keys one service accepts tokens from, by key id."""

    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self._by_kid: dict[str, TrustedKey] = {}
        for key in keys:
            known = self._by_kid.setdefault(key.kid, key)
            if known.owner != key.owner:
                raise KeyFormatError(
                    f"one public key is listed for both {known.owner!r} and {key.owner!r}"
                )

    @classmethod
    def parse(cls, text: str) -> TrustedKeys:
        """`owner=<base64url>` entries separated by commas or whitespace; two entries for one
        owner while its key rotates."""
        keys: list[TrustedKey] = []
        for entry in re.split(r"[\s,]+", text.strip()):
            if not entry:
                continue
            owner, sep, encoded = entry.partition("=")
            if not sep or not _SERVICE_NAME.fullmatch(owner):
                raise KeyFormatError(
                    f"entry {len(keys) + 1} is not `service=<base64url public key>`"
                )
            raw = _decode_key(encoded, f"public key of {owner!r}")
            keys.append(TrustedKey.of(owner, Ed25519PublicKey.from_public_bytes(raw)))
        return cls(keys)

    @classmethod
    def derived(cls, seed: str, owners: Iterable[str] = KNOWN_SERVICES) -> TrustedKeys:
        """The development keys of `owners`, derived from `seed` as each owner derives its own."""
        return cls(
            TrustedKey.of(owner, derive_signing_key(seed, owner).public_key()) for owner in owners
        )

    def get(self, kid: str) -> TrustedKey | None:
        return self._by_kid.get(kid)

    def owners(self) -> frozenset[str]:
        return frozenset(key.owner for key in self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)


def derive_signing_key(seed: str, service: str) -> SigningKey:
    """A development key pair of `service`: HKDF-SHA256 over the seed, the name as its info."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=_KEY_BYTES,
        salt=None,
        info=_HKDF_INFO + service.encode(),
    )
    raw = hkdf.derive(seed.encode())
    return SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(raw))


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of an Ed25519 public key (unpadded base64url of SHA-256)."""
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": encode_public_key(public_key)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def encode_public_key(public_key: Ed25519PublicKey) -> str:
    return _b64(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_key(text: str, what: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"the {what} is not base64url") from exc
    if len(raw) != _KEY_BYTES:
        raise KeyFormatError(f"the {what} is {len(raw)} bytes, not {_KEY_BYTES}")
    return raw


def _generate(service: str) -> str:
    key = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    public = TrustedKey.of(service, key.public_key())
    prefix = f"TERN_{service.upper()}_"
    return (
        f"# {service}: its private key, a secret only {service} holds\n"
        f"{prefix}SERVICE_SIGNING_KEY={key.encoded()}\n"
        f"# {service}: its public key (kid {public.kid}), an entry of the trusted keys\n"
        f"# of each service it calls (beside the old entry while the key rotates)\n"
        f"{public.entry()}\n"
    )


def _public(service: str, private_key: str) -> str:
    key = SigningKey.parse(private_key)
    return TrustedKey.of(service, key.public_key()).entry() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The operators' key tool: `generate <service>`, `public <service>` (key on stdin)."""
    parser = argparse.ArgumentParser(prog="python -m services.kit.service_keys")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="a new key pair for one service")
    generate.add_argument("service")
    public = commands.add_parser(
        "public", help="the trusted-keys entry of a private key read from stdin"
    )
    public.add_argument("service")
    args = parser.parse_args(argv)
    if not _SERVICE_NAME.fullmatch(args.service):
        parser.error(f"{args.service!r} is not a service name")
    try:
        if args.command == "generate":
            sys.stdout.write(_generate(args.service))
        else:
            sys.stdout.write(_public(args.service, sys.stdin.read()))
    except KeyFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
