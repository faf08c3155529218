"""Engine of the feedback database: SQLite by default, any SQLAlchemy URL from the config.

Every SQLite connection runs in WAL mode with `synchronous=FULL`, so a
committed transaction is on disk when the commit returns. Every transaction
starts with `BEGIN IMMEDIATE`, so writers queue on the busy timeout instead
of failing half-way with a lock upgrade error.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from genre_core.config import Config

log = logging.getLogger(__name__)

DATABASE_FILE = "feedback.sqlite"
# Seconds a writer waits for another writer's lock before the write fails.
BUSY_TIMEOUT_SECONDS = 30.0


class FeedbackStoreError(RuntimeError):
    """A feedback database that cannot be opened or written: read-only, locked, or unreachable."""


def database_url(config: Config) -> str:
    """Return the configured `feedback.database_url`, else SQLite at <paths.data_dir>/feedback.sqlite."""
    if config.feedback.database_url:
        return config.feedback.database_url
    return f"sqlite:///{config.paths.resolve('data_dir') / DATABASE_FILE}"


def open_engine(url: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise FeedbackStoreError(
            f"invalid feedback database URL {url!r}: {error}; set feedback.database_url to a SQLAlchemy URL "
            "such as sqlite:////path/feedback.sqlite or postgresql+psycopg://user@host/genre"
        ) from error
    if not parsed.drivername.startswith("sqlite"):
        return create_engine(parsed, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout, "isolation_level": None})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_immediate(connection) -> None:
    # The driver's own transaction handling is off (isolation_level=None), so SQLAlchemy's begin is this statement.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def store_error(error: SQLAlchemyError, engine: Engine, action: str) -> FeedbackStoreError:
    """Translate a database error into a message that names the fix. The failed transaction wrote nothing."""
    text = str(getattr(error, "orig", error)).lower()
    where = describe(engine)
    if "readonly" in text or "read-only" in text or "permission denied" in text:
        hint = "the database file or its folder is read-only; make both writable or set feedback.database_url"
    elif "locked" in text or "busy" in text:
        hint = ("another process holds the database lock; wait and try again, "
                "or close the program that keeps a write transaction open")
    elif isinstance(error, OperationalError):
        hint = "check that the database exists and can be reached"
    else:
        hint = "see the database error above"
    log.warning("feedback database %s: %s failed: %s", where, action, error)
    return FeedbackStoreError(f"could not {action} in feedback database {where} ({text.strip()}); {hint}. Nothing was written")
