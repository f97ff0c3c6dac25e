"""Model quality: held-out AUC of hetero LR with its defaults against scikit-learn.

Run with ``python -m benchmarks quality`` (a few minutes: every plaintext run is
seconds, the one Paillier run a few minutes on 2 cores).

Three data sets, each party holding its own columns (the data set's own split):

* ``breast`` (569 rows, 10 guest + 20 host features) and ``default_credit`` (30,000
  rows, 13 guest + 10 host features), the built-in sets
  (:func:`vfl.tables.datasets.load_builtin`), guest and host rows aligned by id;
* a rare-event heavy-tailed credit set: :func:`vfl.tables.datasets.make_heavy_tail_credit`
  (30,000 rows, 5 % events) where it exists, else
  :func:`vfl.tables.datasets.make_rare_event_credit` (the JSON and the table say which).

Each is split 70/30, stratified, fixed by sorting the rows by id first
(:func:`benchmarks.sigmoid_study.stratified_split`: ``train_test_split(stratify=y,
test_size=0.3, random_state=0)`` on the id-sorted rows).  For ``class_weight`` in
(``None``, ``"balanced"``):

* **scikit-learn** ``LogisticRegression(C=1.0, max_iter=10000)`` on the pooled
  features, standardised on the training rows: the reference;
* **least squares**: ``LinearRegression`` on the 0/1 labels (``sample_weight`` the
  balanced class weights where asked), pooled and standardised alike;
* :class:`vfl.HeteroLogisticRegression` with its **defaults** (``random_state=0``,
  ``class_weight`` as the cell says) in **shared** mode (the logistic loss, its sigmoid
  a polynomial on shares; 20 epochs at most) and in **two-party** mode (the Taylor
  loss; 10 epochs at most), each party standardising its own columns (the estimator's
  default).  A configuration the engine refuses (the two-party label-information
  bound, SECURITY.md §11) is reported as refused, with its reason.

The federated runs use ``backend="plaintext"``, which runs exactly the same protocol
arithmetic as Paillier (the same fixed-point integers, shares, masks, truncations and
batches), only without encrypting; one shared-mode run on Paillier at 2048 bits (on
``breast`` by default) shows it reaches the plaintext figure.  Results:
``benchmarks/results/quality.json`` and ``quality.md`` beside it (the Markdown table
is printed too).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks import report

__all__ = [
    "DATASETS",
    "DESCRIPTION",
    "SUITE",
    "Cell",
    "Dataset",
    "FederatedRun",
    "add_arguments",
    "evaluate_dataset",
    "load_dataset",
    "main",
    "markdown_table",
    "paillier_check",
]

DESCRIPTION = "quality: held-out AUC of hetero LR defaults (shared, two-party) vs scikit-learn"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Log = Callable[[str], None]

DATASETS = ("breast", "default_credit", "heavy_tail")
"""Data set names of ``--datasets``."""
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
MODES = ("shared", "two-party")
PLAINTEXT_NOTE = (
    'backend="plaintext" runs exactly the same protocol arithmetic as Paillier (the same '
    "fixed-point integers, shares, masks, truncations and batches) without encrypting"
)
PAILLIER_AUC_TOLERANCE = 2e-3
"""The Paillier run's AUC must be this close to the plaintext run's (shared runs truncate
shares at random by one unit, so the two are not bit-identical)."""


@dataclass(frozen=True)
class Dataset:
    """A data set split between the parties and into training and held-out rows.

    Attributes
    ----------
    name : str
    source : str
        Where the rows come from.
    guest_train, host_train, guest_test, host_test : numpy.ndarray
        Each party's columns, unscaled; row ``i`` of a guest and a host matrix is the
        same id.
    y_train, y_test : numpy.ndarray
        0/1 labels.
    """

    name: str
    source: str
    guest_train: FloatArray
    host_train: FloatArray
    guest_test: FloatArray
    host_test: FloatArray
    y_train: IntArray
    y_test: IntArray

    def describe(self) -> dict[str, Any]:
        """The JSON record of the data."""
        return {
            "source": self.source,
            "train_rows": len(self.y_train),
            "test_rows": len(self.y_test),
            "guest_features": self.guest_train.shape[1],
            "host_features": self.host_train.shape[1],
            "train_event_rate": round(float(np.mean(self.y_train)), 4),
            "split": "rows sorted by id, then train_test_split(stratify=y, test_size=0.3, "
            "random_state=0)",
        }


def heavy_tail_generator() -> tuple[str, Callable[..., Any]]:
    """``make_heavy_tail_credit`` if :mod:`vfl.tables.datasets` has it, else the fallback.

    Returns
    -------
    tuple
        ``(function name, function)``.
    """
    from vfl.tables import datasets

    generator = getattr(datasets, "make_heavy_tail_credit", None)
    if generator is not None:
        return "make_heavy_tail_credit", generator
    return "make_rare_event_credit", datasets.make_rare_event_credit


def load_dataset(name: str, rows: int | None = None) -> Dataset:
    """Load, align by id and split one data set.

    Parameters
    ----------
    name : {"breast", "default_credit", "heavy_tail"}
    rows : int, optional
        Rows of the heavy-tailed set (default: the generator's 30,000); smoke tests
        use fewer.

    Returns
    -------
    Dataset
    """
    from benchmarks.sigmoid_study import stratified_split
    from vfl.tables.datasets import load_builtin

    if name == "heavy_tail":
        function, generator = heavy_tail_generator()
        guest, host = generator() if rows is None else generator(rows)
        source = f"vfl.tables.datasets.{function}({'' if rows is None else rows})"
    elif name in ("breast", "default_credit"):
        guest, host = load_builtin(name)
        source = f"vfl.tables.datasets.load_builtin({name!r})"
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    if guest.labels is None:
        raise ValueError(f"{name}: the guest table has no labels")
    position = {identifier: row for row, identifier in enumerate(host.ids)}
    common = [row for row, identifier in enumerate(guest.ids) if identifier in position]
    ids = [guest.ids[row] for row in common]
    guest_x = np.asarray(guest.features[common], dtype=np.float64)
    host_x = np.asarray(
        host.features[[position[identifier] for identifier in ids]], dtype=np.float64
    )
    labels = np.asarray(guest.labels[common], dtype=np.int64)
    train, test = stratified_split(ids, labels.astype(np.float64))
    return Dataset(
        name=name,
        source=source,
        guest_train=guest_x[train],
        host_train=host_x[train],
        guest_test=guest_x[test],
        host_test=host_x[test],
        y_train=labels[train],
        y_test=labels[test],
    )


# the runs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FederatedRun:
    """One :class:`vfl.HeteroLogisticRegression` fit with its defaults.

    Attributes
    ----------
    mode : str
    loss : str
    backend : str
    auc : float or None
        Held-out AUC, ``None`` when refused.
    epochs : int or None
        ``n_iter_``.
    stop_reason : str or None
        ``stop_reason_``.
    seconds : float
        Wall time of ``fit``.
    refused : str or None
        The engine's reason, when it refused to train.
    coefficients : numpy.ndarray or None
        Guest weights, host weights and the intercept.
    """

    mode: str
    loss: str
    backend: str
    auc: float | None
    epochs: int | None
    stop_reason: str | None
    seconds: float
    refused: str | None = None
    coefficients: FloatArray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the run."""
        return {
            "mode": self.mode,
            "loss": self.loss,
            "backend": self.backend,
            "auc": None if self.auc is None else round(self.auc, 5),
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "seconds": round(self.seconds, 2),
            "refused": self.refused,
        }


def _auc(y: IntArray, scores: FloatArray) -> float:
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    return float(roc_auc_score(y, scores))


def _standardised(train: FloatArray, test: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return (train - mean) / scale, (test - mean) / scale


def _balanced(y: IntArray) -> FloatArray:
    positives = float(np.sum(y))
    negatives = len(y) - positives
    weights: FloatArray = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * negatives))
    return weights


def sklearn_aucs(data: Dataset, class_weight: str | None) -> tuple[float, float]:
    """Held-out AUCs of scikit-learn's logistic regression and of least squares (pooled).

    Parameters
    ----------
    data : Dataset
    class_weight : "balanced" or None

    Returns
    -------
    tuple of float
        ``(logistic regression, least squares)``.
    """
    from sklearn.linear_model import (  # type: ignore[import-untyped]
        LinearRegression,
        LogisticRegression,
    )

    train, test = _standardised(
        np.hstack([data.guest_train, data.host_train]),
        np.hstack([data.guest_test, data.host_test]),
    )
    logistic = LogisticRegression(C=1.0, max_iter=10_000, class_weight=class_weight)
    logistic.fit(train, data.y_train)
    weights = None if class_weight is None else _balanced(data.y_train)
    least_squares = LinearRegression().fit(train, data.y_train, sample_weight=weights)
    return (
        _auc(data.y_test, logistic.decision_function(test)),
        _auc(data.y_test, least_squares.predict(test)),
    )


def federated_run(
    data: Dataset,
    mode: str,
    class_weight: str | None,
    *,
    backend: str = "plaintext",
    key_length: int = 2048,
    n_jobs: int | None = None,
    max_iter: int | None = None,
) -> FederatedRun:
    """Fit :class:`vfl.HeteroLogisticRegression` with its defaults and score the held-out rows.

    Parameters
    ----------
    data : Dataset
    mode : {"shared", "two-party"}
    class_weight : "balanced" or None
    backend : str, default "plaintext"
    key_length : int, default 2048
        Paillier modulus bits (ignored by the plaintext backend; keys under 2048 bits
        are allowed here for smoke tests).
    n_jobs : int or None
        The estimator's ``n_jobs``.
    max_iter : int or None
        The estimator's ``max_iter`` (``None``, its default: 20 epochs in shared mode,
        10 in two-party mode; smoke tests pass fewer).

    Returns
    -------
    FederatedRun
        With ``refused`` set when the engine refuses the configuration.
    """
    from protocols.exceptions import ProtocolError
    from vfl import HeteroLogisticRegression
    from vfl.exceptions import VflError

    model = HeteroLogisticRegression(
        mode=mode,
        class_weight=class_weight,
        backend=backend,
        key_length=key_length,
        allow_weak_key=key_length < 2048,
        n_jobs=n_jobs,
        max_iter=max_iter,
        random_state=0,
    )
    loss = model.settings().loss_name
    started = time.perf_counter()
    try:
        model.fit(data.guest_train, data.y_train, hosts=[data.host_train])
    except (ProtocolError, VflError, ValueError) as error:
        return FederatedRun(
            mode, loss, backend, None, None, None, time.perf_counter() - started, str(error)
        )
    seconds = time.perf_counter() - started
    scores = model.decision_function(data.guest_test, hosts=[data.host_test])
    coefficients = np.concatenate(
        [model.coef_guest_, model.coef_hosts_[0], np.array([model.intercept_])]
    ).astype(np.float64)
    return FederatedRun(
        mode,
        loss,
        backend,
        _auc(data.y_test, np.asarray(scores, dtype=np.float64)),
        int(model.n_iter_),
        str(model.stop_reason_),
        seconds,
        None,
        coefficients,
    )


@dataclass(frozen=True)
class Cell:
    """One data set and ``class_weight``: every model's held-out AUC.

    Attributes
    ----------
    dataset : str
    class_weight : str or None
    sklearn : float
        scikit-learn's logistic regression (the reference).
    least_squares : float
    federated : dict of str to FederatedRun
        By mode (``"shared"``, ``"two-party"``).
    """

    dataset: str
    class_weight: str | None
    sklearn: float
    least_squares: float
    federated: dict[str, FederatedRun]

    def gap(self, mode: str) -> float | None:
        """A federated run's AUC minus scikit-learn's (``None`` if refused)."""
        auc = self.federated[mode].auc
        return None if auc is None else auc - self.sklearn

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the cell."""
        return {
            "dataset": self.dataset,
            "class_weight": self.class_weight,
            "sklearn_logistic_auc": round(self.sklearn, 5),
            "least_squares_auc": round(self.least_squares, 5),
            "least_squares_gap": round(self.least_squares - self.sklearn, 5),
            "federated": {
                mode: {
                    **run.to_json(),
                    "gap_to_sklearn": None
                    if self.gap(mode) is None
                    else round(self.gap(mode) or 0.0, 5),
                }
                for mode, run in self.federated.items()
            },
        }


def evaluate_dataset(data: Dataset, log: Log, *, max_iter: int | None = None) -> list[Cell]:
    """Every model on one data set, for each ``class_weight``.

    Parameters
    ----------
    data : Dataset
    log : callable
        Progress reporter.
    max_iter : int or None
        The estimator's ``max_iter`` (``None``: its default).

    Returns
    -------
    list of Cell
    """
    cells = []
    for class_weight in CLASS_WEIGHTS:
        logistic, least_squares = sklearn_aucs(data, class_weight)
        federated = {}
        for mode in MODES:
            run = federated_run(data, mode, class_weight, max_iter=max_iter)
            federated[mode] = run
            outcome = (
                f"refused ({run.refused})"
                if run.auc is None
                else f"AUC {run.auc:.4f} ({run.auc - logistic:+.4f} vs scikit-learn), "
                f"{run.epochs} epochs ({run.stop_reason}), {run.seconds:.1f} s"
            )
            log(f"{data.name} class_weight={class_weight}: {mode} {run.loss}: {outcome}")
        log(
            f"{data.name} class_weight={class_weight}: scikit-learn {logistic:.4f}, "
            f"least squares {least_squares:.4f}"
        )
        cells.append(Cell(data.name, class_weight, logistic, least_squares, federated))
    return cells


@dataclass(frozen=True)
class PaillierCheck:
    """One shared-mode run on Paillier beside the same run on the plaintext backend."""

    dataset: str
    key_length: int
    paillier: FederatedRun
    plaintext: FederatedRun
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float]

    @property
    def auc_difference(self) -> float:
        """Paillier AUC minus plaintext AUC."""
        return float(self.paillier.auc or math.nan) - float(self.plaintext.auc or math.nan)

    @property
    def coefficient_difference(self) -> float:
        """The largest coefficient difference between the two runs."""
        if self.paillier.coefficients is None or self.plaintext.coefficients is None:
            return math.nan
        return float(np.max(np.abs(self.paillier.coefficients - self.plaintext.coefficients)))

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the check."""
        return {
            "dataset": self.dataset,
            "class_weight": None,
            "key_length": self.key_length,
            "n_jobs": -1,
            "paillier": self.paillier.to_json(),
            "plaintext": self.plaintext.to_json(),
            "auc_difference": round(self.auc_difference, 6),
            "max_coefficient_difference": self.coefficient_difference,
            "auc_tolerance": PAILLIER_AUC_TOLERANCE,
            "load_average_before_1_5_15_min": [round(v, 2) for v in self.load_average_before],
            "load_average_after_1_5_15_min": [round(v, 2) for v in self.load_average_after],
        }


def paillier_check(
    data: Dataset,
    key_length: int,
    plaintext: FederatedRun,
    log: Log,
    *,
    max_iter: int | None = None,
) -> PaillierCheck:
    """Train shared mode with its defaults on Paillier; require the plaintext run's AUC.

    Parameters
    ----------
    data : Dataset
    key_length : int
        Modulus bits (2048 for the reported run).
    plaintext : FederatedRun
        The same configuration on the plaintext backend (``class_weight=None``).
    log : callable
    max_iter : int or None
        The estimator's ``max_iter`` (``None``: its default), as the plaintext run's.

    Returns
    -------
    PaillierCheck

    Raises
    ------
    VerificationError
        If the AUCs differ by more than :data:`PAILLIER_AUC_TOLERANCE`.
    """
    from benchmarks.hetero_lr_cases import load_average
    from benchmarks.verify import VerificationError

    log(f"{data.name}: shared mode on Paillier {key_length}-bit, n_jobs=-1 (every core)")
    before = load_average()
    paillier = federated_run(
        data,
        "shared",
        None,
        backend="paillier",
        key_length=key_length,
        n_jobs=-1,
        max_iter=max_iter,
    )
    check = PaillierCheck(data.name, key_length, paillier, plaintext, before, load_average())
    if paillier.auc is None or not abs(check.auc_difference) <= PAILLIER_AUC_TOLERANCE:
        raise VerificationError(
            f"{data.name}: shared mode on Paillier reached AUC {paillier.auc} "
            f"({paillier.refused or 'trained'}), the plaintext backend {plaintext.auc}: more "
            f"than {PAILLIER_AUC_TOLERANCE} apart"
        )
    log(
        f"{data.name}: Paillier AUC {paillier.auc:.4f} vs plaintext {plaintext.auc:.4f} "
        f"({paillier.epochs} epochs, {paillier.seconds:.0f} s; largest coefficient "
        f"difference {check.coefficient_difference:.2g})"
    )
    return check


# reporting ----------------------------------------------------------------------------------
def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _federated_cell(cell: Cell, mode: str) -> tuple[str, str]:
    run = cell.federated[mode]
    if run.auc is None:
        return "refused", "n/a"
    return f"{run.auc:.4f} ({run.epochs} ep)", _signed(cell.gap(mode))


def markdown_table(
    cells: Sequence[Cell], datasets: dict[str, Dataset], check: PaillierCheck | None
) -> str:
    """The quality table (Markdown) with its notes.

    Parameters
    ----------
    cells : sequence of Cell
    datasets : dict of str to Dataset
        By name, for the row counts and sources.
    check : PaillierCheck or None

    Returns
    -------
    str
    """
    lines = [
        "Held-out AUC (stratified 70/30 split of the id-sorted rows, random_state=0). "
        "Federated columns: vfl.HeteroLogisticRegression with its defaults "
        "(random_state=0), each party standardising its own columns; gap = AUC minus "
        "scikit-learn's.",
        "",
        "| data set | class_weight | scikit-learn LR | shared (logistic) | gap | "
        "two-party (Taylor) | gap | least squares | gap |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        shared, shared_gap = _federated_cell(cell, "shared")
        two_party, two_party_gap = _federated_cell(cell, "two-party")
        lines.append(
            f"| {cell.dataset} | {cell.class_weight or 'None'} | {cell.sklearn:.4f} | "
            f"{shared} | {shared_gap} | {two_party} | {two_party_gap} | "
            f"{cell.least_squares:.4f} | {_signed(cell.least_squares - cell.sklearn)} |"
        )
    lines += ["", "Data:", ""]
    for name, data in datasets.items():
        info = data.describe()
        lines.append(
            f"* {name}: {info['source']}; {info['train_rows']:,} training / "
            f"{info['test_rows']:,} held-out rows, {info['guest_features']} guest + "
            f"{info['host_features']} host features, event rate {info['train_event_rate']:.3f}"
        )
    refusals = [
        f"* {cell.dataset}, class_weight={cell.class_weight}, {mode}: {run.refused}"
        for cell in cells
        for mode, run in cell.federated.items()
        if run.refused
    ]
    if refusals:
        lines += ["", "Refused by the engine:", "", *refusals]
    lines += [
        "",
        f"Federated runs: {PLAINTEXT_NOTE}.  scikit-learn: LogisticRegression(C=1.0, "
        "max_iter=10000) on the pooled features standardised on the training rows; least "
        "squares: LinearRegression on the 0/1 labels (balanced sample weights where "
        "class_weight='balanced'), pooled and standardised alike.  'ep': epochs trained "
        "(shared mode at most 20, two-party at most 10; convergence='loss', tol=1e-4).",
    ]
    if check is not None:
        lines += [
            "",
            f"Paillier check: {check.dataset}, shared mode, class_weight=None, "
            f"{check.key_length}-bit, n_jobs=-1: AUC {check.paillier.auc:.4f} vs "
            f"{check.plaintext.auc:.4f} on the plaintext backend (difference "
            f"{check.auc_difference:+.5f}; largest coefficient difference "
            f"{check.coefficient_difference:.2g}; {check.paillier.epochs} epochs in "
            f"{check.paillier.seconds:.0f} s, load average "
            f"{check.load_average_after[0]:.1f} after).",
        ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``quality`` suite's options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The suite's sub-parser.
    """
    option = parser.add_argument
    option(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        default=list(DATASETS),
        metavar="NAME",
        help="data sets: breast, default_credit, heavy_tail (default: all three)",
    )
    option(
        "--heavy-tail-rows",
        type=int,
        metavar="N",
        help="rows of the heavy-tailed set (default: the generator's, 30000)",
    )
    option(
        "--paillier-dataset",
        choices=[*DATASETS, "none"],
        default="breast",
        help="data set of the one Paillier shared-mode run (breast; none skips it)",
    )
    option(
        "--paillier-key-length",
        type=int,
        default=2048,
        metavar="BITS",
        help="key length of the Paillier run (2048)",
    )
    option(
        "--max-iter",
        type=int,
        metavar="E",
        help="override the estimator's default max_iter (20 in shared mode, 10 in "
        "two-party mode) in every federated run: smoke tests only, the reported table "
        "uses the defaults",
    )
    option(
        "--output",
        type=Path,
        default=Path("benchmarks/results/quality.json"),
        help="the JSON results; the Markdown goes next to it as .md "
        "(benchmarks/results/quality.json)",
    )


def _make_log(start: float) -> Log:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks quality``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (see :func:`add_arguments`) and ``argv``.

    Returns
    -------
    int
        0, or 1 when the Paillier run does not reach the plaintext run's AUC.
    """
    from benchmarks.verify import VerificationError

    output = Path(args.output)
    if output.suffix != ".json":
        raise SystemExit("--output must name a .json file")
    if args.paillier_key_length < 512:
        raise SystemExit("--paillier-key-length must be at least 512 bits")
    max_iter = getattr(args, "max_iter", None)
    if max_iter is not None and max_iter < 1:
        raise SystemExit("--max-iter must be at least 1")
    if args.heavy_tail_rows is not None and args.heavy_tail_rows < 100:
        raise SystemExit("--heavy-tail-rows must be at least 100")
    names = [name for name in DATASETS if name in args.datasets]
    paillier_on = None if args.paillier_dataset == "none" else str(args.paillier_dataset)
    if paillier_on is not None and paillier_on not in names:
        raise SystemExit(f"--paillier-dataset {paillier_on} is not among --datasets")
    start = time.perf_counter()
    log = _make_log(start)
    datasets: dict[str, Dataset] = {}
    cells: list[Cell] = []
    for name in names:
        log(f"{name}: loading, aligning by id, 70/30 split of the id-sorted rows")
        data = load_dataset(name, args.heavy_tail_rows if name == "heavy_tail" else None)
        datasets[name] = data
        cells += evaluate_dataset(data, log, max_iter=max_iter)
    check = None
    if paillier_on is not None:
        plaintext = next(
            c.federated["shared"]
            for c in cells
            if c.dataset == paillier_on and c.class_weight is None
        )
        try:
            check = paillier_check(
                datasets[paillier_on], args.paillier_key_length, plaintext, log, max_iter=max_iter
            )
        except VerificationError as error:
            log(f"FAILED: {error}")
            return 1
    total = time.perf_counter() - start
    function, _ = heavy_tail_generator()
    settings = {
        "datasets": names,
        "heavy_tail_rows": args.heavy_tail_rows,
        "paillier_dataset": paillier_on,
        "paillier_key_length": args.paillier_key_length,
        "max_iter": "the estimator's defaults" if max_iter is None else max_iter,
        "output": str(output),
    }
    meta = {
        **report.build_meta(getattr(args, "argv", []), settings),
        "total_seconds": round(total, 1),
        "backend_note": PLAINTEXT_NOTE,
        "heavy_tail_generator": function
        + ("" if function == "make_heavy_tail_credit" else " (make_heavy_tail_credit missing)"),
    }
    document = {
        "meta": meta,
        "data": {name: data.describe() for name, data in datasets.items()},
        "results": [cell.to_json() for cell in cells],
        "paillier_check": None if check is None else check.to_json(),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    table = markdown_table(cells, datasets, check)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table, end="")
    log(f"measured in {total:.0f} s; wrote {output} and {output.with_suffix('.md')}")
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""The entry of :data:`benchmarks.__main__.SUITES`."""
