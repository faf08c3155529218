"""Monitoring of a deployed model over a time-ordered stream: quality, distribution drift and concept drift."""
