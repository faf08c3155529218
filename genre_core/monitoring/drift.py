"""Distribution drift between a reference sample and a current sample: PSI and the two-sample KS test."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

# Share given to an empty bin so that PSI stays finite (a common choice; it caps one bin's term).
EMPTY_BIN_SHARE = 1e-4


@dataclass
class DriftResult:
    """Drift of one feature: PSI, the KS statistic and p-value, and whether either crosses its threshold."""

    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool
    reference_size: int
    current_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(values, name: str, role: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError(f"{role} sample of {name!r} has no finite value; pass at least one number")
    return array


def bin_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner cut points at the reference quantiles; repeated quantiles of a discrete feature are merged."""
    if bins < 2:
        raise ValueError(f"PSI needs at least 2 bins, got {bins}")
    quantiles = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))
    return np.unique(quantiles)[1:-1]


def psi(reference, current, bins: int = 10, name: str = "values") -> float:
    """Population stability index of `current` against `reference`, on `bins` reference-quantile bins.

    PSI = sum over bins of (current share - reference share) * ln(current share / reference share).
    It is 0 for identical distributions; 0.1 and 0.25 are the usual marks of moderate and major shift.
    """
    reference = _finite(reference, name, "reference")
    current = _finite(current, name, "current")
    edges = bin_edges(reference, bins)
    n_bins = len(edges) + 1
    reference_share = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=n_bins) / reference.size
    current_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=n_bins) / current.size
    reference_share = np.maximum(reference_share, EMPTY_BIN_SHARE)
    current_share = np.maximum(current_share, EMPTY_BIN_SHARE)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def ks_test(reference, current, name: str = "values") -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp); return the statistic and p-value."""
    result = stats.ks_2samp(_finite(reference, name, "reference"), _finite(current, name, "current"))
    return float(result.statistic), float(result.pvalue)


def compare_distributions(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    bins: int = 10,
    psi_threshold: float = 0.2,
    ks_alpha: float = 0.01,
) -> list[DriftResult]:
    """PSI and KS for every feature in `reference`; `current` must have the same features.

    A feature counts as drifted when its PSI exceeds `psi_threshold` or its KS
    p-value is below `ks_alpha`. With thousands of values the KS test finds
    even tiny shifts significant, so read its statistic alongside the p-value.
    """
    missing = sorted(set(reference) - set(current))
    if missing:
        raise ValueError(f"current sample has no values for {', '.join(missing)}; features present: {', '.join(current)}")
    results = []
    for name, values in reference.items():
        reference_values = _finite(values, name, "reference")
        current_values = _finite(current[name], name, "current")
        index = psi(reference_values, current_values, bins, name)
        statistic, pvalue = ks_test(reference_values, current_values, name)
        results.append(DriftResult(
            feature=name, psi=index, ks_statistic=statistic, ks_pvalue=pvalue,
            drifted=index > psi_threshold or pvalue < ks_alpha,
            reference_size=int(reference_values.size), current_size=int(current_values.size),
        ))
    return results
