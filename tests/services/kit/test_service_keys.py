from __future__ import annotations

import base64
import hashlib
import io

import pytest

from services.kit import service_keys
from services.kit.service_keys import (
    KeyFormatError,
    SigningKey,
    TrustedKey,
    TrustedKeys,
    derive_signing_key,
    key_id,
)


def _generated(capsys: pytest.CaptureFixture[str], service: str) -> dict[str, str]:
    assert service_keys.main(["generate", service]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_generate_prints_a_private_key_and_its_trusted_keys_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printed = _generated(capsys, "training")
    key = SigningKey.parse(printed["TERN_TRAINING_SERVICE_SIGNING_KEY"])
    trusted = TrustedKeys.parse(f"training={printed['training']}")
    known = trusted.get(key.kid)
    assert known is not None and known.owner == "training"
    assert _generated(capsys, "training") != printed  # a fresh pair each time


def test_public_prints_the_entry_of_a_private_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = derive_signing_key("seed" * 8, "bff")
    monkeypatch.setattr("sys.stdin", io.StringIO(key.encoded() + "\n"))
    assert service_keys.main(["public", "bff"]) == 0
    assert capsys.readouterr().out == TrustedKey.of("bff", key.public_key()).entry() + "\n"


def test_the_key_id_is_the_rfc7638_thumbprint() -> None:
    public_key = derive_signing_key("seed" * 8, "bff").public_key()
    x = TrustedKey.of("bff", public_key).entry().split("=", 1)[1]
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}'.encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert key_id(public_key) == expected.decode()


def test_trusted_keys_take_commas_or_whitespace_and_two_keys_per_service() -> None:
    old, new = derive_signing_key("a" * 32, "bff"), derive_signing_key("b" * 32, "bff")
    entries = [TrustedKey.of("bff", k.public_key()).entry() for k in (old, new)]
    for text in (",".join(entries), "\n".join(entries) + "\n", f" {entries[0]} , {entries[1]},"):
        trusted = TrustedKeys.parse(text)
        assert len(trusted) == 2 and trusted.owners() == {"bff"}


@pytest.mark.parametrize(
    "text",
    ["bff", "=AAAA", "BFF=" + "A" * 43, "bff=AAAA", "bff=" + "!" * 43, "bff=" + "A" * 44],
)
def test_malformed_trusted_keys_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError):
        TrustedKeys.parse(text)


def test_one_public_key_cannot_belong_to_two_services() -> None:
    entry = TrustedKey.of("bff", derive_signing_key("a" * 32, "bff").public_key()).entry()
    with pytest.raises(KeyFormatError, match="both"):
        TrustedKeys.parse(f"{entry},training={entry.split('=', 1)[1]}")


def test_derived_keys_differ_per_service_and_per_seed() -> None:
    names = ("bff", "datasets", "training", "inference", "notifications")
    kids = {derive_signing_key("seed" * 8, name).kid for name in names}
    assert len(kids) == len(names)
    assert derive_signing_key("seed" * 8, "bff").kid == derive_signing_key("seed" * 8, "bff").kid
    assert derive_signing_key("seed" * 8, "bff").kid != derive_signing_key("deed" * 8, "bff").kid
