"""Alembic migrations, applied at start-up; every service's env.py is one call into here."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from services.kit.database import Database

# Any fixed number: serialises concurrent replicas migrating one PostgreSQL database.
_PG_MIGRATION_LOCK = 7_301_947


def alembic_config(migrations_dir: Path, url: str | None = None) -> Config:
    """An Alembic config for one service's migrations folder (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(db: Database, migrations_dir: Path) -> None:
    """Bring the database to the newest revision, sharing the app's engine."""

    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        config = alembic_config(migrations_dir)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's migrations/env.py."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        # Offline use (`alembic upgrade --sql`, autogenerate from the command line).
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_change_feed() -> None:
    """In a service's migration: the kit's `change_feed` table, and the pruned horizon on its
    `change_counters` (services/kit/change_feed.py), as they were first shipped."""
    import sqlalchemy as sa
    from alembic import op

    with op.batch_alter_table("change_counters") as batch:
        batch.add_column(
            sa.Column("pruned_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "change_feed",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("origin", sa.String(128), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner_id", "kind", "entity_id", name="uq_change_feed_entity"),
    )
    op.create_index("ix_change_feed_tombstones", "change_feed", ["op", "changed_at"])


def drop_change_feed() -> None:
    from alembic import op

    op.drop_index("ix_change_feed_tombstones", table_name="change_feed")
    op.drop_table("change_feed")
    with op.batch_alter_table("change_counters") as batch:
        batch.drop_column("pruned_seq")
