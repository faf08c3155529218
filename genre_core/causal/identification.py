"""Identification: which estimands DoWhy finds for a graph, with their expressions."""

from __future__ import annotations

from dowhy import CausalModel

from genre_core.causal.errors import CausalInputError

ESTIMAND_KINDS = ("backdoor", "iv", "frontdoor")


def identify(model: CausalModel):
    """Return DoWhy's identified estimand and a summary of each kind (expression and variables)."""
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    summary = {}
    for kind in ESTIMAND_KINDS:
        found = estimand.estimands.get(kind)
        variables = {
            "backdoor": estimand.get_backdoor_variables, "iv": estimand.get_instrumental_variables,
            "frontdoor": estimand.get_frontdoor_variables,
        }[kind]()
        summary[kind] = {
            "identified": found is not None,
            "expression": str(found["estimand"]) if found else None,
            "assumptions": {key: str(value) for key, value in (found or {}).get("assumptions", {}).items()},
            "variables": list(variables or []),
        }
    if not summary["backdoor"]["identified"]:
        raise CausalInputError(
            "DoWhy found no backdoor estimand for this graph, and the estimators here need one; "
            "add the confounders of the treatment and outcome to the graph"
        )
    return estimand, summary
