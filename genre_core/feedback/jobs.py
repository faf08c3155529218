"""Retraining jobs: one at a time, state in the database, progress and cancellation through it.

One job at a time is enforced twice. An exclusive `flock` on a lock file is
released by the kernel when the holding process dies, even by SIGKILL. On
PostgreSQL the job also holds a session-level advisory lock on its own
connection, which the server releases when that connection drops, so jobs
started on different machines against one database exclude each other too.
In the jobs table, a job still marked running after its process is gone is
marked failed the next time a job starts or the latest job is read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from genre_core.feedback.database import store_error
from genre_core.feedback.tables import jobs, migrate

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
UNFINISHED = (QUEUED, RUNNING)
# Key of the PostgreSQL advisory lock that one retraining job holds; any fixed 64-bit number works.
ADVISORY_LOCK_KEY = 0x47454E5245
JOB_COLUMNS = [column.name for column in jobs.columns]


class JobConflictError(RuntimeError):
    """A retraining job was requested while another one runs."""


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested."""


@dataclass
class JobLock:
    """An exclusive lock held for the lifetime of one job: a file lock, plus an advisory lock on PostgreSQL."""

    path: Path
    engine: Engine | None = None
    handle: Any = None
    connection: Connection | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle = handle
        if _uses_advisory_locks(self.engine):
            connection = self.engine.connect()
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar():
                connection.close()
                self._release_file()
                return False
            # The connection stays open with the lock; the server frees it if this process dies.
            self.connection = connection
        return True

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            finally:
                self.connection.close()
                self.connection = None
        self._release_file()

    def _release_file(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def _uses_advisory_locks(engine: Engine | None) -> bool:
    return engine is not None and engine.dialect.name == "postgresql"


def _advisory_lock_free(engine: Engine) -> bool:
    """True when no session holds the job lock, that is, no job runs anywhere against this database."""
    with engine.connect() as connection:
        free = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        if free:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
    return bool(free)


class JobStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        try:
            migrate(engine)
        except SQLAlchemyError as error:
            raise store_error(error, engine, "open or migrate the jobs table") from error

    def create_running(self, kind: str, lock: JobLock) -> int:
        """Insert a running job owned by this process, or raise JobConflictError.

        This method acquires `lock` and keeps it held on success, so the job
        must end with `finish`, which releases it.
        """
        if not lock.acquire():
            running = self.unfinished()
            detail = f" (job {running[0]['id']}, started {running[0]['started_at']})" if running else ""
            raise JobConflictError(
                f"a retraining job is already running{detail}; wait for it to finish or cancel it first"
            )
        try:
            now = datetime.now(timezone.utc)
            with self.engine.begin() as connection:
                self._fail_orphans(connection, holding_lock=True)
                job_id = connection.execute(insert(jobs).values(
                    kind=kind, state=RUNNING, progress=0.0, message="starting", pid=os.getpid(), host=HOST,
                    cancel_requested=False, created_at=now, started_at=now,
                )).inserted_primary_key[0]
        except SQLAlchemyError as error:
            lock.release()
            raise store_error(error, self.engine, "create a retraining job") from error
        except BaseException:
            lock.release()
            raise
        log.info("job %d (%s) started in process %d", job_id, kind, os.getpid())
        return int(job_id)

    def report(self, job_id: int, progress: float, message: str) -> None:
        """Store progress (0 to 1) and raise JobCancelled when cancellation was requested."""
        with self.engine.begin() as connection:
            connection.execute(update(jobs).where(jobs.c.id == job_id).values(progress=float(progress), message=message))
            cancel = connection.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar()
        if cancel:
            raise JobCancelled(f"job {job_id} was cancelled")

    def finish(self, job_id: int, state: str, message: str, lock: JobLock | None = None,
               version: str | None = None, result: dict[str, Any] | None = None) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(update(jobs).where(jobs.c.id == job_id).values(
                    state=state, message=message, finished_at=datetime.now(timezone.utc), result_version=version,
                    progress=1.0 if state == SUCCEEDED else jobs.c.progress,
                    result=None if result is None else json.dumps(result, default=str),
                ))
        finally:
            if lock is not None:
                lock.release()
        log.info("job %d %s: %s", job_id, state, message)

    def request_cancel(self, job_id: int) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(UNFINISHED)).values(cancel_requested=True)
            ).rowcount
        if changed == 0:
            raise LookupError(f"job {job_id} is not running; nothing to cancel")
        log.info("cancellation of job %d requested", job_id)

    def get(self, job_id: int) -> dict[str, Any]:
        with self.engine.begin() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise LookupError(f"job {job_id} not found")
        return _decoded(row)

    def latest(self) -> dict[str, Any] | None:
        self.fail_orphans()
        with self.engine.begin() as connection:
            row = connection.execute(select(jobs).order_by(jobs.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _decoded(row)

    def unfinished(self) -> list[dict[str, Any]]:
        with self.engine.begin() as connection:
            rows = connection.execute(select(jobs).where(jobs.c.state.in_(UNFINISHED)).order_by(jobs.c.id)).mappings().all()
        return [_decoded(row) for row in rows]

    def fail_orphans(self) -> int:
        """Mark failed every unfinished job whose process no longer exists; return how many."""
        with self.engine.begin() as connection:
            return self._fail_orphans(connection, holding_lock=False)

    def _fail_orphans(self, connection, holding_lock: bool) -> int:
        # Holding the lock proves that no other job runs, whatever pids the table stores.
        rows = connection.execute(select(jobs.c.id, jobs.c.pid, jobs.c.host).where(jobs.c.state.in_(UNFINISHED))).all()
        if not rows:
            return 0
        lock_free = None if holding_lock or not _uses_advisory_locks(self.engine) else _advisory_lock_free(self.engine)
        orphans = [job_id for job_id, pid, host in rows if holding_lock or _job_gone(pid, host, lock_free)]
        for job_id, pid, host in rows:
            if job_id in orphans:
                connection.execute(update(jobs).where(jobs.c.id == job_id).values(
                    state=FAILED, finished_at=datetime.now(timezone.utc),
                    message=f"process {pid} ended before the job finished (killed or crashed{_on_host(host)}); "
                            "nothing was promoted",
                ))
                log.warning("job %d was left running by process %s%s, which is gone; marked failed",
                            job_id, pid, _on_host(host))
        return len(orphans)


HOST = socket.gethostname()


def _on_host(host: str | None) -> str:
    return "" if host in (None, HOST) else f", on {host}"


def _job_gone(pid: int | None, host: str | None, advisory_lock_free: bool | None) -> bool:
    """Tell whether the process of an unfinished job has ended; `advisory_lock_free` is None without PostgreSQL."""
    if advisory_lock_free is not None:
        return advisory_lock_free
    if host not in (None, HOST):
        # A pid from another machine means nothing here, and SQLite gives no lock to ask; leave the job alone.
        return False
    return not _process_exists(pid)


def _process_exists(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _decoded(row) -> dict[str, Any]:
    record = dict(row)
    record["result"] = json.loads(record["result"]) if record.get("result") else None
    return record
