"""Evaluation: metrics (SPEC section 5), run directories, reports and plots.

- :mod:`sertk.eval.metrics`: WA, UA, macro-F1, confusion; mean/std across folds, pooled.
- :mod:`sertk.eval.rundir`: the run directory layout and its files (what a training engine
  writes per fold: ``init_run``, ``write_history``, ``write_fold``).
- :mod:`sertk.eval.report`: ``aggregate_run`` (run-level metrics.json, predictions.csv,
  report.md) and the ablation table of the paper's Table 2.
- :mod:`sertk.eval.plots`: confusion matrices and training curves as PNG (imported on use,
  as it loads matplotlib).
"""
from sertk.eval.metrics import fold_metrics, summarize
from sertk.eval.report import (MODEL_TITLES, PAPER_IEMOCAP, ablation_table, aggregate_run,
                               read_metrics, render_report, write_ablation)
from sertk.eval.rundir import (HISTORY_COLUMNS, IncompleteRunError, Predictions, ReportError,
                               fold_dir, init_run, read_predictions, read_run, write_fold,
                               write_history, write_predictions)

__all__ = [
    "HISTORY_COLUMNS", "IncompleteRunError", "MODEL_TITLES", "PAPER_IEMOCAP", "Predictions",
    "ReportError", "ablation_table", "aggregate_run", "fold_dir", "fold_metrics", "init_run",
    "read_metrics", "read_predictions", "read_run", "render_report", "summarize",
    "write_ablation", "write_fold", "write_history", "write_predictions",
]
