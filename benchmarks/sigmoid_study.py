"""Which polynomial replaces the sigmoid in shared-mode training: held-out AUC by measurement.

Simulates in float64 what hetero LR training computes, on the pooled features (all
parties' columns side by side, which is what the parties' partial scores add up to):
each party standardises its columns on the training rows; the guest starts from its
secret initial weights (:func:`protocols.hetero_lr.leakage.secret_initial_weights`,
the intercept last), the hosts from zero; each epoch follows the public
:class:`~protocols.hetero_lr.batch_plan.BatchPlan`; a batch's residual is
``e = w_i * (f(z) - y)`` with ``f`` the sigmoid, a polynomial or the Taylor residual
``z/4 - y/2`` (``y`` in {0, 1}: ``sigma(0) + sigma'(0) z - y = 1/2 + z/4 - y``, the
same as ``z/4 - y'/2`` with ``y' = 2y - 1``), the gradient ``x_train^T e / batch`` and the
update the project's optimiser (:class:`~protocols.hetero_lr.optimizers.Optimizer`)
with the estimator's defaults.  Stopping follows the default ``convergence="loss"``
(``tol=1e-4``) with the loss each residual is the derivative of (log loss; the
polynomial's integral ``P(z) - y z``; the Taylor loss), or runs every epoch with
``--convergence max_iter``.

Run ``python -m benchmarks.sigmoid_study`` (about a minute); ``--quick`` runs fewer
candidates.  ``--clip LOW HIGH`` adds *clipped* links (the polynomial inside
``[LOW, HIGH]``, 0 below, 1 above: what two secure comparisons per row would let the
protocol compute).  Measured 2026-12-08 with ``--optimizer nesterov --learning-rate
0.05 --clip -8 6``: a relative degree-5 fit on ``[-8, 6]``, clipped, trains within
0.0042 of scikit-learn on default_credit, make_rare_event_credit and three seeds of
make_heavy_tail_credit, both class weights (the exact sigmoid: 0.0032; the shipped
unclipped polynomial: 0.016).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import secret_initial_weights
from protocols.hetero_lr.logistic_approximation import (
    DEFAULT_APPROXIMATION,
    LogisticApproximation,
    fit_logistic,
)
from protocols.hetero_lr.optimizers import Optimizer, OptimizerSettings
from protocols.hetero_lr.settings import DEFAULTS, MAX_ITER_BY_MODE
from vfl.tables.datasets import (
    PartyTable,
    load_builtin,
    make_heavy_tail_credit,
    make_rare_event_credit,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SEED = bytes(32)  # plan and initial-weights seed: fixed, so every run sees the same batches


@dataclass(frozen=True)
class Dataset:
    name: str
    ids: list[str]
    features: FloatArray  # pooled: guest columns, then host columns
    guest_columns: int
    labels: FloatArray


def _pooled(name: str, guest: PartyTable, host: PartyTable) -> Dataset:
    position = {identifier: row for row, identifier in enumerate(host.ids)}
    rows = np.array([position[identifier] for identifier in guest.ids], dtype=np.int64)
    assert guest.labels is not None
    features = np.column_stack([guest.features, host.features[rows]])
    return Dataset(
        name, list(guest.ids), features, guest.features.shape[1], guest.labels.astype(np.float64)
    )


def rare_event_spend_slope(
    rows: int = 30_000, event_rate: float = 0.066, seed: int = 0, spend_slope: float = 1.0
) -> tuple[PartyTable, PartyTable]:
    """make_rare_event_credit with one change: the Pareto ``monthly_spend`` enters the risk
    linearly, ``risk -= spend_slope * (spend / median(spend) - 1)`` (big spenders rarely
    default).  The same draws in the same order as the generator; ``spend_slope=0``
    gives its data.  A proposal for :func:`vfl.tables.datasets.make_rare_event_credit`
    (not edited here): it is what makes least squares fall 0.03 AUC below logistic
    regression (high-leverage rows far on the right side of the boundary)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.7, rows)
    limit = np.round(rng.lognormal(8.3, 0.9, rows), 0)
    utilization = np.clip(rng.beta(1.2, 3.0, rows) * 1.25, 0.0, None)
    months = rng.integers(1, 241, rows).astype(np.float64)
    delinquencies = rng.poisson(0.25, rows).astype(np.float64)
    age = np.clip(np.round(rng.normal(44.0, 13.0, rows)), 19.0, 90.0)
    spend = np.round((rng.pareto(1.6, rows) + 1.0) * 180.0, 2)
    cash = np.where(rng.random(rows) < 0.12, np.round(rng.lognormal(6.0, 1.2, rows), 2), 0.0)
    transactions = rng.negative_binomial(3, 0.08, rows).astype(np.float64)
    late = rng.poisson(0.15, rows).astype(np.float64)
    volatility = rng.lognormal(-1.0, 0.9, rows)
    days = np.round(rng.exponential(12.0, rows), 0)
    risk = (
        2.2 * (utilization > 0.85)
        + 1.1 * np.minimum(delinquencies, 3.0)
        - 0.55 * np.log(income / 36_000.0)
        - 0.5 * (months > 36)
        + 0.45 * np.log1p(cash) / 2.0
        + 0.9 * np.minimum(late, 3.0)
        + 1.3 * (days > 30)
        + 0.35 * np.log(volatility + 0.05)
        - 0.25 * np.log(spend / 180.0)
        + rng.normal(0.0, 0.5, rows)
    )
    risk = risk - spend_slope * (spend / np.median(spend) - 1.0)
    low, high = -30.0, 30.0
    for _ in range(100):
        middle = (low + high) / 2.0
        if float(np.mean(_sigmoid(risk + middle))) < event_rate:
            low = middle
        else:
            high = middle
    labels = (rng.random(rows) < _sigmoid(risk + (low + high) / 2.0)).astype(np.int64)
    ids = [f"c{index:06d}" for index in range(rows)]
    guest = PartyTable(
        ids,
        np.column_stack([income, limit, utilization, months, delinquencies, age]),
        [f"g{j}" for j in range(6)],
        labels,
    )
    host = PartyTable(
        list(ids),
        np.column_stack([spend, cash, transactions, late, volatility, days]),
        [f"h{j}" for j in range(6)],
    )
    return guest, host


def load(name: str, **rare: float) -> Dataset:
    """``breast``, ``default_credit``, ``rare_event`` (keywords: make_rare_event_credit's),
    ``heavy_tail`` (keywords: make_heavy_tail_credit's) or ``rare_event_spend_slope``
    (:func:`rare_event_spend_slope`)."""
    if name == "heavy_tail":
        label = f"heavy_tail seed={int(rare.get('seed', 0))}"
        return _pooled(label, *make_heavy_tail_credit(**rare))  # type: ignore[arg-type]
    if name == "rare_event_spend_slope":
        return _pooled(name, *rare_event_spend_slope(**rare))  # type: ignore[arg-type]
    if name == "rare_event":
        guest, host = make_rare_event_credit(**rare)  # type: ignore[arg-type]
        return _pooled(name, guest, host)
    return _pooled(name, *load_builtin(name))


def stratified_split(ids: Sequence[str], y: FloatArray) -> tuple[IntArray, IntArray]:
    """Train and test row indices: 70/30, stratified, fixed by sorting the ids first."""
    order = np.array(sorted(range(len(ids)), key=lambda row: ids[row]), dtype=np.int64)
    train, test = train_test_split(order, test_size=0.3, stratify=y[order], random_state=0)
    return np.sort(train), np.sort(test)


def standardize(train: FloatArray, test: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return (train - mean) / scale, (test - mean) / scale


def row_weights(y: FloatArray, class_weight: str | None) -> FloatArray:
    if class_weight is None:
        return np.ones_like(y)
    positives = float(y.sum())
    negatives = len(y) - positives
    return np.where(y == 1.0, len(y) / (2 * positives), len(y) / (2 * negatives))


# residual functions f(z) - y and the losses they are the derivative of ------------------------


@dataclass(frozen=True)
class Link:
    name: str
    mean: Callable[[FloatArray], FloatArray]  # f(z): the residual is f(z) - y
    loss: Callable[[FloatArray, FloatArray], FloatArray]  # per row, d/dz = f(z) - y


def _log_loss(z: FloatArray, y: FloatArray) -> FloatArray:
    result: FloatArray = np.logaddexp(0.0, z) - y * z
    return result


def _sigmoid(z: FloatArray) -> FloatArray:
    result: FloatArray = np.exp(-np.logaddexp(0.0, -z))
    return result


EXACT = Link("exact sigmoid", _sigmoid, _log_loss)
TAYLOR = Link(
    "taylor z/4-y/2",
    lambda z: 0.5 + z / 4.0,
    lambda z, y: math.log(2.0) + z / 2.0 + z * z / 8.0 - y * z,
)


def softplus_fit(approximation: LogisticApproximation) -> tuple[float, ...]:
    """The loss polynomial the protocol reports: a least-squares fit of ``log(1 + e**z)``
    of the same degree at 512 Chebyshev nodes on the approximation's interval (what
    :func:`protocols.hetero_lr.shared_polynomials.softplus_coefficients` does, on
    :attr:`~LogisticApproximation.bounds`)."""
    low, high = approximation.bounds
    middle, half = (low + high) / 2.0, (high - low) / 2.0
    nodes = middle + half * np.cos(np.pi * (np.arange(512) + 0.5) / 512)
    fit = np.polynomial.Polynomial.fit(nodes, np.logaddexp(0.0, nodes), approximation.degree)
    coefficients = [float(c) for c in fit.convert().coef]
    return tuple(coefficients + [0.0] * (approximation.degree + 1 - len(coefficients)))


def polynomial_link(
    approximation: LogisticApproximation, name: str, *, loss: str = "integral"
) -> Link:
    """The residual ``p(z) - y``; the loss is ``P(z) - y z`` with ``P`` the integral of
    ``p`` (``loss="integral"``) or the protocol's softplus fit (``loss="softplus"``)."""
    if loss == "softplus":
        integral = softplus_fit(approximation)
    else:
        integral = (0.0, *(c / (k + 1) for k, c in enumerate(approximation.coefficients)))

    def polynomial_loss(z: FloatArray, y: FloatArray) -> FloatArray:
        value = np.zeros_like(z)
        for coefficient in reversed(integral):
            value = value * z + coefficient
        result: FloatArray = value - y * z
        return result

    return Link(name, approximation.evaluate, polynomial_loss)


def clipped_link(approximation: LogisticApproximation, low: float, high: float, name: str) -> Link:
    """The polynomial inside ``[low, high]``, 0 below and 1 above: what two secure
    comparisons of ``z`` with public thresholds would let the protocol compute.  The
    stopping loss is the log loss (the clipped polynomial's integral differs from it by
    less than the polynomial's error times the score range)."""

    def mean(z: FloatArray) -> FloatArray:
        inside = approximation.evaluate(z)
        result: FloatArray = np.where(z < low, 0.0, np.where(z > high, 1.0, inside))
        return result

    return Link(name, mean, _log_loss)


def clipped_candidates(low: float, high: float) -> list[tuple[str, Link, float]]:
    """Clipped links for ``--clip``: the shipped polynomial and unconstrained relative
    fits of degree 5 and 7 on ``[low, high]`` (clipping makes the restoring leading
    coefficient unnecessary)."""
    found = [
        (
            f"clip[{low:g},{high:g}] default",
            clipped_link(DEFAULT_APPROXIMATION, low, high, "clipped default"),
            DEFAULT_APPROXIMATION,
        )
    ]
    for degree in (5, 7):
        fitted = fit_logistic(
            degree,
            (high - low) / 2.0,
            center=(high + low) / 2.0,
            odd=False,
            weighting="relative",
            floor=0.005 if degree == 5 else 0.002,
        )
        name = f"clip[{low:g},{high:g}] relative D={degree}"
        found.append((name, clipped_link(fitted, low, high, name), fitted))
    return [(f"{name} err={fit.max_error:.3f}", link, math.inf) for name, link, fit in found]


# training ------------------------------------------------------------------------------------


@dataclass
class Run:
    auc: float
    epochs: int
    max_abs_z: float  # largest |z| of a training row at any batch
    outside: float  # share of training rows' evaluations with |z| > R (R given)
    diverged: bool


def train(
    link: Link,
    x_train: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    guest_columns: int,
    plans: list[list[IntArray]],
    *,
    learning_rate: float,
    max_iter: int,
    convergence: str,
    interval: float = math.inf,
    alpha: float = 0.0,
    optimizer: str = "sgd",
    momentum: float = 0.9,
) -> tuple[FloatArray, int, float, float, bool]:
    """Mini-batch training as the engine does it; returns weights (intercept last)."""
    rows, width = x_train.shape
    design = np.column_stack([x_train, np.ones(rows)])
    guest = np.column_stack([x_train[:, :guest_columns], np.ones(rows)])
    start = secret_initial_weights(guest, SEED)
    w = np.concatenate([start[:-1], np.zeros(width - guest_columns), start[-1:]])
    penalized = np.ones(width + 1, dtype=np.bool_)
    penalized[-1] = False
    updater = Optimizer(
        OptimizerSettings(optimizer, learning_rate=learning_rate, alpha=alpha, momentum=momentum),
        width + 1,
        penalized,
    )
    previous: float | None = None
    max_abs_z, outside, seen = 0.0, 0, 0
    epochs = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(max_iter):
            epochs = epoch + 1
            loss_sum = 0.0
            for batch in plans[epoch]:
                z = design[batch] @ w
                if not np.isfinite(z).all() or np.abs(z).max() > 1e6:
                    return w, epochs, math.inf, 1.0, True
                max_abs_z = max(max_abs_z, float(np.abs(z).max()))
                outside += int((np.abs(z) > interval).sum())
                seen += len(batch)
                residual = weights[batch] * (link.mean(z) - y[batch])
                loss_sum += float(np.sum(weights[batch] * link.loss(z, y[batch])))
                gradient = design[batch].T @ residual / len(batch)
                try:
                    w = updater.step(w, gradient, epoch)
                except Exception:  # overflow: the run diverged
                    return w, epochs, math.inf, 1.0, True
            loss = loss_sum / rows + updater.penalty(w)
            if convergence == "loss" and previous is not None and abs(previous - loss) < 1e-4:
                break
            previous = loss
    return w, epochs, max_abs_z, outside / max(seen, 1), False


def sklearn_auc(
    x_train: FloatArray,
    y: FloatArray,
    x_test: FloatArray,
    y_test: FloatArray,
    class_weight: str | None,
) -> float:
    model = LogisticRegression(C=1.0, class_weight=class_weight, max_iter=100_000)
    model.fit(x_train, y)
    return float(roc_auc_score(y_test, model.decision_function(x_test)))


@dataclass(frozen=True)
class Prepared:
    data: Dataset
    x_train: FloatArray
    y: FloatArray
    x_test: FloatArray
    y_test: FloatArray
    plans: list[list[IntArray]]


def prepare(data: Dataset, batch_size: int, max_iter: int) -> Prepared:
    train_rows, test_rows = stratified_split(data.ids, data.labels)
    x_train, x_test = standardize(data.features[train_rows], data.features[test_rows])
    plan = BatchPlan(len(train_rows), batch_size, SEED)
    plans = [plan.batches(epoch) for epoch in range(max_iter)]
    return Prepared(data, x_train, data.labels[train_rows], x_test, data.labels[test_rows], plans)


def evaluate(
    prepared: Prepared,
    link: Link,
    class_weight: str | None,
    *,
    learning_rate: float,
    max_iter: int,
    convergence: str,
    interval: float = math.inf,
    alpha: float = 0.0,
    optimizer: str = "sgd",
    momentum: float = 0.9,
) -> Run:
    w, epochs, max_abs_z, outside, diverged = train(
        link,
        prepared.x_train,
        prepared.y,
        row_weights(prepared.y, class_weight),
        prepared.data.guest_columns,
        prepared.plans,
        learning_rate=learning_rate,
        max_iter=max_iter,
        convergence=convergence,
        interval=interval,
        alpha=alpha,
        optimizer=optimizer,
        momentum=momentum,
    )
    scores = prepared.x_test @ w[:-1] + w[-1]
    if diverged or not np.isfinite(scores).all():
        return Run(float("nan"), epochs, max_abs_z, outside, True)
    auc = float(roc_auc_score(prepared.y_test, scores))
    return Run(auc, epochs, max_abs_z, outside, False)


def candidates(quick: bool) -> list[tuple[str, LogisticApproximation]]:
    found = [("default " + _label(DEFAULT_APPROXIMATION), DEFAULT_APPROXIMATION)]
    # relative (rare-event) weighting on asymmetric intervals, leading coefficient pinned > 0
    for low, high, floor, leading in (
        ((-10.0, 6.0, 0.005, 0.05),)
        if quick
        else (
            (-10.0, 6.0, 0.005, 0.02),
            (-10.0, 6.0, 0.005, 0.05),
            (-10.0, 6.0, 0.005, 0.1),
            (-12.0, 6.0, 0.02, 0.02),
            (-10.0, 8.0, 0.005, 0.05),
        )
    ):
        approximation = fit_logistic(
            5,
            (high - low) / 2.0,
            center=(high + low) / 2.0,
            odd=False,
            weighting="relative",
            floor=floor,
            min_leading=leading,
        )
        found.append((f"relative f={floor:g} L={leading:g} {_label(approximation)}", approximation))
    degrees = (3, 5, 7)
    intervals = (8.0, 16.0) if quick else (4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0)
    methods = ("least-squares",) if quick else ("least-squares", "minimax")
    for method in methods:
        for degree in degrees:
            for interval in intervals:
                approximation = fit_logistic(degree, interval, method=method)
                found.append((f"{method} {_label(approximation)}", approximation))
    return found


def _label(approximation: LogisticApproximation) -> str:
    low, high = approximation.bounds
    if low == -high:
        return f"D={approximation.degree} R={high:g}"
    return f"D={approximation.degree} [{low:g},{high:g}]"


def study(args: argparse.Namespace) -> int:
    batch_size = args.batch_size
    lr = args.learning_rate
    max_iter = args.max_iter
    sets = [
        load("breast"),
        load("default_credit"),
        load("rare_event", rows=args.rare_rows, event_rate=args.rare_event_rate),
        *(load("heavy_tail", rows=args.rare_rows, seed=seed) for seed in args.heavy_seeds),
    ]
    if args.spend_slope:
        sets.append(
            load(
                "rare_event_spend_slope",
                rows=args.rare_rows,
                event_rate=args.rare_event_rate,
                spend_slope=args.spend_slope,
            )
        )
    weightings: list[str | None] = [None, "balanced"]
    print(
        f"batch_size={batch_size} learning_rate={lr} max_iter={max_iter} "
        f"convergence={args.convergence} optimizer={args.optimizer} "
        f"momentum={args.momentum} alpha={args.alpha}"
    )
    worst: dict[str, float] = {}
    for data in sets:
        prepared = prepare(data, batch_size, max_iter)
        positives = prepared.y.mean()
        print(
            f"\n== {data.name}: {len(prepared.y)} train / {len(prepared.y_test)} test rows, "
            f"{data.features.shape[1]} features, {positives:.1%} positives"
        )
        reference = {
            cw: sklearn_auc(prepared.x_train, prepared.y, prepared.x_test, prepared.y_test, cw)
            for cw in weightings
        }
        print(
            f"{'model':40s} {'AUC none':>9s} {'AUC bal.':>9s} {'gap none':>9s} {'gap bal.':>9s}"
            f" {'epochs':>7s} {'max|z|':>8s} {'>R':>7s}"
        )
        print(
            f"{'sklearn LogisticRegression C=1':40s} {reference[None]:9.4f} "
            f"{reference['balanced']:9.4f}"
        )
        rows: list[tuple[str, Link, float]] = [
            (EXACT.name, EXACT, math.inf),
            (TAYLOR.name, TAYLOR, math.inf),
        ]
        for name, approximation in candidates(args.quick):
            link = polynomial_link(approximation, name, loss=args.loss)
            rows.append((f"{name} err={approximation.max_error:.3f}", link, approximation.interval))
        if args.clip:
            rows.extend(clipped_candidates(*args.clip))
        for name, link, interval in rows:
            runs = {
                cw: evaluate(
                    prepared,
                    link,
                    cw,
                    learning_rate=lr,
                    max_iter=max_iter,
                    convergence=args.convergence,
                    interval=interval,
                    alpha=args.alpha,
                    optimizer=args.optimizer,
                    momentum=args.momentum,
                )
                for cw in weightings
            }
            gaps = {cw: reference[cw] - runs[cw].auc for cw in weightings}
            key = name.split(" err=")[0]
            if data.name != "rare_event_spend_slope":  # a proposal: not in the summary
                worst[key] = max(
                    worst.get(key, -math.inf),
                    *(math.inf if math.isnan(g) else g for g in gaps.values()),
                )
            print(
                f"{name:40s} {runs[None].auc:9.4f} {runs['balanced'].auc:9.4f} "
                f"{gaps[None]:+9.4f} {gaps['balanced']:+9.4f} "
                f"{runs[None].epochs:3d}/{runs['balanced'].epochs:<3d} "
                f"{max(runs[None].max_abs_z, runs['balanced'].max_abs_z):8.1f} "
                f"{max(runs[None].outside, runs['balanced'].outside):7.2%}"
            )
    print("\n== worst gap to sklearn over the sets and both class weights (lower is better)")
    for key, gap in sorted(worst.items(), key=lambda item: item[1]):
        print(f"{key:40s} {gap:+.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sigmoid_study", description=__doc__)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    parser.add_argument(
        "--max-iter", type=int, default=DEFAULTS["max_iter"] or MAX_ITER_BY_MODE["shared"]
    )
    parser.add_argument("--alpha", type=float, default=DEFAULTS["alpha"])
    parser.add_argument(
        "--optimizer",
        choices=("sgd", "momentum", "nesterov"),
        default=DEFAULTS["optimizer"],
        help="the update rule (shared mode's linear optimisers)",
    )
    parser.add_argument("--momentum", type=float, default=0.9, help="of momentum and nesterov")
    parser.add_argument(
        "--convergence", choices=("loss", "max_iter"), default=DEFAULTS["convergence"]
    )
    parser.add_argument("--rare-rows", type=int, default=30_000)
    parser.add_argument("--rare-event-rate", type=float, default=0.066)
    parser.add_argument(
        "--spend-slope",
        type=float,
        default=1.0,
        help="also run rare_event_spend_slope with this slope (0: skip); not in the worst gap",
    )
    parser.add_argument(
        "--heavy-seeds",
        type=int,
        nargs="*",
        default=[0, 1, 2],
        help="seeds of make_heavy_tail_credit (none: skip)",
    )
    parser.add_argument(
        "--loss",
        choices=("integral", "softplus"),
        default="integral",
        help="the polynomials' stopping loss: their exact integral or the protocol's softplus fit",
    )
    parser.add_argument("--quick", action="store_true", help="fewer candidate polynomials")
    parser.add_argument(
        "--clip",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="also train clipped links: the polynomial inside [LOW, HIGH], 0 below, 1 above "
        "(what secure comparisons would allow)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    status = study(args)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
