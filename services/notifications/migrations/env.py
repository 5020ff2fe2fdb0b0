"""Alembic environment of the notifications service; the logic lives in the service kit."""

from services.kit.migrations import run_env
from services.notifications.tables import metadata

run_env(metadata)
