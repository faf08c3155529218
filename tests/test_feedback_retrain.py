"""Retraining on labels with the real model: guard, job states, SIGKILL, corrupt checkpoints and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genre_core import cli
from genre_core.config import PROJECT_ROOT, load_config, save_config
from genre_core.feedback.database import database_url, open_engine
from genre_core.feedback.jobs import FAILED, RUNNING, SUCCEEDED, JobStore
from genre_core.feedback.runner import RetrainJob, run_retraining
from genre_core.feedback.store import FeedbackStore
from genre_core.pipeline import load_prepared
from genre_core.registry import WEIGHTS_FILE, ModelRegistry, RegistryError
from genre_core.service import Recommender

USER = "42"
LABELLED = 20
KILL_WAIT_SECONDS = 120


def copy_config(trained_config: Path, folder: Path, **overrides) -> Path:
    """A config with a copy of the trained registry and its own feedback database, both under `folder`."""
    config = load_config(trained_config)
    registry = folder / "models"
    shutil.copytree(config.paths.resolve("registry_dir"), registry)
    settings = {"paths.registry_dir": str(registry), "feedback.database_url": f"sqlite:///{folder / 'feedback.sqlite'}", **overrides}
    copied = load_config(trained_config, settings)
    path = folder / "feedback.yaml"
    save_config(copied, path)
    return path


@pytest.fixture
def config_path(trained_config, tmp_path) -> Path:
    return copy_config(trained_config, tmp_path)


@pytest.fixture(scope="module")
def dataset(trained_config):
    return load_prepared(load_config(trained_config), progress=False)


def _label_top(config, dataset, count: int, label: str = "irrelevant") -> list[str]:
    recommender = Recommender.load(config)
    top = recommender.recommend(USER, k=count).items
    store = FeedbackStore.open(config, dataset)
    for row in top.itertuples(index=False):
        store.add(USER, row.item_id, label, "test analyst", model_version=recommender.version, rank=int(row.rank))
    return [str(item) for item in top["item_id"]]


def test_irrelevant_labels_leave_top10(config_path, dataset):
    config = load_config(config_path)
    base = ModelRegistry.for_config(config).active_version()
    labelled = _label_top(config, dataset, LABELLED)

    job_id, result = run_retraining(config)

    assert result.promoted, result.decision.reasons
    registry = ModelRegistry.for_config(config)
    assert registry.active_version() == result.version != base
    new_top = set(Recommender.load(config).recommend(USER, k=10).items["item_id"].astype(str))
    assert new_top.isdisjoint(labelled)
    metrics = result.comparison["metrics"]
    assert metrics["ndcg@10_before"] - metrics["ndcg@10_after"] <= config.feedback.tolerance
    assert all(row["rank_after"] > 10 for row in result.comparison["labels"])

    meta = registry.info(result.version).meta
    assert meta["base_version"] == base
    assert len(meta["feedback"]["labels"]) == LABELLED
    assert meta["guard"] == {"promote": True, "reasons": []}
    job = JobStore(open_engine(database_url(config))).get(job_id)
    assert (job["state"], job["result_version"]) == (SUCCEEDED, result.version)


def test_failed_guard_keeps_candidate(trained_config, tmp_path, dataset):
    # A negative tolerance can never be met, so the guard must keep the version as a candidate.
    config = load_config(copy_config(trained_config, tmp_path, **{"feedback.epochs": 1, "feedback.replay_fraction": 0.0}))
    config.feedback.tolerance = -1.0
    base = ModelRegistry.for_config(config).active_version()
    _label_top(config, dataset, 3)

    _, result = run_retraining(config)

    registry = ModelRegistry.for_config(config)
    assert not result.promoted
    assert registry.active_version() == base
    assert registry.info(result.version).meta["status"] == "candidate"
    assert "more than the tolerance" in registry.info(result.version).meta["guard"]["reasons"][0]


def test_retrain_without_labels_fails_cleanly(config_path):
    config = load_config(config_path)
    base = ModelRegistry.for_config(config).active_version()
    with pytest.raises(ValueError, match="no labels to learn from"):
        run_retraining(config)
    assert ModelRegistry.for_config(config).active_version() == base
    assert JobStore(open_engine(database_url(config))).latest() is None  # refused before any job started


def test_corrupt_checkpoint_refused(config_path, dataset):
    config = load_config(config_path)
    _label_top(config, dataset, 2)
    registry = ModelRegistry.for_config(config)
    base = registry.active_version()
    weights = registry.info(base).path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated file, as a crash mid-copy leaves it

    with pytest.raises(RegistryError, match=f"model file .* of version {base} is corrupt or unreadable"):
        run_retraining(config)
    assert registry.active_version() == base
    assert [info.version for info in registry.versions()] == [base]
    job = JobStore(open_engine(database_url(config))).latest()
    assert job["state"] == FAILED
    assert "corrupt" in job["message"]


def test_sigkill_leaves_active_model(config_path, dataset):
    config = load_config(config_path)
    _label_top(config, dataset, 5)
    registry = ModelRegistry.for_config(config)
    base = registry.active_version()
    jobs = JobStore(open_engine(database_url(config)))

    process = subprocess.Popen(
        [sys.executable, "-m", "genre_core", "retrain", "--config", str(config_path), "--quiet"],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        job = _wait_for_fine_tuning(jobs, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    assert job["state"] == RUNNING
    assert registry.active_version() == base
    assert [info.version for info in registry.versions()] == [base]

    # The next job start finds the killed job and marks it failed.
    next_job = RetrainJob.begin(config)
    try:
        killed = jobs.get(job["id"])
        assert killed["state"] == FAILED
        assert f"process {process.pid} ended before the job finished" in killed["message"]
    finally:
        jobs.finish(next_job.job_id, "cancelled", "stopped by the test", next_job.lock)


def _wait_for_fine_tuning(jobs: JobStore, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"retraining exited with code {process.returncode} before it could be killed")
        job = jobs.latest()
        if job is not None and job["state"] == RUNNING and job["progress"] >= 0.05:
            return job
        time.sleep(0.2)
    raise AssertionError(f"retraining did not reach fine-tuning within {KILL_WAIT_SECONDS} s")


def _cli(capsys, *arguments) -> tuple[int, dict | str]:
    code = cli.main([*arguments, "--quiet", "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def test_cli_feedback_and_models(config_path, tmp_path, capsys):
    config_option = ["--config", str(config_path)]

    code, added = _cli(capsys, "feedback", "add", *config_option, "--user", USER, "--item", "50",
                       "--label", "irrelevant", "--analyst", "ann", "--reason", "seen it")
    assert code == 0
    assert added["saved"] is True

    code, error = _cli(capsys, "feedback", "add", *config_option, "--user", USER, "--item", "50",
                       "--label", "irrelevant", "--analyst", " ")
    assert code == 2
    assert "analyst name is empty" in error

    code, listed = _cli(capsys, "feedback", "list", *config_option)
    assert [row["item_id"] for row in listed["labels"]] == ["50"]
    assert listed["labels"][0]["model_version"] == "v0001"

    out = tmp_path / "labels.csv"
    code, exported = _cli(capsys, "feedback", "export", *config_option, "--out", str(out))
    assert exported["rows"] == 1
    assert out.read_text().startswith("id,user_id,item_id,label")

    registry = ModelRegistry.for_config(load_config(config_path))
    state, model_config, meta = registry.load()
    registry.save(state, model_config, {**meta, "status": "candidate"}, activate=False)
    code, models = _cli(capsys, "models", "list", *config_option)
    assert [(row["version"], row["status"]) for row in models["versions"]] == [("v0001", "active"), ("v0002", "candidate")]

    assert _cli(capsys, "models", "promote", "v0002", *config_option)[1] == {"active": "v0002"}
    assert _cli(capsys, "models", "rollback", *config_option)[1] == {"active": "v0001"}
    code, error = _cli(capsys, "models", "promote", "v0099", *config_option)
    assert code == 2
    assert "available versions: v0001, v0002" in error
