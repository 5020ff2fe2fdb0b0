"""Alembic environment of the training service; the logic lives in the service kit."""

from services.kit.migrations import run_env
from services.training.tables import metadata

run_env(metadata)
