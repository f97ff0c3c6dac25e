"""make_heavy_tail_credit: shape, event rate, heavy tail, determinism, errors, and the
property it exists for: least squares ranks held-out rows clearly worse than logistic
regression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from vfl import datasets
from vfl.exceptions import DataError
from vfl.tables.datasets import (
    HEAVY_TAIL_GUEST_FEATURES,
    HEAVY_TAIL_HOST_FEATURES,
    make_heavy_tail_credit,
)


def test_shape_names_and_alignment() -> None:
    guest, host = make_heavy_tail_credit(2_000, seed=3)
    assert guest.features.shape == (2_000, len(HEAVY_TAIL_GUEST_FEATURES))
    assert host.features.shape == (2_000, len(HEAVY_TAIL_HOST_FEATURES))
    assert guest.feature_names == list(HEAVY_TAIL_GUEST_FEATURES)
    assert host.feature_names == list(HEAVY_TAIL_HOST_FEATURES)
    assert guest.ids == host.ids and len(set(guest.ids)) == 2_000
    assert guest.labels is not None and host.labels is None
    assert set(np.unique(guest.labels)) == {0, 1}
    assert np.isfinite(guest.features).all() and np.isfinite(host.features).all()
    assert datasets.make_heavy_tail_credit is make_heavy_tail_credit


@pytest.mark.parametrize("rate", [0.02, 0.05, 0.07])
def test_event_rate(rate: float) -> None:
    guest, _ = make_heavy_tail_credit(20_000, event_rate=rate, seed=1)
    assert guest.labels is not None
    assert abs(float(guest.labels.mean()) - rate) < 0.006


def test_default_rate_is_rare() -> None:
    guest, _ = make_heavy_tail_credit(20_000)
    assert guest.labels is not None and float(guest.labels.mean()) <= 0.07


def test_heavy_tails() -> None:
    _, host = make_heavy_tail_credit(10_000)
    for name in ("monthly_spend", "savings_balance"):
        column = host.features[:, HEAVY_TAIL_HOST_FEATURES.index(name)]
        assert (column > 0).all()
    spend = host.features[:, HEAVY_TAIL_HOST_FEATURES.index("monthly_spend")]
    assert spend.max() > 50 * np.median(spend)


def test_deterministic_per_seed() -> None:
    first, first_host = make_heavy_tail_credit(500, seed=7)
    again, again_host = make_heavy_tail_credit(500, seed=7)
    other, _ = make_heavy_tail_credit(500, seed=8)
    assert np.array_equal(first.features, again.features)
    assert np.array_equal(first_host.features, again_host.features)
    assert first.labels is not None and again.labels is not None
    assert np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.features, other.features)


@pytest.mark.parametrize(
    ("rows", "rate"), [(99, 0.05), (0, 0.05), (1_000, 0.0), (1_000, -0.1), (1_000, 0.51)]
)
def test_bad_arguments(rows: int, rate: float) -> None:
    with pytest.raises(DataError, match="make_heavy_tail_credit needs"):
        make_heavy_tail_credit(rows, event_rate=rate)


def test_least_squares_ranks_clearly_worse() -> None:
    guest, host = make_heavy_tail_credit(20_000, seed=0)
    assert guest.labels is not None
    features = np.column_stack([guest.features, host.features])
    labels = guest.labels
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, stratify=labels, random_state=0
    )
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / scale, (x_test - mean) / scale
    logistic = LogisticRegression(C=1.0, max_iter=10_000).fit(x_train, y_train)
    least_squares = LinearRegression().fit(x_train, y_train)
    auc_logistic = roc_auc_score(y_test, logistic.decision_function(x_test))
    auc_least_squares = roc_auc_score(y_test, least_squares.predict(x_test))
    assert auc_logistic > 0.9
    assert auc_logistic - auc_least_squares >= 0.03
