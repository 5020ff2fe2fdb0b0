"""What the BFF's routes and resolvers need at hand, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from bff.app_config.service import AppConfigService
from bff.auth.attestation import SignInAttestation
from bff.auth.service import AuthService
from bff.clients import ServiceClients
from bff.graphql.safelists.service import Safelists
from bff.idempotency.store import IdempotencyStore
from bff.kept_pages import KeptPages
from bff.known_versions import KnownVersions
from bff.settings import BffSettings
from bff.signing.verifier import RequestSignatures
from services.kit.runtime import ServiceRuntime


@dataclass(frozen=True, slots=True)
class BffContext:
    settings: BffSettings
    runtime: ServiceRuntime
    clients: ServiceClients
    auth: AuthService
    app_config: AppConfigService
    known: KnownVersions
    pages: KeptPages
    idempotency: IdempotencyStore
    signatures: RequestSignatures
    attestation: SignInAttestation
    safelists: Safelists
