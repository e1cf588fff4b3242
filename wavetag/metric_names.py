"""The names of the clip-level metrics, without computing anything (no numpy: the CLI's help and
the config checks read them at start-up).

`wavetag.evaluate.compute.compute_metrics` returns these under ``"overall"`` (top-k accuracy only
where k is below the number of classes; a test checks the names); training logs them with a
``val_`` prefix, and any of them but the EER pair can pick ``best/`` (``keep_best_by``) or drive
early stopping (``monitor``).
"""

from __future__ import annotations

OVERALL_METRICS = {
    "multiclass": ("accuracy", "balanced_accuracy", "macro_f1", "top_3_accuracy", "top_5_accuracy", "map_at_3"),
    "multilabel": ("top1_accuracy", "macro_f1", "micro_f1", "mAP", "lwlrap", "map_at_3"),
    "binary": ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "eer", "eer_threshold", "average_precision"),
}
DEFAULT_TASK_METRIC = {"multiclass": "accuracy", "multilabel": "lwlrap", "binary": "roc_auc"}  # report headline
NOT_MONITORED = ("eer", "eer_threshold")  # a rate to minimise and a threshold: neither picks a model
LOWER_IS_BETTER = ("val_loss",)

# "val_loss" is minimised, the others maximised.
MONITORS = ("val_loss",) + tuple(
    f"val_{name}"
    for name in dict.fromkeys(n for names in OVERALL_METRICS.values() for n in names)
    if name not in NOT_MONITORED
)
