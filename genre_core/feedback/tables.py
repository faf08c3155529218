"""Tables of the feedback database and the ordered migrations that create them.

A database records its schema version in `schema_version`; opening a store
applies every migration after that version, each in its own transaction.
"""

from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import (
    Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert, select, update,
)
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

labels = Table(
    "labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False, index=True),
    Column("item_id", String(255), nullable=False),
    Column("label", String(16), nullable=False),  # relevant, irrelevant or rating
    Column("rating", Float, nullable=True),
    Column("reason", Text, nullable=True),
    Column("analyst", String(255), nullable=False),
    Column("model_version", String(32), nullable=True),
    Column("rank", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone", Boolean, nullable=False, default=False),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False, index=True),  # queued, running, succeeded, failed, cancelled
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("result_version", String(32), nullable=True),
    Column("result", Text, nullable=True),  # JSON summary: promoted, guard reasons, metrics
    Column("host", String(255), nullable=True),  # machine of the job's process; added by migration 3
)


def _create_labels(connection: Connection) -> None:
    labels.create(connection)


def _create_jobs(connection: Connection) -> None:
    # The table as it was at schema version 2, without the columns that later migrations add.
    Table(
        "jobs", MetaData(), *[column._copy() for column in jobs.columns if column.name != "host"],
    ).create(connection)


def _add_job_host(connection: Connection) -> None:
    connection.exec_driver_sql("ALTER TABLE jobs ADD COLUMN host VARCHAR(255)")


# Migration N brings a database from schema version N - 1 to N. Append new steps; never edit old ones.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_labels, _create_jobs, _add_job_host]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(engine: Engine) -> int:
    with engine.begin() as connection:
        schema_version.create(connection, checkfirst=True)
        return connection.execute(select(schema_version.c.version)).scalar() or 0


def migrate(engine: Engine) -> int:
    """Apply the migrations the database lacks and return its schema version."""
    version = current_version(engine)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"feedback database {engine.url.render_as_string(hide_password=True)} has schema version {version}, "
            f"newer than this program's {SCHEMA_VERSION}; upgrade GENRE to open it"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        with engine.begin() as connection:
            # Re-read inside the write transaction: another process may have migrated meanwhile.
            found = connection.execute(select(schema_version.c.version)).scalar() or 0
            if found >= number:
                continue
            MIGRATIONS[number - 1](connection)
            if found == 0:
                connection.execute(insert(schema_version).values(id=1, version=number))
            else:
                connection.execute(update(schema_version).values(version=number))
        log.info("feedback database migrated to schema version %d", number)
    return SCHEMA_VERSION
