"""Alembic environment of the inference service; the logic lives in the service kit."""

from services.inference.tables import metadata
from services.kit.migrations import run_env

run_env(metadata)
