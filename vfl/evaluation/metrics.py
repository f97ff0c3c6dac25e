"""Model-evaluation metrics for binary scores: AUC, KS, precision/recall/F1 and lift.

Pure numpy.  Labels may be ``{0, 1}``, ``{-1, +1}`` or booleans; the positive class
(the event: fraud, default) is ``1``/``+1``/``True``.  Higher scores mean "more likely
positive".  Every function raises :class:`~vfl.exceptions.MetricError` with a message
saying what is wrong and what to do when its inputs cannot give a meaningful number.

>>> report = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> report["auc"], report["ks"], report["rows"], report["positives"]
(0.75, 0.5, 4, 2)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from vfl.exceptions import MetricError

__all__ = ["evaluate", "ks_statistic", "lift", "precision_recall_f1", "roc_auc", "roc_curve"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_LABEL_SETS = ({0, 1}, {-1, 1})


def roc_curve(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Receiver operating characteristic: one point per distinct score.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.
    sample_weight : array_like, optional
        One finite, non-negative weight per row; rows of weight zero are ignored.

    Returns
    -------
    fpr, tpr, thresholds : numpy.ndarray
        False and true positive rates when predicting positive for ``score >= threshold``,
        thresholds decreasing.  The first point is ``(0, 0)`` at threshold ``inf``; tied
        scores make one threshold (as scikit-learn's ``roc_curve`` with
        ``drop_intermediate=False``).

    Raises
    ------
    MetricError
        If the inputs are invalid or only one class has non-zero weight.

    Examples
    --------
    >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    >>> thresholds.tolist()
    [inf, 0.8, 0.4, 0.35, 0.1]
    """
    positive, values = _labels_and_scores(y_true, scores)
    weight = _weights(sample_weight, positive.size)
    keep = weight != 0
    positive, values, weight = positive[keep], values[keep], weight[keep]
    _require_both_classes(positive)
    order = np.argsort(-values, kind="stable")
    values, positive, weight = values[order], positive[order], weight[order]
    true_positives = np.cumsum(np.where(positive, weight, 0.0))
    false_positives = np.cumsum(np.where(positive, 0.0, weight))
    last_of_tie = np.append(np.flatnonzero(values[1:] != values[:-1]), values.size - 1)
    tps, fps = true_positives[last_of_tie], false_positives[last_of_tie]
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    thresholds = np.concatenate(([np.inf], values[last_of_tie]))
    return fpr, tpr, thresholds


def roc_auc(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None
) -> float:
    """Area under the ROC curve: the chance a positive scores above a negative.

    Ties between a positive and a negative count one half (the trapezoidal area under
    :func:`roc_curve`), as scikit-learn's ``roc_auc_score``.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.
    sample_weight : array_like, optional
        One finite, non-negative weight per row.

    Returns
    -------
    float
        The AUC, in ``[0, 1]``; 0.5 is no better than chance.

    Raises
    ------
    MetricError
        If the inputs are invalid or only one class is present.

    Examples
    --------
    >>> roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    0.875
    """
    fpr, tpr, _ = roc_curve(y_true, scores, sample_weight=sample_weight)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def ks_statistic(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap ``TPR - FPR`` over all cut-offs.

    Equivalently the largest distance between the score distributions of positives and
    negatives, where positives score higher.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.

    Returns
    -------
    float
        KS, in ``[0, 1]``; 0 means the scores do not separate the classes.

    Raises
    ------
    MetricError
        If the inputs are invalid or only one class is present.

    Examples
    --------
    >>> ks_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    """
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.max(tpr - fpr))


def precision_recall_f1(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, *, threshold: float = 0.5
) -> dict[str, float]:
    """Precision, recall and F1 when predicting positive for ``score >= threshold``.

    A ratio ``0/0`` (no predicted positives, or no positives at all) is 0.0, as
    scikit-learn with ``zero_division=0``.  One class alone is accepted here.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans.
    scores : array_like
        One finite score per label, normally a probability.
    threshold : float, default 0.5
        The probability cut-off, in ``[0, 1]``.

    Returns
    -------
    dict
        ``{"precision": ..., "recall": ..., "f1": ...}``, Python floats.

    Raises
    ------
    MetricError
        If the inputs are invalid or ``threshold`` is outside ``[0, 1]``.

    Examples
    --------
    >>> result = precision_recall_f1([0, 0, 1, 1], [0.1, 0.6, 0.35, 0.8], threshold=0.5)
    >>> {name: round(value, 4) for name, value in result.items()}
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    if not 0.0 <= threshold <= 1.0:
        raise MetricError(
            f"threshold must be in [0, 1], got {threshold!r}: pass a probability cut-off "
            "such as 0.5"
        )
    positive, values = _labels_and_scores(y_true, scores)
    predicted = values >= threshold
    true_positives = int(np.count_nonzero(predicted & positive))
    predicted_positives = int(np.count_nonzero(predicted))
    actual_positives = int(np.count_nonzero(positive))
    return {
        "precision": _ratio(true_positives, predicted_positives),
        "recall": _ratio(true_positives, actual_positives),
        "f1": _ratio(2 * true_positives, predicted_positives + actual_positives),
    }


def lift(y_true: npt.ArrayLike, scores: npt.ArrayLike, *, fraction: float = 0.1) -> float:
    """Lift of the top ``fraction`` of rows: their positive rate over the overall rate.

    The top is the first ``ceil(fraction * n)`` rows by decreasing score; rows with equal
    scores keep their input order.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score per label, higher meaning more likely positive.
    fraction : float, default 0.1
        The share of rows targeted, in ``(0, 1]`` (0.1: the top decile).

    Returns
    -------
    float
        1.0 is no better than picking rows at random; ``1 / positive rate`` is the best.

    Raises
    ------
    MetricError
        If the inputs are invalid, only one class is present or ``fraction`` is outside
        ``(0, 1]``.

    Examples
    --------
    >>> y = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    >>> s = [0.9, 0.8, 0.1, 0.7, 0.3, 0.2, 0.2, 0.1, 0.4, 0.5]
    >>> lift(y, s, fraction=0.2)
    2.5
    """
    if not 0.0 < fraction <= 1.0:
        raise MetricError(
            f"fraction must be in (0, 1], got {fraction!r}: pass the share of rows targeted, "
            "e.g. 0.1 for the top 10%"
        )
    positive, values = _labels_and_scores(y_true, scores)
    _require_both_classes(positive)
    top = np.argsort(-values, kind="stable")[: _top_rows(fraction, positive.size)]
    top_rate = np.count_nonzero(positive[top]) / top.size
    overall_rate = np.count_nonzero(positive) / positive.size
    return float(top_rate / overall_rate)


def evaluate(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    threshold: float = 0.5,
    lift_fraction: float = 0.1,
) -> dict[str, float]:
    """Every metric at once, as a JSON-serialisable dictionary of Python numbers.

    Parameters
    ----------
    y_true : array_like
        Labels, ``{0, 1}``, ``{-1, +1}`` or booleans; both classes must be present.
    scores : array_like
        One finite score (probability) per label.
    threshold : float, default 0.5
        Cut-off for precision, recall and F1, in ``[0, 1]``.
    lift_fraction : float, default 0.1
        Share of top-scored rows for the lift, in ``(0, 1]``.

    Returns
    -------
    dict
        ``auc``, ``ks``, ``precision``, ``recall``, ``f1``, ``lift`` (floats) and
        ``rows``, ``positives`` (ints).

    Raises
    ------
    MetricError
        As the individual metrics.

    Examples
    --------
    >>> report = evaluate([0, 0, 1, 1], [0.1, 0.6, 0.35, 0.8], lift_fraction=0.25)
    >>> sorted(report)
    ['auc', 'f1', 'ks', 'lift', 'positives', 'precision', 'recall', 'rows']
    >>> report["auc"], report["lift"], report["rows"]
    (0.75, 2.0, 4)
    """
    positive, values = _labels_and_scores(y_true, scores)
    report: dict[str, float] = {
        "auc": roc_auc(positive, values),
        "ks": ks_statistic(positive, values),
        **precision_recall_f1(positive, values, threshold=threshold),
        "lift": lift(positive, values, fraction=lift_fraction),
        "rows": int(positive.size),
        "positives": int(np.count_nonzero(positive)),
    }
    return report


def _labels_and_scores(
    y_true: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[BoolArray, FloatArray]:
    """Validate labels and scores; return the positive mask and float scores."""
    labels = _one_dimensional(y_true, "y_true")
    values = _one_dimensional(scores, "scores")
    if labels.size != values.size:
        raise MetricError(
            f"y_true has {labels.size} rows but scores has {values.size}: "
            "pass exactly one score per label"
        )
    if labels.size == 0:
        raise MetricError("no rows: pass at least one label and its score")
    return _positive_mask(labels), _finite_scores(values)


def _one_dimensional(data: npt.ArrayLike, name: str) -> npt.NDArray[np.generic]:
    array = np.asarray(data)
    if array.ndim != 1:
        raise MetricError(
            f"{name} must be one-dimensional, got shape {array.shape}: pass a flat "
            "sequence (e.g. numpy.ravel it)"
        )
    return array


def _positive_mask(labels: npt.NDArray[np.generic]) -> BoolArray:
    if labels.dtype.kind == "b":
        return labels.astype(np.bool_)
    found = set(np.unique(labels).tolist()) if labels.dtype.kind in "iuf" else None
    if found is None or not any(found <= allowed for allowed in _LABEL_SETS):
        shown = sorted(found, key=repr)[:6] if found is not None else f"dtype {labels.dtype}"
        raise MetricError(
            f"labels must be 0/1, -1/+1 or booleans, got {shown}: encode the positive "
            "class (the event) as 1 and the other as 0"
        )
    return np.asarray(labels == 1, dtype=np.bool_)


def _finite_scores(values: npt.NDArray[np.generic]) -> FloatArray:
    if values.dtype.kind not in "biuf":
        raise MetricError(
            f"scores must be real numbers, got dtype {values.dtype}: pass the model's "
            "scores or probabilities"
        )
    floats = values.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(floats))
    if bad.size:
        raise MetricError(
            f"scores contain {bad.size} non-finite value(s) (NaN or infinity), first at "
            f"row {bad[0]}: drop those rows or fix the model output"
        )
    return floats


def _weights(sample_weight: npt.ArrayLike | None, rows: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(rows)
    weight = _one_dimensional(sample_weight, "sample_weight")
    if weight.size != rows or weight.dtype.kind not in "biuf":
        raise MetricError(
            f"sample_weight must hold one real number per row ({rows}), got {weight.size} "
            f"of dtype {weight.dtype}: pass one weight per label"
        )
    floats = weight.astype(np.float64)
    if not np.all(np.isfinite(floats) & (floats >= 0)):
        raise MetricError(
            "sample_weight contains negative or non-finite values: weights must be finite and >= 0"
        )
    return floats


def _require_both_classes(positive: BoolArray) -> None:
    positives = int(np.count_nonzero(positive))
    negatives = positive.size - positives
    if positives == 0 or negatives == 0:
        raise MetricError(
            f"only one class present ({positives} positive, {negatives} negative rows; rows "
            "of weight zero do not count): AUC, KS and lift need both, so evaluate on rows "
            "containing events and non-events"
        )


def _top_rows(fraction: float, rows: int) -> int:
    """``ceil(fraction * rows)``, ignoring float noise (0.3 * 10 is 3, not 4)."""
    exact = fraction * rows
    return max(1, math.ceil(exact - 1e-9 * exact))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0
