"""Which sessions a per-platform rule (signed requests, attestation) applies to."""

from __future__ import annotations

from dataclasses import dataclass

KNOWN_PLATFORMS = frozenset({"ios", "android"})


def known_platform(platform: str | None) -> str | None:
    """The platform a session records: ios or android, else None (unknown)."""
    return platform if platform in KNOWN_PLATFORMS else None


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """The platforms a rule is on for. A missing or unknown platform counts as listed
    whenever any is, so leaving out X-Platform (or inventing one) dodges nothing."""

    platforms: frozenset[str]

    def applies_to(self, platform: str | None) -> bool:
        if platform in KNOWN_PLATFORMS:
            return platform in self.platforms
        return bool(self.platforms)
