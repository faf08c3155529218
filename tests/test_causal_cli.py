"""`genre causal` and `genre causal validate` through the real command-line entry point."""

from __future__ import annotations

import json

import pytest

from genre_core.cli import main

FAST = ["--simulations", "2", "--bootstrap", "10"]


def run_json(capsys, *args: str) -> dict:
    code = main([*args, "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_causal_question_json_fields(trained_config, capsys):
    result = run_json(capsys, "causal", "--config", str(trained_config), "--question", "popularity",
                      "--estimator", "linear_regression", *FAST)

    assert result["question"]["treatment"] == "popular"
    assert result["estimand"]["backdoor"]["identified"]
    assert result["estimand"]["backdoor"]["expression"].startswith("Derivative(Expectation(high_rating")
    estimate = result["estimates"][0]
    assert estimate["estimator"] == "linear_regression"
    assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]
    assert 0 <= estimate["p_value"] <= 1
    assert len(result["refutations"]) == 4
    assert all(item["message"] for item in result["refutations"])
    assert result["segments"]
    assert result["model_version"]


def test_causal_validate_json_fields(trained_config, capsys):
    result = run_json(capsys, "causal", "validate", "--config", str(trained_config), "--seeds", "2", "--rows", "800",
                      "--estimator", "linear_regression,propensity_score_weighting", "--bootstrap", "10")

    assert set(result["estimators"]) == {"linear_regression", "propensity_score_weighting"}
    for summary in result["estimators"].values():
        assert set(summary) == {"bias", "mean_absolute_error", "coverage"}
    assert result["naive_difference"]["bias"] > 0.5
    assert result["placebo_on_planted_zero"]["placebo"]["passed"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["--question", "custom"], "a custom question needs --treatment"),
    (["--question", "custom", "--treatment", "popular", "--confounders", "income"], "confounders ['income'] are not in"),
    (["--question", "custom", "--treatment", "user_age", "--estimator", "propensity_score_weighting"], "needs a binary 0/1 treatment"),
    (["--estimator", "magic"], "unknown estimator 'magic'"),
])
def test_causal_bad_input_is_one_line(trained_config, capsys, args, message):
    code = main(["causal", "--config", str(trained_config), *args, *FAST, "--quiet"])
    error = capsys.readouterr().err.strip()

    assert code == 2
    assert message in error
    assert "Traceback" not in error
