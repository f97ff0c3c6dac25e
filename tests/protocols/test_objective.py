"""The objective module: the Taylor logistic maths, the bounds, and a new model in one place.

* :class:`TaylorLogistic` computes bit for bit what the roles computed inline before
  the objective was separated (``u / 4 - y / 2``, ``u - 2 y``, ``log 2 - y u / 2 +
  u**2 / 8``, ``u / 4``, squares times ``0.125``) and the public bounds are the same
  numbers.
* For every quadratic objective (the registered ones and two written here), the
  terms the roles add up are the loss and its derivative.
* A least-squares objective, one subclass, trains through the unchanged protocol
  (two-party and arbiter mode, plaintext backend) to what a numpy implementation of
  least-squares mini-batch SGD gives.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import (
    LrArbiter,
    LrGuest,
    LrHost,
    LrSettings,
    OptimizerSettings,
    ScoreGuest,
    ScoreHost,
)
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import secret_initial_weights
from protocols.hetero_lr.objective import (
    MAX_SAMPLE_WEIGHT,
    OBJECTIVES,
    QuadraticObjective,
    TaylorLogistic,
    get_objective,
    sigmoid,
)
from protocols.hetero_lr.privacy import MAX_NOISE
from protocols.hetero_lr.settings import FEATURE_BOUND, SCORE_BOUND
from protocols.roles import Role
from tests.support.protocol_harness import run_roles

FloatArray = npt.NDArray[np.float64]
LOG2 = math.log(2.0)


class LeastSquares(QuadraticObjective):
    """``(z - y)**2 / 2``: the linear model, written as the module docstring says."""

    name = "least-squares"
    curvature = 0.5
    label_term_bound = 1.0
    label_sensitivity = 1.0

    def response(self, labels: npt.ArrayLike, rows: int, what: str, party: str) -> FloatArray:
        values = np.asarray(labels, dtype=np.float64).ravel()
        if values.shape != (rows,) or not np.isfinite(values).all():
            raise ProtocolError(f"{party}: {what} must be {rows} finite numbers")
        if np.abs(values).max(initial=0.0) > self.label_term_bound:
            raise ProtocolError(f"{party}: {what} must lie in [-1, 1]")
        return values

    def constant(self, y: FloatArray) -> FloatArray:
        result: FloatArray = y**2 / 2
        return result

    def slope(self, y: FloatArray) -> FloatArray:
        return -y

    def mean(self, z: FloatArray) -> FloatArray:
        return z


class PoissonTaylor(LeastSquares):
    """``exp(z) - y z`` to second order around 0: ``1 + (1 - y) z + z**2 / 2``."""

    name = "poisson-taylor"

    def constant(self, y: FloatArray) -> FloatArray:
        return np.ones_like(y)

    def slope(self, y: FloatArray) -> FloatArray:
        return 1.0 - y

    def mean(self, z: FloatArray) -> FloatArray:
        result: FloatArray = np.exp(z)
        return result


def _data(rows: int = 400) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(11)
    own = np.concatenate([rng.normal(scale=3.0, size=rows - 6), [0.0, -0.0, 1e-300, 2.0**29]])
    own = np.concatenate([own, [-(2.0**29), 5e-324]])
    y = np.where(rng.random(rows) < 0.4, 1.0, -1.0)
    return own, y


# Taylor logistic, bit for bit ------------------------------------------------------------------
def test_taylor_logistic_is_bit_for_bit_the_former_inline_formulas() -> None:
    objective = TaylorLogistic()
    own, y = _data()
    weights = np.random.default_rng(3).uniform(0.0, 5.0, size=len(own))
    same = np.testing.assert_array_equal
    same(objective.partial_residual(own, y), own / 4 - y / 2)
    same(objective.loss_coefficient(own, y), own - 2 * y)
    same(objective.partial_loss(own, y), LOG2 - y * own / 2 + own**2 / 8)
    same(weights * objective.partial_loss(own, y), weights * (LOG2 - y * own / 2 + own**2 / 8))
    same(objective.scaled(own), own / 4)
    same(objective.scaled(weights), weights / 4)
    same(weights * objective.curvature, weights / 8)
    assert objective.curvature == 0.125
    same(objective.host_squares(own, weighted=True), own**2)
    same(objective.host_squares(own, weighted=False), np.array([np.sum(own**2)]))
    labels = (y > 0).astype(float)
    same(objective.response(labels, len(labels), "the labels", "guest"), 2.0 * labels - 1.0)
    same(objective.mean(own), sigmoid(own))


@pytest.mark.parametrize("hosts", [1, 2, 5])
@pytest.mark.parametrize("rows", [1, 120, 1024, 100_003])
def test_the_public_bounds_are_the_former_expressions(hosts: int, rows: int) -> None:
    objective = get_objective("taylor-logistic")
    assert objective.scaled_score_bound() == SCORE_BOUND / 4
    assert objective.weights_bound() == MAX_SAMPLE_WEIGHT / 4
    assert objective.residual_bound(1) == MAX_SAMPLE_WEIGHT * (SCORE_BOUND / 4 + 0.5)
    assert objective.residual_bound(hosts + 1) == MAX_SAMPLE_WEIGHT * (
        (hosts + 1) * SCORE_BOUND / 4 + 0.5
    )
    for index in range(1, hosts + 1):
        assert objective.prefix_bound(index) == MAX_SAMPLE_WEIGHT * index * SCORE_BOUND / 4
        assert (
            objective.cross_bound(index, rows)
            == MAX_SAMPLE_WEIGHT * index * SCORE_BOUND**2 / 4 * rows
        )
    for weighted in (False, True):
        expected = SCORE_BOUND**2 * (1 if weighted else rows)
        assert objective.squares_bound(rows, weighted) == expected
    residual = MAX_SAMPLE_WEIGHT * ((hosts + 1) * SCORE_BOUND / 4 + 0.5 + MAX_NOISE)
    assert objective.gradient_bound(rows, hosts) == rows * FEATURE_BOUND * residual


def test_labels_are_checked_by_the_objective() -> None:
    objective = TaylorLogistic()
    with pytest.raises(ProtocolError, match="guest: the labels has 1 values for 2 rows"):
        objective.response([1.0], 2, "the labels", "guest")
    with pytest.raises(ProtocolError, match="must be 0 or 1"):
        objective.response([1.0, 0.5], 2, "the labels", "guest")


def test_objectives_are_registered_by_name() -> None:
    assert set(OBJECTIVES) == {"taylor-logistic"}
    assert isinstance(get_objective(), TaylorLogistic)
    with pytest.raises(ProtocolError, match="unknown objective 'hinge'"):
        get_objective("hinge")
    with pytest.raises(ProtocolError, match="unknown objective"):
        ScoreGuest("guest", "job", hosts=["host"], features=[[1.0]], weights=[1.0],
                   intercept=0.0, objective="hinge")  # fmt: skip


# the derived terms are the loss, for any quadratic objective ------------------------------------
@pytest.mark.parametrize(
    "objective", [*OBJECTIVES.values(), LeastSquares(), PoissonTaylor()], ids=lambda o: o.name
)
def test_the_terms_the_roles_add_up_are_the_loss_and_its_derivative(objective) -> None:
    rng = np.random.default_rng(5)
    rows = 50
    own, host_scores = rng.normal(size=rows), rng.normal(size=(3, rows))
    labels = (rng.random(rows) < 0.5).astype(float)
    y = objective.response(labels, rows, "the labels", "guest")
    weights = rng.uniform(0.5, 2.0, size=rows)
    s = objective.score_scale
    assert s == 2 * objective.curvature
    z = own + host_scores.sum(axis=0)
    scaled_total = sum(objective.scaled(u) for u in host_scores)
    # the residual: the guest's part plus the hosts' scaled scores is dl/dz
    residual = weights * (objective.partial_residual(own, y) + scaled_total)
    step = 1e-6
    slope = (objective.loss(z + step, y) - objective.loss(z - step, y)) / (2 * step)
    np.testing.assert_allclose(residual, weights * slope, rtol=1e-6, atol=1e-6)
    # the batch loss as the guest assembles it (with the arbiter mode's cross terms)
    loss = np.sum(weights * objective.partial_loss(own, y))
    loss += np.sum(scaled_total * weights * objective.loss_coefficient(own, y))
    loss += sum(np.sum(weights * objective.curvature * u**2) for u in host_scores)
    for index in range(1, len(host_scores)):
        prefix = weights * sum(objective.scaled(u) for u in host_scores[:index])
        loss += np.sum(prefix * host_scores[index])
    np.testing.assert_allclose(loss, np.sum(weights * objective.loss(z, y)), rtol=1e-12)
    # every bound covers what it bounds at the public limits
    assert objective.scaled_score_bound() >= abs(s) * SCORE_BOUND
    assert objective.residual_bound(1) >= MAX_SAMPLE_WEIGHT * objective.label_term_bound
    assert np.abs(objective.slope(y)).max() <= objective.label_term_bound


def test_label_privacy_refuses_an_objective_of_another_sensitivity(monkeypatch) -> None:
    class Doubled(LeastSquares):
        label_sensitivity = 2.0

    monkeypatch.setattr("protocols.hetero_lr.party.get_objective", lambda: Doubled())
    settings = LrSettings(key_length=1024, allow_weak_key=True, label_privacy_epsilon=4.0)
    with pytest.raises(ProtocolError, match="sensitivity of 1, the least-squares objective's is 2"):
        LrGuest("guest", "job", hosts=["host"], features=np.ones((8, 1)), labels=np.zeros(8),
                settings=settings)  # fmt: skip


# a new model through the unchanged protocol -----------------------------------------------------
SEED, INITIAL, BATCH, EPOCHS, RATE = bytes(range(32)), bytes(range(1, 33)), 120, 3, 0.05


def _linear_data() -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(21)
    guest_rows, host_rows = rng.normal(size=(240, 3)), rng.normal(size=(240, 2))
    # targets in [0, 1]: the label-information bound reads their mean as an event rate
    signal = guest_rows @ [0.4, -0.3, 0.2] + host_rows @ [0.5, 0.1] + 0.1 * rng.normal(size=240)
    return guest_rows, (np.tanh(signal) + 1) / 2, host_rows


def _train(mode: str, hosts: int) -> dict[str, Role]:
    guest_rows, y, host_rows = _linear_data()
    settings = LrSettings(
        mode=mode, batch_size=BATCH, max_iter=EPOCHS, convergence="max_iter", key_length=1024,
        allow_weak_key=True, optimizer=OptimizerSettings(learning_rate=RATE, penalty="none"),
    )  # fmt: skip
    names = [f"host-{i}" for i in range(1, hosts + 1)]
    arbiter = "arbiter" if mode == "arbiter" else None
    columns = np.array_split(np.arange(host_rows.shape[1]), hosts)
    roles: dict[str, Role] = {
        "guest": LrGuest(
            "guest", "job", hosts=names, features=guest_rows, labels=y, settings=settings,
            backend="plaintext", arbiter=arbiter, plan_seed=SEED, initial_weights_seed=INITIAL,
        )
    }  # fmt: skip
    for name, block in zip(names, columns, strict=True):
        roles[name] = LrHost(
            name, "job", guest="guest", features=host_rows[:, block], settings=settings,
            backend="plaintext", arbiter=arbiter,
        )  # fmt: skip
    if arbiter is not None:
        roles[arbiter] = LrArbiter(
            arbiter, "job", guest="guest", hosts=names, settings=settings, backend="plaintext"
        )
    run_roles(roles)
    return roles


def _numpy_least_squares() -> tuple[FloatArray, list[float]]:
    guest_rows, y, host_rows = _linear_data()
    guest_columns = np.hstack([guest_rows, np.ones((len(y), 1))])
    X = np.hstack([guest_columns, host_rows])
    w = np.concatenate([secret_initial_weights(guest_columns, INITIAL), np.zeros(2)])
    plan = BatchPlan(len(y), BATCH, SEED)
    losses = []
    for epoch in range(EPOCHS):
        total = 0.0
        for rows in plan.batches(epoch):
            z = X[rows] @ w
            total += float(np.sum((z - y[rows]) ** 2 / 2))
            w = w - RATE * X[rows].T @ (z - y[rows]) / len(rows)
        losses.append(total / len(y))
    return w, losses


@pytest.mark.parametrize(("mode", "hosts"), [("two-party", 1), ("arbiter", 2)])
def test_a_least_squares_objective_trains_through_the_protocol(monkeypatch, mode, hosts) -> None:
    monkeypatch.setattr("protocols.hetero_lr.party.get_objective", lambda: LeastSquares())
    roles = _train(mode, hosts)
    guest = roles["guest"].result
    host_weights = [roles[f"host-{i}"].result.weights for i in range(1, hosts + 1)]
    got = np.concatenate([guest.weights, [guest.intercept], *host_weights])
    expected, losses = _numpy_least_squares()
    # only fixed-point rounding (features at 2**-16, values at 2**-32) separates them
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-4)
    np.testing.assert_allclose([e["loss"] for e in guest.history], losses, rtol=1e-4)
    assert losses[-1] < losses[0]


def test_scoring_predicts_with_the_objective() -> None:
    for objective, expected in (("taylor-logistic", sigmoid(np.array([2.0, 0.0]))),):
        guest = ScoreGuest("guest", "job", hosts=["host"], features=[[1.0], [0.0]],
                           weights=[2.0], intercept=-1.0, objective=objective)  # fmt: skip
        host = ScoreHost("host", "job", guest="guest", features=[[1.0], [1.0]], weights=[1.0])
        (request,) = guest.start()
        (scores,) = host.receive(request)
        guest.receive(scores)
        np.testing.assert_array_equal(guest.result, expected)
