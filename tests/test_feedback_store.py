"""Feedback store: durable labels, validation before writing, migrations, jobs and the retraining lock."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import insert

from genre_core.config import load_config
from genre_core.feedback.database import FeedbackStoreError, open_engine
from genre_core.feedback.jobs import FAILED, RUNNING, JobConflictError, JobLock, JobStore
from genre_core.feedback.store import FeedbackStore, RatingRange
from genre_core.feedback.tables import SCHEMA_VERSION, jobs, labels, metadata, schema_version
from genre_core.pipeline import load_prepared

WRITERS = 8
LABELS_PER_WRITER = 200


@pytest.fixture(scope="module")
def dataset():
    return load_prepared(load_config(), progress=False)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "feedback.sqlite"


@pytest.fixture
def store(db_path, dataset) -> FeedbackStore:
    return FeedbackStore(open_engine(f"sqlite:///{db_path}"), dataset)


def _rows_on_disk(path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM labels").fetchone()[0]


def test_label_is_on_disk_when_add_returns(store, db_path):
    label_id = store.add("42", "50", "irrelevant", "ann", reason="seen it", model_version="v0001", rank=3)

    # A separate connection, not SQLAlchemy's pool, reads the committed row.
    with sqlite3.connect(db_path) as connection:
        row = connection.execute("SELECT user_id, item_id, label, analyst, reason, rank FROM labels WHERE id = ?", (label_id,)).fetchone()
    assert row == ("42", "50", "irrelevant", "ann", "seen it", 3)


def test_sqlite_runs_wal_with_full_sync(store):
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def _write_labels(path: str, writer: int) -> None:
    store = FeedbackStore(open_engine(f"sqlite:///{path}"))
    for number in range(LABELS_PER_WRITER):
        store.add(str(writer + 1), str(number + 1), "relevant", f"writer-{writer}")


def test_concurrent_writers_lose_no_label(db_path):
    FeedbackStore(open_engine(f"sqlite:///{db_path}"))  # migrate once, as the app does on start
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_labels, args=(str(db_path), writer)) for writer in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0] * WRITERS
    assert _rows_on_disk(db_path) == WRITERS * LABELS_PER_WRITER
    with sqlite3.connect(db_path) as connection:
        per_writer = dict(connection.execute("SELECT analyst, count(*) FROM labels GROUP BY analyst").fetchall())
    assert per_writer == {f"writer-{writer}": LABELS_PER_WRITER for writer in range(WRITERS)}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"user_id": "no-such-user"}, "unknown user ID 'no-such-user'"),
        ({"item_id": "99999"}, "unknown item ID '99999'"),
        ({"label": "rating", "rating": 7}, "rating 7 is out of range"),
        ({"label": "rating", "rating": float("nan")}, "out of range"),
        ({"label": "rating"}, "needs a rating"),
        ({"analyst": "   "}, "analyst name is empty"),
        ({"label": "great"}, "invalid label 'great'"),
        ({"rank": 0}, "rank must be a positive integer"),
    ],
)
def test_bad_label_rejected_and_nothing_written(store, db_path, arguments, message):
    values = {"user_id": "42", "item_id": "50", "label": "irrelevant", "analyst": "ann", **arguments}
    with pytest.raises((ValueError, LookupError), match=message):
        store.add(**values)
    assert _rows_on_disk(db_path) == 0


def test_rating_label_within_range_saved(store):
    store.add("42", "50", "rating", "ann", rating=4.5)
    assert store.frame()["rating"].tolist() == [4.5]


def test_read_only_database_rejected(store, db_path, dataset):
    store.add("42", "50", "relevant", "ann")
    read_only = FeedbackStore(open_engine(f"sqlite:///file:{db_path}?mode=ro&uri=true"), dataset)

    with pytest.raises(FeedbackStoreError, match="read-only") as raised:
        read_only.add("42", "51", "relevant", "ann")
    assert "Nothing was written" in str(raised.value)
    assert _rows_on_disk(db_path) == 1


def test_locked_database_rejected(store, db_path, dataset):
    waiting = FeedbackStore(open_engine(f"sqlite:///{db_path}", busy_timeout=0.2), dataset)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(FeedbackStoreError, match="locked"):
            waiting.add("42", "51", "relevant", "ann")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _rows_on_disk(db_path) == 0


def test_undo_keeps_row_but_drops_it_from_training(store):
    first = store.add("42", "50", "relevant", "ann")
    store.add("42", "51", "irrelevant", "ann")
    store.undo(first)

    assert store.frame()["undone"].tolist() == [True, False]
    assert store.active_labels()["item_id"].tolist() == ["51"]
    with pytest.raises(LookupError, match=f"label {first} not found or already undone"):
        store.undo(first)


def test_latest_label_per_pair_wins(store):
    store.add("42", "50", "relevant", "ann")
    store.add("42", "50", "irrelevant", "bob")
    assert store.active_labels()[["label", "analyst"]].values.tolist() == [["irrelevant", "bob"]]


def test_export_csv_has_every_label(store, tmp_path):
    store.add("42", "50", "relevant", "ann", reason="a, quoted \"reason\"")
    store.add("43", "51", "irrelevant", "bob")
    path = tmp_path / "out" / "labels.csv"

    assert store.export_csv(path) == 2
    import pandas as pd

    exported = pd.read_csv(path, dtype={"user_id": str, "item_id": str})
    assert exported["user_id"].tolist() == ["42", "43"]
    assert exported["reason"].iloc[0] == "a, quoted \"reason\""


def test_migrations_record_schema_version(db_path):
    engine = open_engine(f"sqlite:///{db_path}")
    FeedbackStore(engine)
    FeedbackStore(engine)  # a second open applies nothing
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_old_schema_upgraded(db_path):
    engine = open_engine(f"sqlite:///{db_path}")
    with engine.begin() as connection:
        metadata.create_all(connection, tables=[schema_version, labels])
        connection.execute(insert(schema_version).values(id=1, version=1))
    JobStore(engine)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_second_job_rejected_while_one_runs(db_path, tmp_path):
    jobs_store = JobStore(open_engine(f"sqlite:///{db_path}"))
    first_lock = JobLock(tmp_path / "retrain.lock")
    first = jobs_store.create_running("retrain", first_lock)
    try:
        with pytest.raises(JobConflictError, match=f"already running \\(job {first}"):
            jobs_store.create_running("retrain", JobLock(tmp_path / "retrain.lock"))
        assert [job["id"] for job in jobs_store.unfinished()] == [first]
    finally:
        jobs_store.finish(first, "succeeded", "done", first_lock)


def test_job_of_dead_process_marked_failed(db_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    engine = open_engine(f"sqlite:///{db_path}")
    jobs_store = JobStore(engine)
    with engine.begin() as connection:
        from datetime import datetime, timezone

        job_id = connection.execute(insert(jobs).values(
            kind="retrain", state=RUNNING, progress=0.3, pid=dead_pid, cancel_requested=False,
            created_at=datetime.now(timezone.utc),
        )).inserted_primary_key[0]

    assert jobs_store.fail_orphans() == 1
    job = jobs_store.get(job_id)
    assert job["state"] == FAILED
    assert f"process {dead_pid} ended before the job finished" in job["message"]


def test_job_of_live_process_left_running(db_path, tmp_path):
    jobs_store = JobStore(open_engine(f"sqlite:///{db_path}"))
    lock = JobLock(tmp_path / "retrain.lock")
    job_id = jobs_store.create_running("retrain", lock)
    try:
        assert jobs_store.fail_orphans() == 0
        assert jobs_store.get(job_id)["state"] == RUNNING
    finally:
        jobs_store.finish(job_id, "cancelled", "stopped by the test", lock)


def test_rating_range_midpoint():
    assert RatingRange(1.0, 5.0).midpoint == 3.0


def test_rating_range_rejects_inverted_bounds():
    with pytest.raises(ValueError, match=r"invalid rating range \[5.0, 1.0\]"):
        RatingRange(5.0, 1.0)
