"""Alembic environment of the registry.

The service runs migrations in code (registry/db.py `Database.migrate`) and hands its open
connection in `config.attributes["connection"]`. For a developer's `alembic` command line,
the URL comes from `-x db=URL` or $CSQ_DATABASE_URL.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db") or os.environ.get("CSQ_DATABASE_URL")
    if not url:
        raise SystemExit("give the database: alembic -x db=sqlite:///csq-data/registry.db ... (or set CSQ_DATABASE_URL)")
    engine = create_engine(url)
    with engine.begin() as connection:
        run_on(connection)


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported: run them against a database")
main()
