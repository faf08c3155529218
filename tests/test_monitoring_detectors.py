"""Concept-drift detectors: each fires on a planted drop in a simulated stream and stays quiet on a stationary one.

The streams are simulated per-user hit indicators (Bernoulli), seeded. The
false-alarm rate is printed (run pytest with -s to see it) and must stay low.
"""

from __future__ import annotations

import numpy as np
import pytest

from genre_core.monitoring.detectors import DETECTORS, QualityDetector, build_detector

SEEDS = 50
LENGTH = 2000
CHANGE = 1000
# Largest share of stationary streams allowed to raise any alarm, and the detection delay allowed after the change.
MAX_FALSE_ALARM_RATE = 0.1
MAX_DELAY = 600


def _stationary(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).binomial(1, 0.5, LENGTH).astype(float)


def _shifted(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.binomial(1, 0.6, CHANGE), rng.binomial(1, 0.4, LENGTH - CHANGE)].astype(float)


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_fires_on_planted_drop(name):
    detected = 0
    for seed in range(SEEDS):
        detector = QualityDetector(name)
        alarms = [alarm for alarm in detector.update(_shifted(seed)) if CHANGE <= alarm.position < CHANGE + MAX_DELAY]
        detected += any(alarm.is_drop for alarm in alarms)

    print(f"{name}: planted drop 0.6 -> 0.4 detected in {detected}/{SEEDS} streams within {MAX_DELAY} values")
    assert detected == SEEDS


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_quiet_on_stationary_stream(name):
    alarmed = sum(bool(QualityDetector(name).update(_stationary(seed))) for seed in range(SEEDS))

    rate = alarmed / SEEDS
    print(f"{name}: false alarm rate {rate:.2f} ({alarmed}/{SEEDS} stationary streams of {LENGTH} values)")
    assert rate <= MAX_FALSE_ALARM_RATE


def test_alarm_reports_drop_direction():
    detector = QualityDetector("adwin")

    alarms = detector.update(_shifted(0))

    assert alarms
    assert alarms[0].mean_after < alarms[0].mean_before
    assert alarms[0].to_dict()["drop"] is True


def test_detector_rejects_non_finite_value():
    detector = QualityDetector("adwin")
    detector.update([0.5, 0.5])

    with pytest.raises(ValueError, match="quality value at stream position 2 is nan"):
        detector.update([np.nan])


def test_unknown_detector_lists_available():
    with pytest.raises(ValueError, match="unknown drift detector 'cusum'; available detectors: adwin, page_hinkley"):
        build_detector("cusum")
