"""Errors of the training engine that callers handle (kept free of heavy imports)."""
from __future__ import annotations


class TrainingInterrupted(RuntimeError):
    """Training was stopped by a signal (SIGTERM); the run directory can be resumed by
    running the same command again."""
