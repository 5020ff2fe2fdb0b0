"""Device attestation at sign-in: the app proves it is the genuine build on a genuine device
(Play Integrity on Android, App Attest on iOS) before its credentials are even checked.

The flow: the app asks for a one-time challenge, has the platform attest with it, and sends
the platform's token with the challenge in its sign-in. Whether a token holds is a verdict
of a `DeviceAttestation`; no verifier of Google's or Apple's ships here (neither service
can be reached from where this is built), only the development stand-in, which production
refuses to start with while a platform must attest (see BffSettings).
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bff.signing.policy import KNOWN_PLATFORMS, PlatformPolicy
from services.kit.cache import Cache
from services.kit.errors import Action, ApiError

if TYPE_CHECKING:
    from bff.settings import BffSettings

DEVELOPMENT_TOKEN_PREFIX = "tern-dev-attestation."  # noqa: S105 - published on purpose
"""The stand-in accepts exactly this followed by the challenge, e.g.
`tern-dev-attestation.<challenge>`, and refuses every other token."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a verifier concluded about an attestation token."""

    genuine: bool
    reason: str | None = None


class DeviceAttestation(Protocol):
    """Checks a platform's attestation token for a challenge (Play Integrity verdicts,
    App Attest assertions): genuine app, genuine device, this challenge."""

    async def verify(self, platform: str, token: str, nonce: str) -> Verdict: ...


class DevelopmentAttestation:
    """A stand-in for development and tests: no call to Google or Apple."""

    async def verify(self, platform: str, token: str, nonce: str) -> Verdict:
        if platform not in KNOWN_PLATFORMS:
            return Verdict(False, f"no attestation for platform {platform!r}")
        if not secrets.compare_digest(token, DEVELOPMENT_TOKEN_PREFIX + nonce):
            return Verdict(False, "not the development test token for this challenge")
        return Verdict(True)


def build_verifier(settings: BffSettings) -> DeviceAttestation:
    """The configured verifier: the stand-in, or `module:factory` called with the settings."""
    name = settings.attestation_verifier
    if name == "development":
        return DevelopmentAttestation()
    module_name, _, attribute = name.partition(":")
    factory: Callable[[BffSettings], DeviceAttestation] = getattr(
        importlib.import_module(module_name), attribute
    )
    return factory(settings)


class AttestationChallenges:
    """One-time challenges, in the kit cache (shared by replicas when it is Redis)."""

    def __init__(self, cache: Cache, ttl_s: float) -> None:
        self._cache = cache
        self.ttl_s = ttl_s

    async def issue(self) -> str:
        challenge = secrets.token_urlsafe(32)
        await self._cache.set(_challenge_key(challenge), b"1", self.ttl_s)
        return challenge

    async def consume(self, challenge: str) -> bool:
        """Whether the challenge was issued, is unexpired and is used now for the first time."""
        if await self._cache.get(_challenge_key(challenge)) is None:
            return False
        first = await self._cache.incr(f"attest:used:{challenge}", self.ttl_s) == 1
        await self._cache.delete(_challenge_key(challenge))
        return first


class SignInAttestation:
    """The check a sign-in passes when its platform must attest."""

    def __init__(
        self, verifier: DeviceAttestation, challenges: AttestationChallenges, policy: PlatformPolicy
    ) -> None:
        self.verifier = verifier
        self.challenges = challenges
        self.policy = policy

    async def check(self, platform: str | None, token: str | None, challenge: str | None) -> None:
        """Pass, or 401 ATTESTATION_REQUIRED / ATTESTATION_CHALLENGE_INVALID /
        ATTESTATION_FAILED. A platform that need not attest is not asked to."""
        if not self.policy.applies_to(platform):
            return
        if token is None or challenge is None:
            raise attestation_required()
        if not await self.challenges.consume(challenge):
            raise ApiError(
                401,
                "ATTESTATION_CHALLENGE_INVALID",
                "the attestation challenge is unknown, expired or used; ask for a new one",
                user_message="Please try signing in again.",
                action=Action.RETRY,
                retry_allowed=True,
            )
        verdict = await self.verifier.verify(platform or "", token, challenge)
        if not verdict.genuine:
            raise ApiError(
                401,
                "ATTESTATION_FAILED",
                f"device attestation failed: {verdict.reason or 'not genuine'}",
                user_message="This device or app could not be verified.",
                action=Action.CONTACT_SUPPORT,
                retry_allowed=False,
            )


def attestation_required() -> ApiError:
    """401: this platform signs in with an attestation (an app too old to send one updates)."""
    return ApiError(
        401,
        "ATTESTATION_REQUIRED",
        "this sign-in needs a device attestation: POST /api/v1/auth/attestation-challenge, "
        "attest with it, and send `attestation` {token, challenge}",
        user_message="Please update the app to sign in.",
        action=Action.UPDATE_APP,
    )


def _challenge_key(challenge: str) -> str:
    return f"attest:challenge:{challenge}"
