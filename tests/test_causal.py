"""Causal module: analysis table, bad input, and the estimators on simulated data with a planted effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre_core.causal import columns as c
from genre_core.causal.analysis import AnalysisSettings, analyse
from genre_core.causal.errors import CausalInputError
from genre_core.causal.graph import parse_dot
from genre_core.causal.questions import custom_question, get_question
from genre_core.causal.segments import check_segment_rows
from genre_core.causal.validation import placebo_on_planted_zero, validate
from genre_core.config import load_config
from genre_core.schema import RATING, TIMESTAMP

FAST = AnalysisSettings(estimators=("linear_regression",), simulations=2, segments=())


@pytest.fixture(scope="module")
def table(trained_config) -> pd.DataFrame:
    from genre_core.causal.loading import load_table

    frame, version = load_table(load_config(trained_config))
    assert version is not None
    return frame


@pytest.fixture
def synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    confounder = rng.normal(size=n)
    treatment = (rng.random(n) < 1 / (1 + np.exp(-confounder))).astype(int)
    return pd.DataFrame({
        "t": treatment, "y": 0.5 * treatment + confounder + rng.normal(size=n), "x": confounder,
        "dose": rng.integers(0, 4, n), "same": np.ones(n, dtype=int), "segment": np.where(np.arange(n) < 590, "big", "small"),
    })


# Analysis table


def test_table_has_one_row_per_rating(table):
    assert len(table) > 99_000
    assert (table[c.HIGH_RATING] == (table[RATING] >= 4)).all()


def test_table_model_columns(table):
    assert table[c.IN_TOP10].isin([0, 1]).all()
    assert 0 < table[c.IN_TOP10].mean() < 0.5
    assert np.isfinite(table[c.MODEL_SCORE]).all()


def test_table_first_week_nothing_popular(table):
    first_week = table[TIMESTAMP] < table[TIMESTAMP].min() + 7 * 86_400
    assert table.loc[first_week, c.POPULAR].sum() == 0
    assert 0.2 < table[c.POPULAR].mean() < 0.9


def test_table_first_rating_has_no_genre_match(table):
    first = table[c.USER_ACTIVITY] == 0
    assert table.loc[first, c.GENRE_MATCH].sum() == 0
    assert table[c.GENRE_MATCH].mean() > 0.2


def test_table_segments_present(table):
    for column in c.SEGMENT_COLUMNS:
        assert table[column].nunique() >= 2


# One question end to end


def test_popularity_question_four_steps(table):
    sample = table.sample(n=5000, random_state=0).reset_index(drop=True)
    settings = AnalysisSettings(estimators=("linear_regression", "propensity_score_weighting"), bootstrap=10,
                                simulations=2, segments=(c.SEGMENT_GENDER,), min_segment_rows=100)
    report = analyse(sample, get_question("popularity"), settings).to_dict()

    assert report["estimand"]["backdoor"]["identified"]
    assert "popular" in report["estimand"]["backdoor"]["expression"]
    assert [item["estimator"] for item in report["estimates"]] == ["linear_regression", "propensity_score_weighting"]
    for item in report["estimates"]:
        assert item["ci_low"] <= item["value"] <= item["ci_high"]
        assert 0 <= item["p_value"] <= 1
    assert [item["refuter"] for item in report["refutations"]] == [
        "placebo_treatment_refuter", "random_common_cause", "data_subset_refuter", "dummy_outcome_refuter"]
    assert all(item["passed"] is not None for item in report["refutations"])
    assert {item["value"] for item in report["segments"]} == {"F", "M"}
    assert np.isfinite(report["model_sensitivity"]["value"])


# Bad input


def test_treatment_without_variation(synthetic):
    with pytest.raises(CausalInputError, match="treatment 'same' has no variation"):
        analyse(synthetic, custom_question("same", "y", ["x"]), FAST)


def test_constant_outcome(synthetic):
    with pytest.raises(CausalInputError, match="outcome 'same' is constant"):
        analyse(synthetic, custom_question("t", "same", ["x"]), FAST)


def test_non_binary_treatment_for_weighting(synthetic):
    settings = AnalysisSettings(estimators=("propensity_score_weighting",), segments=())
    with pytest.raises(CausalInputError, match="needs a binary 0/1 treatment, but 'dose'"):
        analyse(synthetic, custom_question("dose", "y", ["x"]), settings)


def test_non_binary_treatment_allowed_for_regression(synthetic):
    report = analyse(synthetic, custom_question("dose", "y", ["x"]), FAST)
    assert report.estimates[0]["estimator"] == "linear_regression"


def test_cyclic_graph(synthetic):
    question = custom_question("t", "y", ["x"], "digraph { x -> t; t -> y; y -> x; }")
    with pytest.raises(CausalInputError, match="has a cycle"):
        analyse(synthetic, question, FAST)


def test_confounder_missing_from_table(synthetic):
    with pytest.raises(CausalInputError, match=r"confounders \['income'\] are not in the analysis table"):
        analyse(synthetic, custom_question("t", "y", ["x", "income"]), FAST)


def test_graph_node_missing_from_table(synthetic):
    question = custom_question("t", "y", ["x"], "digraph { x -> t; x -> y; t -> y; mood -> y; }")
    with pytest.raises(CausalInputError, match=r"graph nodes \['mood'\] are not columns"):
        analyse(synthetic, question, FAST)


def test_too_few_rows_in_segment(synthetic):
    with pytest.raises(CausalInputError, match="segment segment=small has 10 rows, fewer than the minimum 100"):
        check_segment_rows(10, "segment", "small", 100)

    settings = AnalysisSettings(estimators=("linear_regression",), simulations=2, segments=("segment",), min_segment_rows=100)
    report = analyse(synthetic, custom_question("t", "y", ["x"]), settings)
    small = next(item for item in report.segments if item["value"] == "small")
    assert "fewer than the minimum 100" in small["skipped"]
    assert "effect" in next(item for item in report.segments if item["value"] == "big")


def test_unreadable_graph_statement():
    with pytest.raises(CausalInputError, match="cannot read the graph statement"):
        parse_dot("digraph { a -> ; }")


def test_unknown_question_and_estimator():
    with pytest.raises(CausalInputError, match="unknown causal question 'weather'"):
        get_question("weather")
    with pytest.raises(CausalInputError, match="unknown estimator 'magic'"):
        AnalysisSettings(estimators=("magic",))


def test_recovers_planted_effect_on_synthetic(synthetic):
    report = analyse(synthetic, custom_question("t", "y", ["x"]), FAST)
    estimate = report.estimates[0]
    assert estimate["ci_low"] <= 0.5 <= estimate["ci_high"]
    assert report.naive_difference > estimate["ci_high"]


# Validation with a planted effect


def test_validate_covers_planted_effect(table):
    result = validate(table, seeds=4, rows=1500, bootstrap=20)

    for name, summary in result["estimators"].items():
        assert abs(summary["bias"]) < 0.1, name
        assert summary["coverage"] >= 0.75, name
    assert result["naive_difference"]["bias"] > 0.5


def test_placebo_passes_on_planted_zero(table):
    result = placebo_on_planted_zero(table, rows=2000, seed=1)

    assert result["estimate"]["ci_low"] <= 0 <= result["estimate"]["ci_high"]
    assert result["placebo"]["passed"] is True
