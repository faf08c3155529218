"""The feedback store, jobs and retraining on a real PostgreSQL server, chosen by a SQLAlchemy URL in the config."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import insert, text

from genre_core import cli
from genre_core.config import load_config
from genre_core.feedback.database import FeedbackStoreError, open_engine
from genre_core.feedback.jobs import FAILED, RUNNING, SUCCEEDED, JobConflictError, JobLock, JobStore
from genre_core.feedback.runner import run_retraining
from genre_core.feedback.store import FeedbackStore
from genre_core.feedback.tables import SCHEMA_VERSION, jobs
from genre_core.pipeline import load_prepared
from tests.postgres_server import start_server
from tests.test_feedback_retrain import USER, copy_config

WRITERS = 8
LABELS_PER_WRITER = 50
HOLDER_WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def server():
    running = start_server()
    yield running
    running.stop()


@pytest.fixture
def url(server):
    """A fresh database on the shared server for each test."""
    name = f"genre_{time.monotonic_ns()}"
    admin = open_engine(server.url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def dataset():
    return load_prepared(load_config(), progress=False)


def test_labels_round_trip(url, dataset, tmp_path):
    store = FeedbackStore(open_engine(url), dataset)
    first = store.add("42", "50", "irrelevant", "ann", reason="seen it", model_version="v0001", rank=3)
    store.add("42", "50", "relevant", "ann")
    store.add("7", "1", "rating", "bo", rating=4.5)
    store.undo(first)

    # A second engine, opened as another process would open it, reads the committed rows.
    frame = FeedbackStore(open_engine(url)).frame()
    assert frame[["user_id", "item_id", "label", "undone"]].values.tolist() == [
        ["42", "50", "irrelevant", True], ["42", "50", "relevant", False], ["7", "1", "rating", False],
    ]
    assert store.active_labels()["label"].tolist() == ["relevant", "rating"]
    assert store.export_csv(tmp_path / "labels.csv") == 3
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION


@pytest.mark.parametrize("arguments, message", [
    (("999999", "50", "irrelevant", "ann"), "unknown user ID '999999'"),
    (("42", "50", "rating", "ann", None, 9.0), "rating 9.0 is out of range"),
    (("42", "50", "irrelevant", "  "), "analyst name is empty"),
])
def test_bad_label_writes_nothing(url, dataset, arguments, message):
    store = FeedbackStore(open_engine(url), dataset)
    with pytest.raises((LookupError, ValueError), match=message):
        store.add(*arguments)
    assert store.count() == 0


def _write_labels(url: str, writer: int) -> None:
    store = FeedbackStore(open_engine(url))
    for number in range(LABELS_PER_WRITER):
        store.add(str(writer + 1), str(number + 1), "relevant", f"writer-{writer}")


def test_concurrent_writers_lose_no_label(url):
    FeedbackStore(open_engine(url))
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_labels, args=(url, writer)) for writer in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [process.exitcode for process in processes] == [0] * WRITERS
    frame = FeedbackStore(open_engine(url)).frame()
    assert len(frame) == WRITERS * LABELS_PER_WRITER
    assert frame.groupby("analyst").size().tolist() == [LABELS_PER_WRITER] * WRITERS


def test_unreachable_server_named_in_error(server):
    dead = server.url.replace(f":{server.port}/", ":1/")
    with pytest.raises(FeedbackStoreError, match=r"postgresql\+psycopg://genre@127.0.0.1:1/postgres"):
        FeedbackStore(open_engine(dead))


def test_advisory_lock_excludes_a_job_from_another_machine(url, tmp_path):
    engine = open_engine(url)
    store = JobStore(engine)
    first = JobLock(tmp_path / "here" / "retrain.lock", engine)
    job_id = store.create_running("retrain", first)
    # Another machine has its own file system, so its file lock is free; only the database lock stops it.
    with pytest.raises(JobConflictError, match=f"already running \\(job {job_id}"):
        store.create_running("retrain", JobLock(tmp_path / "elsewhere" / "retrain.lock", engine))
    store.finish(job_id, SUCCEEDED, "done", first)
    second = JobLock(tmp_path / "elsewhere" / "retrain.lock", engine)
    store.finish(store.create_running("retrain", second), SUCCEEDED, "done", second)


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from genre_core.feedback.database import open_engine
    from genre_core.feedback.jobs import JobLock
    lock = JobLock(Path(sys.argv[2]), open_engine(sys.argv[1]))
    assert lock.acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def test_job_of_killed_remote_process_marked_failed(url, tmp_path):
    """A job row from another host is failed once its database session is gone, not while it lives."""
    engine = open_engine(url)
    store = JobStore(engine)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(tmp_path / "remote.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with engine.begin() as connection:
            from datetime import datetime, timezone

            job_id = connection.execute(insert(jobs).values(
                kind="retrain", state=RUNNING, progress=0.4, pid=holder.pid, host="another-machine",
                cancel_requested=False, created_at=datetime.now(timezone.utc),
            )).inserted_primary_key[0]
        assert store.fail_orphans() == 0
        assert store.get(job_id)["state"] == RUNNING
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while store.fail_orphans() == 0:
        assert time.monotonic() < deadline, "the server kept the advisory lock of a killed process"
        time.sleep(0.2)
    job = store.get(job_id)
    assert job["state"] == FAILED
    assert "on another-machine" in job["message"]


def test_cli_and_retraining_on_postgres(trained_config, url, tmp_path, capsys):
    """The real model and data: labels through the CLI, then a retraining job recorded in PostgreSQL."""
    config_path = copy_config(trained_config, tmp_path, **{"feedback.database_url": url})
    for item in ("50", "100", "181"):
        code = cli.main(["feedback", "add", "--config", str(config_path), "--user", USER, "--item", item,
                         "--label", "irrelevant", "--analyst", "ann", "--quiet", "--json"])
        assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert cli.main(["feedback", "list", "--config", str(config_path), "--quiet", "--json"]) == 0
    assert [row["item_id"] for row in json.loads(capsys.readouterr().out)["labels"]] == ["50", "100", "181"]

    job_id, result = run_retraining(load_config(config_path))
    job = JobStore(open_engine(url)).get(job_id)
    assert job["state"] == SUCCEEDED
    assert job["result_version"] == result.version == "v0002"
    assert job["result"]["labels_used"] == 3
