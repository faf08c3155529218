"""Concept-drift detection on a quality stream with river's ADWIN or Page-Hinkley detectors."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from river import drift

log = logging.getLogger(__name__)

DETECTORS = ("adwin", "page_hinkley")


@dataclass
class Alarm:
    """A change the detector found: where in the stream, and the running mean before and after it."""

    position: int  # 0-based index of the value that raised the alarm, counted over the whole stream
    mean_before: float
    mean_after: float

    @property
    def is_drop(self) -> bool:
        return self.mean_after < self.mean_before

    def to_dict(self) -> dict:
        return {**asdict(self), "drop": bool(self.is_drop)}


def build_detector(name: str, delta: float = 0.002, threshold: float = 50.0):
    """Return a fresh river detector: ADWIN (`delta` is its confidence) or Page-Hinkley (`delta`, `threshold`)."""
    if name == "adwin":
        return drift.ADWIN(delta=delta)
    if name == "page_hinkley":
        # Quality streams only matter when they fall, so Page-Hinkley watches for a decrease.
        return drift.PageHinkley(delta=delta, threshold=threshold, mode="down")
    raise ValueError(f"unknown drift detector {name!r}; available detectors: {', '.join(DETECTORS)}")


class QualityDetector:
    """Feed per-user quality values in time order; collect the alarms of one river detector."""

    def __init__(self, name: str = "adwin", delta: float = 0.002, threshold: float = 50.0):
        self.name = name
        self.detector = build_detector(name, delta, threshold)
        self.seen = 0
        self.alarms: list[Alarm] = []
        self._mean = 0.0  # running mean since the last alarm (Page-Hinkley has no estimate of its own)
        self._count = 0

    def update(self, values) -> list[Alarm]:
        """Add `values` to the stream and return the alarms they raised."""
        raised = []
        for value in np.asarray(values, dtype=float).ravel():
            if not np.isfinite(value):
                raise ValueError(f"quality value at stream position {self.seen} is {value}; pass finite numbers only")
            before = self._estimate()
            self.detector.update(float(value))
            self._count += 1
            self._mean += (value - self._mean) / self._count
            if self.detector.drift_detected:
                alarm = Alarm(self.seen, before, self._after_alarm(value))
                raised.append(alarm)
                log.info("%s alarm at stream position %d: mean %.4f -> %.4f", self.name, alarm.position,
                         alarm.mean_before, alarm.mean_after)
            self.seen += 1
        self.alarms.extend(raised)
        return raised

    def _estimate(self) -> float:
        return float(self.detector.estimation) if self.name == "adwin" else self._mean

    def _after_alarm(self, value: float) -> float:
        if self.name == "adwin":
            # ADWIN has dropped the older part of its window, so its estimate is the new mean.
            return float(self.detector.estimation)
        # Page-Hinkley resets on an alarm; the value that raised it starts the new mean.
        self._mean, self._count = float(value), 1
        return float(value)
