"""Evaluation metrics against scikit-learn, their laws, hand-computed values, and the plots."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn import metrics as sk

from vfl.evaluation import metrics
from vfl.exceptions import MetricError, VflError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _data(seed: int, rows: int, levels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes and scores in [0, 1]; ``levels`` distinct values makes ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    y[:2] = [0, 1]
    scores = rng.random(rows) if levels is None else rng.integers(0, levels, rows) / levels
    return y, scores


DATASETS = [
    (seed, rows, levels) for seed in range(3) for rows in (2, 7, 300) for levels in (None, 1, 4)
]


# --- equality with scikit-learn -------------------------------------------------------------


@pytest.mark.parametrize(("seed", "rows", "levels"), DATASETS)
def test_roc_auc_and_curve_equal_sklearn(seed: int, rows: int, levels: int | None) -> None:
    y, s = _data(seed, rows, levels)
    assert metrics.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thresholds = metrics.roc_curve(y, s)
    fpr_sk, tpr_sk, thresholds_sk = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr_sk, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tpr, tpr_sk, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thresholds, thresholds_sk)
    assert metrics.ks_statistic(y, s) == pytest.approx(np.max(tpr_sk - fpr_sk), abs=1e-12)


@pytest.mark.parametrize(("seed", "rows", "levels"), DATASETS)
def test_weighted_roc_auc_and_curve_equal_sklearn(seed: int, rows: int, levels: int | None) -> None:
    y, s = _data(seed, rows, levels)
    rng = np.random.default_rng(100 + seed)
    weight = rng.uniform(0.1, 3.0, rows)
    weight[2::5] = 0.0  # rows of weight zero are ignored, as in scikit-learn
    expected = sk.roc_auc_score(y, s, sample_weight=weight)
    assert metrics.roc_auc(y, s, sample_weight=weight) == pytest.approx(expected, abs=1e-12)
    ours = metrics.roc_curve(y, s, sample_weight=weight)
    theirs = sk.roc_curve(y, s, sample_weight=weight, drop_intermediate=False)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12)


def test_integer_weights_equal_repeated_rows() -> None:
    y, s = _data(7, 60, 5)
    repeats = np.random.default_rng(7).integers(0, 4, 60)
    repeats[:2] = 1
    weighted = metrics.roc_auc(y, s, sample_weight=repeats)
    assert weighted == pytest.approx(metrics.roc_auc(np.repeat(y, repeats), np.repeat(s, repeats)))


@pytest.mark.parametrize(("seed", "rows", "levels"), DATASETS)
@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_precision_recall_f1_equal_sklearn(
    seed: int, rows: int, levels: int | None, threshold: float
) -> None:
    y, s = _data(seed, rows, levels)
    predicted = (s >= threshold).astype(int)
    result = metrics.precision_recall_f1(y, s, threshold=threshold)
    assert list(result) == ["precision", "recall", "f1"]
    assert result["precision"] == pytest.approx(
        sk.precision_score(y, predicted, zero_division=0), abs=1e-12
    )
    assert result["recall"] == pytest.approx(
        sk.recall_score(y, predicted, zero_division=0), abs=1e-12
    )
    assert result["f1"] == pytest.approx(sk.f1_score(y, predicted, zero_division=0), abs=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_precision_recall_f1_accept_one_class_like_sklearn(labels: list[int]) -> None:
    s = [0.2, 0.7, 0.9]
    predicted = [0, 1, 1]
    result = metrics.precision_recall_f1(labels, s)
    assert result == {
        "precision": sk.precision_score(labels, predicted, zero_division=0),
        "recall": sk.recall_score(labels, predicted, zero_division=0),
        "f1": sk.f1_score(labels, predicted, zero_division=0),
    }


# --- hand-computed values -------------------------------------------------------------------


def test_tiny_auc_ks_with_a_tie() -> None:
    # pairs (positive, negative): (0.5, 0.5) tie = 1/2, the other three are ordered: 3.5 / 4
    y, s = [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]
    assert metrics.roc_auc(y, s) == 0.875
    fpr, tpr, thresholds = metrics.roc_curve(y, s)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert thresholds.tolist() == [math.inf, 0.9, 0.5, 0.2]
    assert metrics.ks_statistic(y, s) == 0.5


def test_perfect_reversed_and_constant_scores() -> None:
    y = [0, 0, 1, 1]
    assert metrics.roc_auc(y, [1, 2, 3, 4]) == 1.0
    assert metrics.ks_statistic(y, [1, 2, 3, 4]) == 1.0
    assert metrics.roc_auc(y, [4, 3, 2, 1]) == 0.0
    assert metrics.ks_statistic(y, [4, 3, 2, 1]) == 0.0
    assert metrics.roc_auc(y, [7, 7, 7, 7]) == 0.5
    assert metrics.ks_statistic(y, [7, 7, 7, 7]) == 0.0


def test_precision_recall_f1_by_hand() -> None:
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    s = [0.9, 0.6, 0.4, 0.7, 0.5, 0.1, 0.2, 0.5]
    # predicted positive (>= 0.5): rows 0, 1, 3, 4, 7 -> tp = 3 (0, 1, 7), fp = 2, fn = 1
    result = metrics.precision_recall_f1(y, s)
    assert result == {"precision": 3 / 5, "recall": 3 / 4, "f1": 6 / 9}
    none_predicted = metrics.precision_recall_f1(y, s, threshold=1.0)
    assert none_predicted == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


# 10 rows, 2 positives (overall rate 0.2), scores strictly decreasing except the tie at 0.5.
TEN_Y = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
TEN_S = [0.9, 0.8, 0.5, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.05]


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.1, 5.0),  # top 1 row: 1/1 positive -> 1.0 / 0.2
        (0.2, 2.5),  # top 2 rows: 1/2 -> 0.5 / 0.2
        (0.3, 1 / 3 / 0.2),  # 3 rows (0.3 * 10 is 3.0000000000000004 in floats): 1/3
        (0.35, 2 / 4 / 0.2),  # ceil(3.5) = 4 rows: 2/4
        (0.4, 2.5),  # 4 rows: 2/4
        (1.0, 1.0),  # everyone: the overall rate
    ],
)
def test_lift_on_ten_rows(fraction: float, expected: float) -> None:
    assert metrics.lift(TEN_Y, TEN_S, fraction=fraction) == pytest.approx(expected, abs=1e-12)


def test_lift_breaks_ties_by_input_order() -> None:
    # rows 2 and 3 tie at 0.5: with 3 rows, row 2 (negative) comes first, row 3 is left out
    assert metrics.lift(TEN_Y, TEN_S, fraction=0.3) == pytest.approx(1 / 3 / 0.2)
    swapped_y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert metrics.lift(swapped_y, TEN_S, fraction=0.3) == pytest.approx(2 / 3 / 0.2)
    all_tied = [0.5] * 10
    assert metrics.lift(TEN_Y, all_tied, fraction=0.1) == 5.0
    assert metrics.lift(TEN_Y[::-1], all_tied, fraction=0.1) == 0.0


def test_evaluate_reports_everything_as_plain_python() -> None:
    y, s = _data(3, 200, None)
    report = metrics.evaluate(y, s, threshold=0.4, lift_fraction=0.2)
    assert set(report) == {"auc", "ks", "precision", "recall", "f1", "lift", "rows", "positives"}
    assert report["auc"] == metrics.roc_auc(y, s)
    assert report["ks"] == metrics.ks_statistic(y, s)
    assert report["lift"] == metrics.lift(y, s, fraction=0.2)
    for name, value in metrics.precision_recall_f1(y, s, threshold=0.4).items():
        assert report[name] == value
    assert report["rows"] == 200 and report["positives"] == int(y.sum())
    assert type(report["rows"]) is int and type(report["positives"]) is int
    for name in ("auc", "ks", "precision", "recall", "f1", "lift"):
        assert type(report[name]) is float, name
    assert json.loads(json.dumps(report)) == report


# --- label encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "rows", "levels"), DATASETS)
def test_label_encodings_give_identical_results(seed: int, rows: int, levels: int | None) -> None:
    y, s = _data(seed, rows, levels)
    encodings = [y, 2 * y - 1, y.astype(bool), y.astype(float), y.tolist(), (y == 1).tolist()]
    reports = [metrics.evaluate(labels, s) for labels in encodings]
    curves = [metrics.roc_curve(labels, s) for labels in encodings]
    for report, curve in zip(reports[1:], curves[1:], strict=True):
        assert report == reports[0]
        for mine, reference in zip(curve, curves[0], strict=True):
            np.testing.assert_array_equal(mine, reference)


# --- properties -----------------------------------------------------------------------------

labelled_scores = (
    st.lists(st.tuples(st.booleans(), st.integers(-40, 40)), min_size=2, max_size=60)
    .filter(lambda rows: len({label for label, _ in rows}) == 2)
    .map(lambda rows: (np.array([r[0] for r in rows]), np.array([r[1] for r in rows], float)))
)


@given(labelled_scores)
def test_auc_of_negated_scores_is_one_minus_auc(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    assert metrics.roc_auc(y, -s) == pytest.approx(1.0 - metrics.roc_auc(y, s), abs=1e-12)


@given(labelled_scores, st.sampled_from(["affine", "cube", "exp", "logistic"]))
def test_auc_and_ks_invariant_under_increasing_transforms(
    data: tuple[np.ndarray, np.ndarray], transform: str
) -> None:
    y, s = data
    transformed = {
        "affine": 3.0 * s + 7.0,
        "cube": s**3,
        "exp": np.exp(s / 4.0),
        "logistic": 1.0 / (1.0 + np.exp(-s / 8.0)),
    }[transform]
    assert metrics.roc_auc(y, transformed) == pytest.approx(metrics.roc_auc(y, s), abs=1e-12)
    assert metrics.ks_statistic(y, transformed) == pytest.approx(
        metrics.ks_statistic(y, s), abs=1e-12
    )


@given(
    st.lists(st.tuples(st.booleans(), st.floats(allow_nan=False, allow_infinity=False)), min_size=2)
)
def test_ks_and_auc_lie_in_the_unit_interval(rows: list[tuple[bool, float]]) -> None:
    y = [label for label, _ in rows]
    assume(len(set(y)) == 2)
    s = [score for _, score in rows]
    assert 0.0 <= metrics.ks_statistic(y, s) <= 1.0
    assert 0.0 <= metrics.roc_auc(y, s) <= 1.0


@given(labelled_scores, st.floats(0.01, 1.0))
def test_lift_is_bounded_by_one_over_the_positive_rate(
    data: tuple[np.ndarray, np.ndarray], fraction: float
) -> None:
    y, s = data
    assert 0.0 <= metrics.lift(y, s, fraction=fraction) <= y.size / y.sum() + 1e-12


# --- errors ---------------------------------------------------------------------------------

RANKING = [
    metrics.roc_curve,
    metrics.roc_auc,
    metrics.ks_statistic,
    metrics.lift,
    metrics.evaluate,
]
ALL = [*RANKING, metrics.precision_recall_f1]


@pytest.mark.parametrize("function", ALL)
@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "y_true has 3 rows but scores has 2"),
        ([], [], "no rows"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "labels must be 0/1, -1/+1 or booleans"),
        ([-1, 0, 1], [0.1, 0.2, 0.3], "labels must be 0/1, -1/+1 or booleans"),
        ([0.0, 1.0, math.nan], [0.1, 0.2, 0.3], "labels must be"),
        (["good", "bad"], [0.1, 0.2], "labels must be"),
        ([[0, 1]], [[0.1, 0.2]], "must be one-dimensional"),
        ([0, 1, 1], [0.1, math.nan, 0.3], "non-finite"),
        ([0, 1, 1], [0.1, 0.2, math.inf], "non-finite"),
        ([0, 1, 1], [0.1, -math.inf, 0.3], "first at row 1"),
        ([0, 1], ["low", "high"], "scores must be real numbers"),
    ],
)
def test_invalid_inputs_raise_metric_error(
    function: Callable[..., object], y: object, s: object, message: str
) -> None:
    with pytest.raises(MetricError, match=re.escape(message)):
        function(y, s)


@pytest.mark.parametrize("function", RANKING)
@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1], [-1, -1, -1], [True, True, True]])
def test_one_class_raises_metric_error(function: Callable[..., object], y: list[int]) -> None:
    with pytest.raises(MetricError, match="only one class present"):
        function(y, [0.1, 0.5, 0.9])


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, math.nan, math.inf])
def test_fraction_out_of_range_raises(fraction: float) -> None:
    with pytest.raises(MetricError, match="fraction must be in"):
        metrics.lift(TEN_Y, TEN_S, fraction=fraction)
    with pytest.raises(MetricError, match="fraction must be in"):
        metrics.evaluate(TEN_Y, TEN_S, lift_fraction=fraction)


@pytest.mark.parametrize("threshold", [-0.01, 1.01, math.nan, math.inf, 50.0])
def test_threshold_out_of_range_raises(threshold: float) -> None:
    with pytest.raises(MetricError, match="threshold must be in"):
        metrics.precision_recall_f1(TEN_Y, TEN_S, threshold=threshold)
    with pytest.raises(MetricError, match="threshold must be in"):
        metrics.evaluate(TEN_Y, TEN_S, threshold=threshold)


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        ([1.0, 1.0], "one real number per row"),
        ([1.0, -1.0, 1.0, 1.0], "negative or non-finite"),
        ([1.0, math.nan, 1.0, 1.0], "negative or non-finite"),
        ([0.0, 1.0, 0.0, 1.0], "only one class present"),
        ([0.0, 0.0, 0.0, 0.0], "only one class present"),
    ],
)
def test_invalid_weights_raise(weight: list[float], message: str) -> None:
    y, s = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(MetricError, match=message):
        metrics.roc_auc(y, s, sample_weight=weight)
    with pytest.raises(MetricError, match=message):
        metrics.roc_curve(y, s, sample_weight=weight)


def test_metric_error_is_a_vfl_value_error() -> None:
    assert issubclass(MetricError, VflError) and issubclass(MetricError, ValueError)
    with pytest.raises(MetricError) as caught:
        metrics.roc_auc([1, 1], [0.2, 0.3])
    assert "evaluate on rows containing events and non-events" in str(caught.value)


# --- plots ----------------------------------------------------------------------------------


def _assert_png_written(result: Path, expected: Path) -> None:
    assert result == expected
    data = expected.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in expected.parent.iterdir()) == [expected.name]


HISTORY = [
    {"epoch": 1, "loss": 0.69, "validation_auc": 0.71, "validation_ks": 0.30},
    {"epoch": 2, "loss": 0.55, "validation_auc": None, "validation_ks": None},
    {"epoch": 3, "loss": 0.51, "validation_auc": 0.78, "validation_ks": 0.41},
]


@pytest.mark.parametrize(
    "history",
    [HISTORY, [{"epoch": e, "loss": 1.0 / e} for e in range(1, 6)], HISTORY[:1]],
    ids=["with-validation", "loss-only", "one-epoch"],
)
def test_plot_history_writes_a_png(tmp_path: Path, history: list[dict[str, float | None]]) -> None:
    pytest.importorskip("matplotlib")
    from vfl.evaluation import plots

    target = tmp_path / "history.png"
    _assert_png_written(plots.plot_history(history, target, title="fraud model"), target)


def test_plot_roc_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from vfl.evaluation import plots

    y, s = _data(0, 300, None)
    curves = {"federated": (y, s), "guest only": (y, np.round(s, 1)), "centralised": (y, s**2)}
    target = tmp_path / "roc.png"
    _assert_png_written(plots.plot_roc(curves, target), target)


def test_plot_ks_writes_a_png_and_accepts_str_paths(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from vfl.evaluation import plots

    y, s = _data(1, 300, 10)
    target = tmp_path / "nested" / "ks.png"
    _assert_png_written(plots.plot_ks(y, s, str(target), title="KS"), target)


def test_plot_replaces_an_existing_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from vfl.evaluation import plots

    target = tmp_path / "ks.png"
    target.write_bytes(b"old")
    _assert_png_written(plots.plot_ks(TEN_Y, TEN_S, target), target)


def test_plots_reject_bad_input_and_leave_nothing(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from vfl.evaluation import plots

    with pytest.raises(MetricError, match="history is empty"):
        plots.plot_history([], tmp_path / "h.png")
    with pytest.raises(MetricError, match="'epoch' or 'loss'"):
        plots.plot_history([{"epoch": 1}], tmp_path / "h.png")
    with pytest.raises(MetricError, match="curves is empty"):
        plots.plot_roc({}, tmp_path / "r.png")
    with pytest.raises(MetricError, match="only one class present"):
        plots.plot_ks([1, 1], [0.1, 0.2], tmp_path / "k.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from vfl.evaluation import plots

    def broken_savefig(self: Figure, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plots.plot_ks(TEN_Y, TEN_S, tmp_path / "ks.png")
    assert list(tmp_path.iterdir()) == []


def test_plots_without_matplotlib_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vfl.evaluation import plots

    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install 'vfl-engine\[plot\]'"):
        plots.plot_ks(TEN_Y, TEN_S, tmp_path / "ks.png")
    assert list(tmp_path.iterdir()) == []
