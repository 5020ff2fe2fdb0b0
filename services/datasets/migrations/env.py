"""Alembic environment of the datasets service; the logic lives in the service kit."""

from services.datasets.tables import metadata
from services.kit.migrations import run_env

run_env(metadata)
