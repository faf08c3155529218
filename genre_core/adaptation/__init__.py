"""Adaptation: a configurable policy that reacts to drift, and the actions it takes through the model registry."""
