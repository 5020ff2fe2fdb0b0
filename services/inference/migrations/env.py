"""Alembic environment of the inference service; the logic lives in the service kit."""

from services.kit.migrations import run_env
from services.inference.tables import metadata

run_env(metadata)
