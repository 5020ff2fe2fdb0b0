"""Typed clients of the services the BFF calls; the only place that knows their paths."""

from __future__ import annotations

from dataclasses import dataclass

from bff.clients.datasets import DatasetsClient
from bff.clients.inference import InferenceClient
from bff.clients.notifications import NotificationsClient
from bff.clients.training import TrainingClient
from services.kit.runtime import ServiceRuntime


@dataclass(frozen=True, slots=True)
class ServiceClients:
    """One typed client per downstream service."""

    datasets: DatasetsClient
    training: TrainingClient
    inference: InferenceClient
    notifications: NotificationsClient

    @classmethod
    def from_runtime(cls, runtime: ServiceRuntime) -> ServiceClients:
        """Wrap the runtime's pooled service clients."""
        return cls(
            datasets=DatasetsClient(runtime.client("datasets")),
            training=TrainingClient(runtime.client("training")),
            inference=InferenceClient(runtime.client("inference")),
            notifications=NotificationsClient(runtime.client("notifications")),
        )


__all__ = [
    "DatasetsClient",
    "InferenceClient",
    "NotificationsClient",
    "ServiceClients",
    "TrainingClient",
]
