"""Hetero LR local optimisers: reference implementations, properties, checkpoints, validation."""

from __future__ import annotations

import copy
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.optimizers import (
    OPTIMIZERS,
    PENALTIES,
    Optimizer,
    OptimizerSettings,
)

# Hyper-parameters away from the defaults so that a swapped constant shows.
HYPER = {"momentum": 0.8, "rho": 0.85, "beta1": 0.7, "beta2": 0.95, "epsilon": 1e-6}


# --- independent reference: one coefficient at a time, plain Python floats ---------------


def reference_run(
    name: str,
    penalty: str,
    alpha: float,
    lr0: float,
    decay: float,
    decay_sqrt: bool,
    w0: list[float],
    gradients: list[list[float]],
    epochs: list[int],
    mask: list[bool],
) -> list[float]:
    """The update rules of the brief, written out per coefficient."""
    mom, rho, b1, b2, eps = (HYPER[k] for k in ("momentum", "rho", "beta1", "beta2", "epsilon"))
    w = list(w0)
    n = len(w)
    a = [0.0] * n  # velocity / sum of squares / mean of squares / first moment
    b = [0.0] * n  # second moment
    for t, (grad, epoch) in enumerate(zip(gradients, epochs, strict=True), start=1):
        scale = 1.0 + decay * epoch
        lr = lr0 / (math.sqrt(scale) if decay_sqrt else scale)
        for j in range(n):
            g = grad[j]
            if penalty == "l2" and mask[j]:
                g = g + alpha * w[j]
            if name == "sgd":
                w[j] = w[j] - lr * g
            elif name == "momentum":
                a[j] = mom * a[j] - lr * g
                w[j] = w[j] + a[j]
            elif name == "nesterov":
                a[j] = mom * a[j] - lr * g
                w[j] = w[j] + (mom * a[j] - lr * g)
            elif name == "adagrad":
                a[j] = a[j] + g * g
                w[j] = w[j] - lr * g / (math.sqrt(a[j]) + eps)
            elif name == "rmsprop":
                a[j] = rho * a[j] + (1 - rho) * g * g
                w[j] = w[j] - lr * g / (math.sqrt(a[j]) + eps)
            elif name == "adam":
                a[j] = b1 * a[j] + (1 - b1) * g
                b[j] = b2 * b[j] + (1 - b2) * g * g
                m_hat = a[j] / (1 - b1**t)
                v_hat = b[j] / (1 - b2**t)
                w[j] = w[j] - lr * m_hat / (math.sqrt(v_hat) + eps)
            else:
                raise AssertionError(name)
            if penalty == "l1" and mask[j]:
                shrunk = abs(w[j]) - lr * alpha
                w[j] = math.copysign(shrunk, w[j]) if shrunk > 0 else 0.0
    return w


def make(name: str = "sgd", size: int = 4, mask: Any = None, **kwargs: Any) -> Optimizer:
    return Optimizer(OptimizerSettings(name, **{**HYPER, **kwargs}), size, mask)


def run(opt: Optimizer, w: np.ndarray, gradients: np.ndarray, epochs: list[int]) -> np.ndarray:
    for g, epoch in zip(gradients, epochs, strict=True):
        w = opt.step(w, g, epoch)
    return w


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("decay_sqrt", [False, True])
def test_matches_reference(name: str, penalty: str, decay_sqrt: bool) -> None:
    rng = np.random.default_rng(OPTIMIZERS.index(name) * 10 + PENALTIES.index(penalty))
    size, steps = 7, 12
    w0 = rng.normal(size=size)
    gradients = rng.normal(scale=0.7, size=(steps, size))
    epochs = [t // 3 for t in range(steps)]
    mask = [True] * (size - 1) + [False]  # the last one plays the guest's intercept
    kwargs = {"learning_rate": 0.2, "penalty": penalty, "alpha": 0.15, "decay": 0.4}
    opt = make(name, size, mask, decay_sqrt=decay_sqrt, **kwargs)
    got = run(opt, w0, gradients, epochs)
    want = reference_run(
        name,
        penalty,
        0.15,
        0.2,
        0.4,
        decay_sqrt,
        w0.tolist(),
        gradients.tolist(),
        epochs,
        mask,
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert opt.steps == steps
    assert got.dtype == np.float64 and got.shape == (size,)


def test_l1_run_has_exact_zeros() -> None:
    """Proximal L1 leaves some coefficients at exactly 0.0 during a run, not near it."""
    rng = np.random.default_rng(7)
    opt = make("sgd", 6, penalty="l1", alpha=1.0, learning_rate=0.1)
    w = run(opt, rng.normal(size=6), rng.normal(scale=0.1, size=(30, 6)), [0] * 30)
    assert (w == 0.0).sum() >= 3
    assert not np.signbit(w[w == 0.0]).any()  # +0.0, not -0.0


def test_adam_first_step_moves_each_coefficient_by_the_learning_rate() -> None:
    """Bias correction: m_hat = g and v_hat = g^2 on step 1, so |dw| = lr (up to eps)."""
    opt = make("adam", 3, penalty="none", learning_rate=0.01, epsilon=1e-12)
    w = opt.step(np.zeros(3), np.array([1e-4, -3.0, 250.0]), 0)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-6)


# --- hypothesis properties ----------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-4, 10.0)
sizes = st.integers(1, 8)


def vectors(size: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(finite, min_size=size, max_size=size).map(np.array)


@given(data=st.data(), size=sizes, lr=positive)
def test_sgd_without_penalty_is_exactly_w_minus_lr_g(
    data: st.DataObject, size: int, lr: float
) -> None:
    w, g = data.draw(vectors(size)), data.draw(vectors(size))
    opt = make("sgd", size, penalty="none", learning_rate=lr)
    np.testing.assert_array_equal(opt.step(w, g, 0), w - lr * g)


@given(
    data=st.data(),
    size=sizes,
    lr=positive,
    alpha=st.floats(0.0, 1e5),
)
def test_l1_proximal_zeroes_exactly_below_the_threshold(
    data: st.DataObject, size: int, lr: float, alpha: float
) -> None:
    w, g = data.draw(vectors(size)), data.draw(vectors(size))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    opt = make("sgd", size, mask, penalty="l1", alpha=alpha, learning_rate=lr)
    new = opt.step(w, g, 0)
    plain = w - lr * g
    threshold = lr * alpha
    zero = mask & (np.abs(plain) <= threshold)
    assert (new[zero] == 0.0).all()
    keep = mask & ~zero
    np.testing.assert_array_equal(
        new[keep], np.sign(plain[keep]) * (np.abs(plain[keep]) - threshold)
    )
    np.testing.assert_array_equal(new[~mask], plain[~mask])
    # Never pushed across zero, never grown.
    assert (np.abs(new) <= np.abs(plain)).all()
    assert (new * plain >= 0).all()


@given(
    data=st.data(),
    name=st.sampled_from(OPTIMIZERS),
    penalty=st.sampled_from(["l1", "l2"]),
    size=sizes,
    alpha=st.floats(0.0, 5.0),
    steps=st.integers(1, 5),
)
def test_unpenalized_coefficients_ignore_the_penalty(
    data: st.DataObject, name: str, penalty: str, size: int, alpha: float, steps: int
) -> None:
    small = st.floats(-10.0, 10.0)
    w0 = np.array(data.draw(st.lists(small, min_size=size, max_size=size)))
    grads = np.array(
        data.draw(
            st.lists(st.lists(small, min_size=size, max_size=size), min_size=steps, max_size=steps)
        )
    )
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    epochs = list(range(steps))
    with_penalty = run(
        make(name, size, mask, penalty=penalty, alpha=alpha, decay=0.3), w0, grads, epochs
    )
    without = run(make(name, size, mask, penalty="none", alpha=alpha, decay=0.3), w0, grads, epochs)
    np.testing.assert_array_equal(with_penalty[~mask], without[~mask])
    if alpha == 0.0:
        np.testing.assert_array_equal(with_penalty, without)


@given(data=st.data(), size=sizes, alpha=st.floats(0.0, 100.0))
def test_penalty_values(data: st.DataObject, size: int, alpha: float) -> None:
    w = data.draw(vectors(size))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    expected = {
        "none": 0.0,
        "l1": alpha * sum(abs(x) for x, m in zip(w, mask, strict=True) if m),
        "l2": alpha / 2 * sum(x * x for x, m in zip(w, mask, strict=True) if m),
    }
    for penalty, want in expected.items():
        got = make(size=size, mask=mask, penalty=penalty, alpha=alpha).penalty(w)
        assert isinstance(got, float)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_penalty_default_mask_covers_everything() -> None:
    opt = make(size=3, penalty="l2", alpha=2.0)
    assert opt.penalty(np.array([1.0, -2.0, 3.0])) == 14.0
    opt = make(size=3, mask=[False, True, False], penalty="l1", alpha=0.5)
    assert opt.penalty(np.array([1.0, -2.0, 3.0])) == 1.0


@given(lr=positive, decay=st.floats(0.0, 100.0), epoch=st.integers(0, 10**6))
def test_decay_formulas(lr: float, decay: float, epoch: int) -> None:
    plain = OptimizerSettings(learning_rate=lr, decay=decay)
    root = OptimizerSettings(learning_rate=lr, decay=decay, decay_sqrt=True)
    assert plain.learning_rate_at(epoch) == pytest.approx(lr / (1 + decay * epoch), rel=1e-15)
    assert root.learning_rate_at(epoch) == pytest.approx(
        lr / math.sqrt(1 + decay * epoch), rel=1e-15
    )
    assert plain.learning_rate_at(0) == root.learning_rate_at(0) == lr
    assert plain.learning_rate_at(epoch) <= root.learning_rate_at(epoch) <= lr


def test_decay_is_used_by_step() -> None:
    opt = make("sgd", 1, penalty="none", learning_rate=1.0, decay=1.0)
    assert opt.step(np.array([0.0]), np.array([1.0]), epoch=3)[0] == -0.25
    opt = make("sgd", 1, penalty="none", learning_rate=1.0, decay=1.0, decay_sqrt=True)
    assert opt.step(np.array([0.0]), np.array([1.0]), epoch=3)[0] == -0.5


def test_decay_rate_decreases_with_epoch() -> None:
    s = OptimizerSettings(learning_rate=0.5, decay=0.1)
    rates = [s.learning_rate_at(e) for e in range(50)]
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert OptimizerSettings(learning_rate=0.5).learning_rate_at(1000) == 0.5


# --- checkpoints --------------------------------------------------------------------------


@given(
    name=st.sampled_from(OPTIMIZERS),
    penalty=st.sampled_from(PENALTIES),
    split=st.integers(0, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_state_round_trip_continues_identically(
    name: str, penalty: str, split: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    size, steps = 5, 8
    w0 = rng.normal(size=size)
    grads = rng.normal(size=(steps, size))
    epochs = [t // 2 for t in range(steps)]
    mask = [True, False, True, True, False]
    kwargs = {"penalty": penalty, "alpha": 0.2, "decay": 0.5, "learning_rate": 0.3}

    uninterrupted = run(make(name, size, mask, **kwargs), w0, grads, epochs)

    first = make(name, size, mask, **kwargs)
    w = run(first, w0, grads[:split], epochs[:split])
    saved = json.loads(json.dumps(first.state()))
    restored = Optimizer.from_state(saved)
    assert restored.steps == split
    assert restored.state() == first.state()
    np.testing.assert_array_equal(run(restored, w, grads[split:], epochs[split:]), uninterrupted)


def test_state_is_plain_json() -> None:
    opt = make("adam", 3, [True, True, False], penalty="l1", alpha=0.1)
    opt.step(np.array([1.0, 2.0, 3.0]), np.array([0.1, -0.2, 0.3]), 0)
    state = opt.state()
    assert json.loads(json.dumps(state)) == state
    assert state["version"] == 1
    assert state["steps"] == 1
    assert state["size"] == 3
    assert state["penalized"] == [True, True, False]
    assert set(state["slots"]) == {"first_moment", "second_moment"}
    assert all(type(x) is float for xs in state["slots"].values() for x in xs)
    assert OptimizerSettings(**state["settings"]) == opt.settings
    # The state is a snapshot: editing it does not reach the optimiser.
    state["slots"]["first_moment"][0] = 99.0
    assert opt.state()["slots"]["first_moment"][0] != 99.0


def test_settings_are_normalised_to_floats() -> None:
    s = OptimizerSettings("momentum", learning_rate=1, alpha=0, momentum=0)
    assert type(s.learning_rate) is float and type(s.alpha) is float and type(s.momentum) is float
    assert s == OptimizerSettings("momentum", learning_rate=1.0, alpha=0.0, momentum=0.0)
    assert s.to_dict()["learning_rate"] == 1.0


# --- convergence --------------------------------------------------------------------------

CONVERGE = {
    "sgd": {"learning_rate": 0.2},
    "momentum": {"learning_rate": 0.05},
    "nesterov": {"learning_rate": 0.05},
    "adagrad": {"learning_rate": 0.5},
    "rmsprop": {"learning_rate": 0.05, "decay": 0.05},
    "adam": {"learning_rate": 0.1, "decay": 0.05},
}


def quadratic(size: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    q = rng.normal(size=(size, size))
    return q @ q.T / size + 0.5 * np.eye(size), rng.normal(size=size)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_minimises_a_convex_quadratic(name: str) -> None:
    A, c = quadratic()
    opt = Optimizer(OptimizerSettings(name, penalty="none", **CONVERGE[name]), len(c))
    w = np.zeros(len(c))
    for t in range(600):
        w = opt.step(w, A @ (w - c), epoch=t)
    assert np.abs(w - c).max() < 5e-3
    assert 0.5 * (w - c) @ A @ (w - c) < 1e-5


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_l2_moves_the_minimum_to_the_ridge_solution(name: str) -> None:
    A, c = quadratic()
    alpha = 0.7
    mask = np.array([True, True, True, True, False])
    ridge = np.linalg.solve(A + alpha * np.diag(mask.astype(float)), A @ c)
    opt = Optimizer(OptimizerSettings(name, penalty="l2", alpha=alpha, **CONVERGE[name]), 5, mask)
    w = np.zeros(5)
    for t in range(600):
        w = opt.step(w, A @ (w - c), epoch=t)
    np.testing.assert_allclose(w, ridge, atol=5e-3)


def test_l1_proximal_sgd_reaches_the_lasso_solution_exactly_sparse() -> None:
    """With a diagonal quadratic the lasso minimum is a soft-threshold of the centre."""
    a = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    c = np.array([0.3, -2.0, 0.1, 1.0, -0.05])
    alpha = 0.4
    mask = np.array([True, True, True, True, False])
    lasso = np.where(mask, np.sign(c) * np.maximum(np.abs(c) - alpha / a, 0.0), c)
    opt = Optimizer(OptimizerSettings("sgd", learning_rate=0.3, penalty="l1", alpha=alpha), 5, mask)
    w = np.ones(5)
    for _ in range(300):
        w = opt.step(w, a * (w - c), epoch=0)
    np.testing.assert_allclose(w, lasso, atol=1e-12)
    assert (w[lasso == 0.0] == 0.0).all() and (lasso == 0.0).sum() == 2


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "adamw"}, "unknown optimizer 'adamw'; expected one of sgd, momentum"),
        ({"name": "SGD"}, "unknown optimizer 'SGD'"),
        ({"name": 3}, "unknown optimizer 3"),
        ({"penalty": "elasticnet"}, "unknown penalty 'elasticnet'; expected one of none, l1, l2"),
        ({"learning_rate": -0.1}, "learning_rate must be > 0, got -0.1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"learning_rate": "0.1"}, "learning_rate must be a number, got '0.1'"),
        ({"learning_rate": True}, "learning_rate must be a number"),
        ({"learning_rate": None}, "learning_rate must be a number"),
        ({"alpha": -1.0}, "alpha must be >= 0, got -1.0"),
        ({"decay": -0.5}, "decay must be >= 0"),
        ({"decay_sqrt": 1}, "decay_sqrt must be true or false"),
        ({"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
        ({"momentum": -0.1}, "momentum must be in [0, 1)"),
        ({"rho": 1.5}, "rho must be in [0, 1)"),
        ({"beta1": 1.0}, "beta1 must be in [0, 1)"),
        ({"beta1": -0.01}, "beta1 must be in [0, 1)"),
        ({"beta2": 1.0}, "beta2 must be in [0, 1)"),
        ({"epsilon": 0.0}, "epsilon must be > 0"),
        ({"alpha": 10**400}, "alpha must be finite"),
    ],
)
def test_invalid_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as excinfo:
        OptimizerSettings(**kwargs)
    assert message in str(excinfo.value)


@given(
    field=st.sampled_from(
        ["learning_rate", "alpha", "decay", "momentum", "rho", "beta1", "beta2", "epsilon"]
    ),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_non_finite_settings(field: str, value: float) -> None:
    with pytest.raises(ProtocolError, match=f"{field} must be finite"):
        OptimizerSettings(**{field: value})


def test_boundary_settings_are_accepted() -> None:
    OptimizerSettings("momentum", momentum=0.0, alpha=0.0, decay=0.0)
    OptimizerSettings("adam", beta1=0.0, beta2=0.0)
    OptimizerSettings("rmsprop", rho=0.0, epsilon=1e-300)
    OptimizerSettings(decay_sqrt=np.bool_(True), learning_rate=np.float32(0.5))


@pytest.mark.parametrize(
    ("size", "mask", "message"),
    [
        (0, None, "size must be a positive integer, got 0"),
        (2.0, None, "size must be a positive integer"),
        (True, None, "size must be a positive integer"),
        (3, [True, False], "penalized mask has shape (2,), expected (3,)"),
        (3, [0, 1, 2], "boolean mask"),
        (3, [[True, True, True]], "expected (3,)"),
        (2, ["yes", "no"], "boolean mask"),
    ],
)
def test_invalid_optimizer_arguments(size: Any, mask: Any, message: str) -> None:
    with pytest.raises(ProtocolError) as excinfo:
        Optimizer(OptimizerSettings(), size, mask)
    assert message in str(excinfo.value)


def test_optimizer_needs_settings() -> None:
    with pytest.raises(ProtocolError, match="must be an OptimizerSettings"):
        Optimizer({"name": "sgd"}, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize(
    ("weights", "gradient", "epoch", "message"),
    [
        (np.zeros(2), np.zeros(3), 0, "weights has shape (2,), expected (3,)"),
        (np.zeros(3), np.zeros(4), 0, "gradient has shape (4,), expected (3,)"),
        (np.zeros((3, 1)), np.zeros(3), 0, "weights has shape (3, 1)"),
        (np.zeros(3), np.array([0.0, np.nan, 0.0]), 0, "gradient must be finite"),
        (np.zeros(3), np.array([0.0, np.inf, 0.0]), 0, "gradient must be finite"),
        (np.array([-np.inf, 0.0, 0.0]), np.zeros(3), 0, "weights must be finite"),
        (np.zeros(3), np.array(["a", "b", "c"]), 0, "gradient must hold real numbers"),
        (np.zeros(3), np.zeros(3, dtype=complex), 0, "gradient must hold real numbers"),
        (np.zeros(3), [0.0, [1.0], 2.0], 0, "gradient must be an array of numbers"),
        (np.zeros(3), np.zeros(3), -1, "epoch must be >= 0"),
        (np.zeros(3), np.zeros(3), 1.0, "epoch must be an integer"),
    ],
)
def test_invalid_step_arguments(
    name: str, weights: Any, gradient: Any, epoch: Any, message: str
) -> None:
    opt = make(name, 3)
    before = opt.state()
    with pytest.raises(ProtocolError) as excinfo:
        opt.step(weights, gradient, epoch)
    assert message in str(excinfo.value)
    assert opt.state() == before  # a refused step changes nothing


def test_overflowing_step_is_refused_and_changes_nothing() -> None:
    opt = make("sgd", 2, penalty="none", learning_rate=1.0)
    with pytest.raises(ProtocolError, match="overflowed"):
        opt.step(np.array([-1.7e308, 0.0]), np.array([1.7e308, 0.0]), 0)
    assert opt.steps == 0
    opt = make("adagrad", 2, penalty="none")
    with pytest.raises(ProtocolError, match="overflowed"):
        opt.step(np.zeros(2), np.array([1e200, 0.0]), 0)
    assert opt.state()["slots"]["sum_squares"] == [0.0, 0.0]


def test_penalty_validates_weights() -> None:
    opt = make(size=3, penalty="l2", alpha=1.0)
    with pytest.raises(ProtocolError, match="weights has shape"):
        opt.penalty(np.zeros(4))
    with pytest.raises(ProtocolError, match="weights must be finite"):
        opt.penalty(np.array([np.nan, 0.0, 0.0]))


def test_integer_array_inputs_are_converted() -> None:
    opt = make("sgd", 2, penalty="none", learning_rate=0.5)
    np.testing.assert_array_equal(opt.step(np.array([1, 2]), [2, 2], 0), [0.0, 1.0])


def valid_state() -> dict[str, Any]:
    opt = make("adam", 3, [True, True, False], penalty="l2", alpha=0.1)
    opt.step(np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.5, 0.25]), 0)
    return json.loads(json.dumps(opt.state()))


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(state: dict[str, Any]) -> None:
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(*path: Any) -> Any:
    def mutate(state: dict[str, Any]) -> None:
        target = state
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_delete("steps"), "missing keys steps"),
        (_set(("extra",), 1), "unknown keys extra"),
        (_set(("version",), 2), "version 2 is not supported"),
        (_set(("version",), "1"), "version '1' is not supported"),
        (_set(("settings",), "adam"), "settings must be a dict"),
        (_delete("settings", "beta2"), "missing: beta2"),
        (_set(("settings", "colour"), "red"), "unknown: colour"),
        (_set(("settings", "name"), "adamax"), "unknown optimizer 'adamax'"),
        (_set(("settings", "beta1"), 1.5), "beta1 must be in [0, 1)"),
        (_set(("settings", "learning_rate"), None), "learning_rate must be a number"),
        (_set(("size",), 0), "size must be a positive integer"),
        (_set(("size",), 3.0), "size must be a positive integer"),
        (_set(("size",), 4), "penalized has 3 entries, size is 4"),
        (_set(("steps",), -1), "steps must be a non-negative integer"),
        (_set(("steps",), True), "steps must be a non-negative integer"),
        (_set(("penalized",), [1, 1, 0]), "penalized must be a list of true/false"),
        (_set(("penalized",), "all"), "penalized must be a list of true/false"),
        (_set(("slots",), []), "adam needs slots first_moment, second_moment and no others"),
        (_delete("slots", "second_moment"), "adam needs slots"),
        (_set(("slots", "velocity"), [0.0, 0.0, 0.0]), "adam needs slots"),
        (_set(("slots", "first_moment"), [0.0, 0.0]), "slot first_moment must be a list of 3"),
        (_set(("slots", "first_moment"), "0,0,0"), "slot first_moment must be a list of 3"),
        (_set(("slots", "first_moment"), [0.0, "x", 0.0]), "must be a list of 3 numbers"),
        (_set(("slots", "first_moment"), [0.0, None, 0.0]), "must be a list of 3 numbers"),
        (_set(("slots", "first_moment"), [0.0, True, 0.0]), "must be a list of 3 numbers"),
        (_set(("slots", "first_moment"), [0.0, math.nan, 0.0]), "slot first_moment must be finite"),
        (_set(("slots", "first_moment"), [0.0, 10**400, 0.0]), "slot first_moment must be finite"),
        (_set(("slots", "second_moment"), [0.0, -1.0, 0.0]), "slot second_moment must be >= 0"),
    ],
)
def test_malformed_state(mutate: Any, message: str) -> None:
    state = valid_state()
    mutate(state)
    with pytest.raises(ProtocolError) as excinfo:
        Optimizer.from_state(state)
    assert message in str(excinfo.value)


@pytest.mark.parametrize("state", [None, [], "state", 3])
def test_state_must_be_a_dict(state: Any) -> None:
    with pytest.raises(ProtocolError, match="optimizer state must be a dict"):
        Optimizer.from_state(state)


def test_state_of_another_optimizer_needs_its_own_slots() -> None:
    state = valid_state()
    state["settings"]["name"] = "momentum"
    with pytest.raises(ProtocolError, match="momentum needs slots velocity and no others"):
        Optimizer.from_state(state)
    state["settings"]["name"] = "sgd"
    with pytest.raises(ProtocolError, match=r"sgd needs slots \(none\)"):
        Optimizer.from_state(state)


def test_valid_state_loads() -> None:
    state = valid_state()
    assert Optimizer.from_state(copy.deepcopy(state)).state() == state


# --- inputs are never mutated -------------------------------------------------------------


@given(
    data=st.data(),
    name=st.sampled_from(OPTIMIZERS),
    penalty=st.sampled_from(PENALTIES),
    size=sizes,
)
def test_inputs_are_not_mutated(data: st.DataObject, name: str, penalty: str, size: int) -> None:
    small = st.floats(-100.0, 100.0)
    w = np.array(data.draw(st.lists(small, min_size=size, max_size=size)))
    g = np.array(data.draw(st.lists(small, min_size=size, max_size=size)))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    w_copy, g_copy, mask_copy = w.copy(), g.copy(), mask.copy()
    opt = make(name, size, mask, penalty=penalty, alpha=0.5)
    new = opt.step(w, g, 0)
    opt.step(new, g, 1)
    opt.penalty(w)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(mask, mask_copy)
    assert not np.shares_memory(new, w) and not np.shares_memory(new, g)
    mask[:] = ~mask  # the optimiser keeps its own copy of the mask
    assert opt.state()["penalized"] == mask_copy.tolist()
