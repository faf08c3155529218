"""Feedback: a durable label store, retraining jobs and the promotion guard."""
