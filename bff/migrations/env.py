"""Alembic environment of the BFF; the logic lives in the service kit."""

import bff.admin.tables  # registers the admin tables on the metadata
import bff.app_config.tables
import bff.auth.tables
import bff.graphql.safelists.tables
import bff.idempotency.tables  # noqa: F401  (each registers its tables on the metadata)
from bff.database import Base
from services.kit.migrations import run_env

run_env(Base.metadata)
