"""Alembic environment of the datasets service; the logic lives in the service kit."""

from services.kit.migrations import run_env
from services.datasets.tables import metadata

run_env(metadata)
