"""Alembic environment of the BFF; the logic lives in the service kit."""

import bff.app_config.tables  # registers the app config tables on the metadata
import bff.auth.tables  # noqa: F401  (registers the auth tables on the metadata)
from bff.database import Base
from services.kit.migrations import run_env

run_env(Base.metadata)
