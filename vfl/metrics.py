"""``vfl.metrics``, a documented path: the code lives in :mod:`vfl.evaluation.metrics`."""

from vfl.evaluation.metrics import (
    evaluate,
    ks_statistic,
    lift,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)

__all__ = [
    "evaluate",
    "ks_statistic",
    "lift",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
]
