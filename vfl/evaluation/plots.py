"""PNG plots of a model's training history, ROC curves, KS and a feature's WOE per bin.

matplotlib is optional and imported only when a plot is drawn; it draws through the
non-interactive Agg canvas, so no global state (backend, current figure) is touched.
Each file is written under a temporary name next to its path and renamed into place, so
a reader never sees half an image.  The numbers come from :mod:`vfl.metrics`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vfl.evaluation.metrics import ks_statistic, lift, roc_auc, roc_curve
from vfl.exceptions import MetricError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_history", "plot_ks", "plot_lift", "plot_roc", "plot_woe"]

_MISSING_MATPLOTLIB = "plots need matplotlib: pip install 'vfl-engine[plot]'"
_VALIDATION_SERIES = {"validation_auc": "validation AUC", "validation_ks": "validation KS"}


def plot_history(
    history: Sequence[Mapping[str, float | None]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Plot the training loss per epoch and, below it, validation AUC and KS if present.

    Parameters
    ----------
    history : sequence of mapping
        One mapping per epoch with ``"epoch"`` and ``"loss"`` and optionally
        ``"validation_auc"`` and ``"validation_ks"``; a value ``None`` is a gap.
    path : str or os.PathLike
        The PNG file to write; its directory is created if needed.
    title : str, optional
        Title above the plot.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MetricError
        If ``history`` is empty or an epoch lacks ``"epoch"`` or ``"loss"``.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> history = [
    ...     {"epoch": 0, "loss": 0.65, "validation_auc": 0.81},
    ...     {"epoch": 1, "loss": 0.52, "validation_auc": None},  # a gap
    ...     {"epoch": 2, "loss": 0.47, "validation_auc": 0.86},
    ... ]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_history(history, Path(folder) / "plots" / "history.png")
    ...     path.name, path.read_bytes()[1:4]
    ('history.png', b'PNG')
    """
    if not history:
        raise MetricError("history is empty: pass one dictionary per epoch")
    for index, entry in enumerate(history):
        if "epoch" not in entry or "loss" not in entry:
            raise MetricError(
                f"history[{index}] has no 'epoch' or 'loss': give every epoch both keys"
            )
    epochs = _series(history, "epoch")
    validation = {
        label: _series(history, key)
        for key, label in _VALIDATION_SERIES.items()
        if any(entry.get(key) is not None for entry in history)
    }
    from matplotlib.ticker import MaxNLocator

    figure = _figure(height=6.5 if validation else 4.0)
    axes = figure.subplots(2 if validation else 1, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].plot(epochs, _series(history, "loss"), "-o", markersize=3, label="loss")
    axes[0].set_ylabel("training loss")
    for label, values in validation.items():
        axes[1].plot(epochs, values, "-o", markersize=3, label=label)
    if validation:
        axes[1].set_ylabel("validation metric")
        axes[1].set_ylim(0.0, 1.0)
        axes[1].legend(loc="lower right")
    for axis in axes:
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(figure, path, title or "Training history")


def plot_roc(
    curves: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Plot one ROC curve per model, with its AUC in the legend, and the chance diagonal.

    Parameters
    ----------
    curves : mapping
        Model name (e.g. ``"federated"``, ``"guest only"``, ``"centralised"``) to its
        ``(y_true, scores)`` on the same evaluation rows.
    path : str or os.PathLike
        The PNG file to write; its directory is created if needed.
    title : str, optional
        Title above the plot.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MetricError
        If ``curves`` is empty or a model's labels or scores are invalid.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> y = [0, 0, 1, 1, 0, 1]
    >>> curves = {
    ...     "federated": (y, [0.1, 0.3, 0.8, 0.7, 0.2, 0.9]),
    ...     "guest only": (y, [0.4, 0.6, 0.5, 0.7, 0.3, 0.6]),
    ... }
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_roc(curves, Path(folder) / "roc.png", title="ROC, test rows")
    ...     path.suffix, path.stat().st_size > 0
    ('.png', True)
    """
    if not curves:
        raise MetricError("curves is empty: pass at least one model's (y_true, scores)")
    points = {name: roc_curve(y, s)[:2] for name, (y, s) in curves.items()}
    areas = {name: roc_auc(y, s) for name, (y, s) in curves.items()}
    figure = _figure(height=5.5, width=5.5)
    axis = figure.subplots()
    for name, (fpr, tpr) in points.items():
        axis.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC = {areas[name]:.3f})")
    axis.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="chance (AUC = 0.5)")
    axis.set_xlim(0.0, 1.0)
    axis.set_ylim(0.0, 1.0)
    axis.set_aspect("equal")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    return _save(figure, path, title or "ROC")


def plot_ks(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Plot the cumulative score distributions of positives and negatives and the KS gap.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.
    path : str or os.PathLike
        The PNG file to write; its directory is created if needed.
    title : str, optional
        Title above the plot.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MetricError
        If the labels or scores are invalid.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], os.path.join(folder, "ks.png"))
    ...     sorted(os.listdir(folder))  # no temporary file is left behind
    ['ks.png']
    >>> plot_ks([1, 1], [0.2, 0.9], "never-written.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.MetricError: ...
    """
    fpr, tpr, thresholds = roc_curve(y_true, scores)
    ks = ks_statistic(y_true, scores)
    # Share of each class scoring at most each distinct score, in increasing score order:
    # P(score <= t_i) = 1 - P(score >= t_(i-1)), t_(i-1) being the next higher threshold.
    score = thresholds[1:][::-1]
    negatives = (1.0 - fpr[:-1])[::-1]
    positives = (1.0 - tpr[:-1])[::-1]
    widest = int(np.argmax(negatives - positives))
    figure = _figure(height=4.5)
    axis = figure.subplots()
    axis.step(score, positives, where="post", label="positives (events)")
    axis.step(score, negatives, where="post", label="negatives (non-events)")
    axis.vlines(
        score[widest],
        positives[widest],
        negatives[widest],
        colors="black",
        linestyles="--",
        label=f"KS = {ks:.3f} at score {score[widest]:.4g}",
    )
    axis.set_ylim(0.0, 1.0)
    axis.set_xlabel("score")
    axis.set_ylabel("cumulative share of the class")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    return _save(figure, path, title or "KS")


def plot_woe(
    labels: Sequence[str],
    woe: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    rows: npt.ArrayLike | None = None,
    title: str | None = None,
) -> Path:
    """Plot a binned feature's weight of evidence per bin and, below it, its rows per bin.

    Positive WOE is riskier than average (more events than the feature's average share).

    Parameters
    ----------
    labels : sequence of str
        The bins, in order (``"(-inf, 3.5]"``, ``"{A, B}"``, ``"missing"``).
    woe : array_like
        One finite WOE per bin.
    path : str or os.PathLike
        The PNG file to write; its directory is created if needed.
    rows : array_like, optional
        Rows per bin: drawn as a second panel when given.
    title : str, optional
        Title above the plot (e.g. the feature's name and IV).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MetricError
        If there is no bin, or the WOE values or row counts do not match the bins or
        are not finite.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_woe(["(-inf, 30]", "(30, inf)", "missing"], [0.4, -0.3, 0.1],
    ...                     Path(folder) / "woe-age.png", rows=[120, 300, 15], title="age")
    ...     path.name, path.read_bytes()[1:4]
    ('woe-age.png', b'PNG')
    >>> plot_woe(["a", "b"], [0.1], "never-written.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.MetricError: 2 bins but 1 WOE values...
    """
    names = [str(label) for label in labels]
    values = _bin_values(woe, len(names), "WOE values")
    counts = None if rows is None else _bin_values(rows, len(names), "row counts")
    if not names:
        raise MetricError("no bins to plot: pass at least one bin label and its WOE")
    figure = _figure(height=5.5 if counts is not None else 3.8)
    axes = figure.subplots(2 if counts is not None else 1, 1, sharex=True, squeeze=False)[:, 0]
    positions = np.arange(len(names))
    colours = ["#c0392b" if value > 0 else "#2874a6" for value in values]
    axes[0].bar(positions, values, color=colours)
    axes[0].axhline(0.0, color="black", linewidth=0.8)
    axes[0].set_ylabel("WOE (> 0: riskier)")
    if counts is not None:
        axes[1].bar(positions, counts, color="#7f8c8d")
        axes[1].set_ylabel("rows")
    for axis in axes:
        axis.grid(True, axis="y", alpha=0.3)
    axes[-1].set_xticks(positions, names, rotation=30, ha="right", fontsize=8)
    return _save(figure, path, title or "WOE per bin")


LIFT_FRACTIONS = tuple(k / 10 for k in range(1, 11))
"""The shares of top-scored rows :func:`plot_lift` plots: 10 %, 20 %, ... 100 %."""


def plot_lift(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str = "Cumulative lift",
) -> Path:
    """Plot the cumulative lift of the 10 %, 20 %, ... 100 % top-scored rows.

    Parameters
    ----------
    y_true : array_like
        True labels, ``{0, 1}``; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.
    path : str or os.PathLike
        The PNG file to write (under a temporary name, then renamed).
    title : str, default "Cumulative lift"

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MetricError
        If the labels or scores are invalid.
    """
    lifts = [lift(y_true, scores, fraction=share) for share in LIFT_FRACTIONS]
    figure = _figure(height=4.0)
    axis = figure.subplots()
    shares = [100 * share for share in LIFT_FRACTIONS]
    axis.plot(shares, lifts, marker="o", label="model")
    axis.axhline(1.0, color="grey", linestyle="--", label="random")
    axis.set_xlabel("top-scored rows (%)")
    axis.set_ylabel("lift")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="upper right")
    return _save(figure, path, title)


def _bin_values(values: npt.ArrayLike, bins: int, what: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size != bins:
        raise MetricError(f"{bins} bins but {array.size} {what}; give one per bin")
    if not np.isfinite(array).all():
        raise MetricError(f"the {what} must be finite numbers")
    return array


def _series(history: Sequence[Mapping[str, float | None]], key: str) -> list[float]:
    values = (entry.get(key) for entry in history)
    return [float("nan") if value is None else float(value) for value in values]


def _figure(*, height: float, width: float = 7.0) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(_MISSING_MATPLOTLIB) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | os.PathLike[str], title: str) -> Path:
    """Write ``figure`` as PNG to a temporary file next to ``path``, then rename it."""
    figure.suptitle(title)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format="png", dpi=110)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
