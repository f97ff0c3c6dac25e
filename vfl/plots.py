"""``vfl.plots``, a documented path: the code lives in :mod:`vfl.evaluation.plots`."""

from vfl.evaluation.plots import (
    plot_history,
    plot_ks,
    plot_lift,
    plot_roc,
    plot_woe,
)

__all__ = [
    "plot_history",
    "plot_ks",
    "plot_lift",
    "plot_roc",
    "plot_woe",
]
