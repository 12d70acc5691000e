"""Alembic environment: the URL comes from SmartBot's settings (never from alembic.ini)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from smartbot.storage.db import _driver_url
from smartbot.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("smartbot_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from smartbot.settings.loading import load

        url = load().database_url
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from sqlalchemy.engine import make_url

    engine = create_engine(_driver_url(make_url(_url())), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
