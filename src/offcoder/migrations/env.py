"""Alembic environment: migrations run as the owner role, never as the application role."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from offcoder.db.models import Base
from offcoder.db.roles import RoleNames

config = context.config
roles: RoleNames = config.attributes["roles"]
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.attributes["admin_url"])
    try:
        with engine.connect() as connection:
            connection.execute(text(f'SET ROLE "{roles.owner}"'))
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations(roles=roles)
            connection.commit()
    finally:
        engine.dispose()


run_migrations_online()
