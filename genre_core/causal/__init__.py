"""Causal effect estimates with DoWhy: model the graph, identify the estimand, estimate it, refute it."""
