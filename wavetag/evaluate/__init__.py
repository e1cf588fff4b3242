"""Evaluation: metrics (pure numpy functions), the report (metrics.json, report.md/html, plots)
and the `wavetag compare` leaderboard.

>>> from wavetag.evaluate import compute_metrics, write_report
>>> m = compute_metrics(probs, y, task="multiclass", labels=labels)   # probs [N, C], y [N]
>>> write_report("run/report", metrics=m, labels=labels, task="multiclass", predictions=records)

matplotlib and torch are imported only inside the plotting functions.
"""

from wavetag.evaluate.compute import compute_metrics
from wavetag.evaluate.leaderboard import LeaderboardPaths, write_leaderboard
from wavetag.evaluate.report import ReportPaths, write_report
from wavetag.lazy import lazy_getattr

__all__ = [
    "LeaderboardPaths",
    "ReportPaths",
    "compute_metrics",
    "pool_window_logits",
    "write_leaderboard",
    "write_report",
]

# `evaluate` itself needs torch and the models; it is imported on first use.
__getattr__ = lazy_getattr(
    __name__,
    {
        "evaluate": "wavetag.evaluate.run",
        "EvalResult": "wavetag.evaluate.run",
        "pool_window_logits": "wavetag.inference.windows",
    },
)
