"""Run a retraining as a job: in the calling thread (CLI) or in a background thread (app)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from genre_core.config import Config
from genre_core.feedback.database import database_url, open_engine
from genre_core.feedback.jobs import CANCELLED, FAILED, SUCCEEDED, JobCancelled, JobLock, JobStore
from genre_core.feedback.retrain import RetrainResult, retrain
from genre_core.feedback.store import FeedbackStore, RatingRange
from genre_core.registry import ModelRegistry

log = logging.getLogger(__name__)

JOB_KIND = "retrain"
LOCK_FILE = ".retrain.lock"
NO_LABELS = "there are no labels to learn from; add some with `genre feedback add` or on the Feedback page"


@dataclass
class RetrainJob:
    """A job row created while holding the retraining lock; `run` does the work and releases the lock."""

    config: Config
    job_id: int
    jobs: JobStore
    labels: FeedbackStore
    lock: JobLock

    @classmethod
    def begin(cls, config: Config) -> RetrainJob:
        """Create a running job, or raise JobConflictError when another one runs."""
        engine = open_engine(database_url(config))
        jobs = JobStore(engine)
        labels = FeedbackStore(engine, ratings=RatingRange(config.feedback.rating_min, config.feedback.rating_max))
        if labels.active_labels().empty:
            # Refused before a job row exists, so the job list shows no failure for a request that never started.
            raise ValueError(NO_LABELS)
        lock = JobLock(ModelRegistry.for_config(config).root / LOCK_FILE, engine)
        job_id = jobs.create_running(JOB_KIND, lock)
        return cls(config, job_id, jobs, labels, lock)

    def run(self) -> RetrainResult | None:
        """Retrain and record the outcome; return None when the job was cancelled. Errors are re-raised."""
        try:
            result = retrain(self.config, self.labels, on_progress=self._report)
        except JobCancelled:
            self.jobs.finish(self.job_id, CANCELLED, "cancelled; the active model is unchanged", self.lock)
            return None
        except BaseException as error:
            self.jobs.finish(self.job_id, FAILED, f"{type(error).__name__}: {error}; the active model is unchanged", self.lock)
            raise
        if result.promoted:
            message = f"version {result.version} is now active"
        else:
            message = f"version {result.version} kept as a candidate: " + "; ".join(result.decision.reasons)
        self.jobs.finish(self.job_id, SUCCEEDED, message, self.lock, version=result.version, result=result.to_dict())
        return result

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run_logged, name=f"retrain-job-{self.job_id}", daemon=True)
        thread.start()
        return thread

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:  # already recorded in the job row; the thread has no caller to raise to
            log.exception("retraining job %d failed", self.job_id)

    def _report(self, fraction: float, message: str) -> None:
        self.jobs.report(self.job_id, fraction, message)


def run_retraining(config: Config) -> tuple[int, RetrainResult | None]:
    """Retrain in this thread as one job; return the job id and the result (None when cancelled)."""
    job = RetrainJob.begin(config)
    return job.job_id, job.run()
