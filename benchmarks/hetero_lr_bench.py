"""Hetero LR benchmark: seconds per training epoch, this engine against phe, same run.

Four cases (``--cases``, all by default).  ``shared`` and ``shared_wide`` run shared
mode, the estimator's default (:mod:`benchmarks.hetero_lr_shared`): one default_credit
epoch in shared mode beside the two-party epoch (SGD and Adam) in the same run, and
the wide case in shared mode against FATE 2.0's SSHE-LR.  The original two,
``default_credit`` and ``wide``, are both two-party
:class:`vfl.HeteroLogisticRegression` trained for one epoch
(``max_iter=1``) with Adam at learning rate 0.05 and ``random_state=0``, guest and
host in this process (every message through the wire codec for the ``paillier``
backend):

* ``default_credit`` (13 guest + 10 host features), rows aligned by id and split 70/30
  (stratified, ``random_state=0``), ``batch_size=1024``, ``class_weight="balanced"``,
  on the training rows, at each key length: backend ``paillier`` with ``n_jobs=-1`` (every core, the
  engine's default deployment) and ``n_jobs=1``, and backend ``phe`` (python-paillier
  doing the same protocol value by value, single-threaded by nature).  All three
  must end with the same model (the protocol's arithmetic is exact; the masks
  cancel), or the run stops with a :class:`~benchmarks.verify.VerificationError`.
  The ``paillier`` epochs are repeated (``--repeats``, 3) and reported by their
  median, since other work on the machine can slow one run; the long ``phe`` epoch
  runs once.  The held-out AUC after the epoch is a sanity number.
* a wide synthetic case, 30 guest + 300 host standard-normal features (default
  100,000 rows; ``--wide-guest-features``, ``--wide-host-features``), 2048 bits,
  backend ``paillier`` with ``n_jobs=-1``, with the smallest batch the
  label-information bound allows for its data (``--wide-batch-size`` overrides it),
  reported as sample-features per core-second beside FATE 2.0's published figure.

**The label-information bound** (SECURITY.md §11, :mod:`protocols.hetero_lr.leakage`,
since commit 4ae3a0b): in two-party mode a host's exact gradient may carry at most
half of a batch's label bits, ``B H(p) >= 2 f_h (b_h + log2(pi e B / 2) / 2)``, so
batches must grow with the host's width ``f_h``.  default_credit's 10 host features
need about 650 rows (batch 1024 passes on the full data; a ``--rows`` subsample
smaller than the minimum is refused before anything runs, the batch is never changed
silently).  The wide case's 300 host features need about 16,000 rows: its former
batch of 1024 is refused by the engine, so it now trains with the smallest batch the
bound allows, computed from the standardised host features and the labels' event
rate (:func:`~benchmarks.hetero_lr_cases.label_bound`); the JSON and the table
record the batch and why.  FATE 2.0's published SSHE/coordinated runs used batches
below this bound.

Each epoch is timed from ``fit`` to its return: both parties' key generation and the
per-key fixed-base tables are included; the process pools are started before the
first timed run (a deployment keeps them for the job).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import hetero_lr_shared, report
from benchmarks.hetero_lr_cases import (
    TRAINING,
    EpochRun,
    LabelBound,
    Split,
    default_credit_split,
    estimate_phe_seconds,
    label_bound,
    median_run,
    run_epoch,
    smallest_batch,
    wide_data,
    wide_label_bound,
)
from benchmarks.hetero_lr_shared import (
    SharedComparison,
    SharedWideResult,
    bench_shared_default_credit,
    bench_shared_wide,
)
from benchmarks.verify import VerificationError, check_close

__all__ = [
    "CASES",
    "DESCRIPTION",
    "FATE",
    "SUITE",
    "KeyLengthResult",
    "LabelBoundError",
    "Settings",
    "WideBatch",
    "WideResult",
    "add_arguments",
    "bench_default_credit",
    "bench_wide",
    "check_default_credit_rows",
    "choose_wide_batch",
    "main",
    "markdown_table",
    "plot_results",
    "run",
]

DESCRIPTION = (
    "hetero LR: seconds per epoch, this engine vs phe (default_credit, wide) and shared "
    "mode vs two-party mode and FATE SSHE-LR"
)
CASES = ("default_credit", "wide", "shared", "shared_wide")
"""``--cases``: the two-party cases against phe and FATE, then the shared-mode cases."""

Log = Callable[[str], None]

WIDE_GUEST_FEATURES = 30
WIDE_HOST_FEATURES = 300
FATE: dict[str, Any] = {
    "source": "FATE 2.0 published hetero LR benchmark (design brief)",
    "rows": 100_000,
    "guest_features": 30,
    "host_features": 300,
    "seconds_per_epoch": 136.0,
    "machines": 2,
    "cores_per_machine": 16,
    "cores": 32,
    "batch_sizes": "FATE's SSHE and coordinated hetero LR runs used batch sizes below the "
    "label-information bound for 300 host features (about 16,000 rows for standardised "
    "features and balanced labels), which this engine refuses",
}
FATE["sample_features_per_core_second"] = round(
    FATE["rows"] * (FATE["guest_features"] + FATE["host_features"]) / (136.0 * 32), 1
)
"""FATE 2.0: 100k rows x (30 + 300) features, 2 min 16 s per epoch on 2 x 16 cores."""

COEFFICIENT_TOLERANCE = 1e-9
"""Backends and ``n_jobs`` settings must train the same model (exact arithmetic)."""


@dataclass(frozen=True)
class Settings:
    """Resolved options of one benchmark run."""

    key_lengths: tuple[int, ...]
    rows: int | None
    wide_rows: int
    wide_key_length: int
    repeats: int
    output: Path
    wide_guest_features: int = WIDE_GUEST_FEATURES
    wide_host_features: int = WIDE_HOST_FEATURES
    wide_batch_size: int | None = None
    cases: tuple[str, ...] = CASES
    shared_key_length: int = 2048

    @property
    def png(self) -> Path:
        """The plot, next to the JSON file."""
        return self.output.with_suffix(".png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hetero_lr`` suite's options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The suite's sub-parser.
    """
    option = parser.add_argument
    option(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        metavar="CASE",
        help="cases to run, in this order: default_credit (two-party vs phe), wide "
        "(two-party vs FATE), shared (default_credit: shared vs two-party, same run), "
        "shared_wide (shared mode vs FATE SSHE-LR); default: all",
    )
    option(
        "--shared-key-length",
        type=int,
        default=2048,
        metavar="BITS",
        help="key length of the shared case on default_credit (2048)",
    )
    option(
        "--rows",
        type=int,
        metavar="N",
        help="default_credit training rows (a stratified subsample; default: all 21000)",
    )
    option(
        "--wide-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="rows of the wide cases (100000; 0 skips them); the two-party one needs at "
        "least the smallest batch the label-information bound allows for its host width, "
        "the shared one has no bound (fewer rows: a quick check of the per-row rate)",
    )
    option(
        "--wide-guest-features",
        type=int,
        default=WIDE_GUEST_FEATURES,
        metavar="F",
        help=f"guest features of the wide case ({WIDE_GUEST_FEATURES})",
    )
    option(
        "--wide-host-features",
        type=int,
        default=WIDE_HOST_FEATURES,
        metavar="F",
        help=f"host features of the wide case ({WIDE_HOST_FEATURES})",
    )
    option(
        "--wide-batch-size",
        type=int,
        metavar="B",
        help="batch_size of the wide case (default: the smallest the label-information "
        "bound allows for its data); a batch below the bound is refused",
    )
    option(
        "--key-lengths",
        type=int,
        nargs="+",
        default=[1024, 2048],
        metavar="BITS",
        help="key lengths of the default_credit case (1024 2048)",
    )
    option(
        "--wide-key-length",
        type=int,
        default=2048,
        metavar="BITS",
        help="key length of the wide case (2048)",
    )
    option(
        "--repeats",
        type=int,
        default=3,
        metavar="R",
        help="runs of each default_credit paillier epoch, the median reported (3); phe and "
        "the wide case run once",
    )
    option(
        "--output",
        type=Path,
        default=Path("benchmarks/results/hetero_lr.json"),
        help="the JSON results; the PNG goes next to it (benchmarks/results/hetero_lr.json)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings(
        key_lengths=tuple(int(bits) for bits in args.key_lengths),
        rows=None if args.rows is None else int(args.rows),
        wide_rows=int(args.wide_rows),
        wide_key_length=int(args.wide_key_length),
        repeats=int(args.repeats),
        output=Path(args.output),
        wide_guest_features=int(args.wide_guest_features),
        wide_host_features=int(args.wide_host_features),
        wide_batch_size=None if args.wide_batch_size is None else int(args.wide_batch_size),
        cases=tuple(case for case in CASES if case in getattr(args, "cases", CASES)),
        shared_key_length=int(getattr(args, "shared_key_length", 2048)),
    )
    if settings.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    if settings.rows is not None and settings.rows < 100:
        raise SystemExit("--rows must be at least 100")
    if settings.wide_rows < 0:
        raise SystemExit("--wide-rows must be 0 (skip) or positive")
    if min(settings.wide_guest_features, settings.wide_host_features) < 1:
        raise SystemExit("--wide-guest-features and --wide-host-features must be at least 1")
    if settings.wide_batch_size is not None and settings.wide_batch_size < 1:
        raise SystemExit("--wide-batch-size must be at least 1")
    if min([*settings.key_lengths, settings.wide_key_length, settings.shared_key_length]) < 512:
        raise SystemExit("key lengths must be at least 512 bits")
    if len(set(settings.key_lengths)) != len(settings.key_lengths):
        raise SystemExit("--key-lengths must not repeat a length")
    if settings.output.suffix != ".json":
        raise SystemExit("--output must name a .json file")
    return settings


def _make_log(start: float) -> Log:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def _cores() -> int:
    return os.cpu_count() or 1


# the label-information bound --------------------------------------------------------------
class LabelBoundError(ValueError):
    """A case's rows or batch size break the label-information bound (SECURITY.md §11).

    The engine would refuse to train; the benchmark refuses before anything runs
    (:func:`main` turns it into an exit with the message).
    """


@dataclass(frozen=True)
class WideBatch:
    """The wide case's batch size and why.

    Attributes
    ----------
    batch_size : int
    reason : str
        Why this size (recorded in the JSON and the table).
    bound : LabelBound
        The bound of the wide case's host.
    """

    batch_size: int
    reason: str
    bound: LabelBound


def check_default_credit_rows(bound: LabelBound, rows: int) -> None:
    """Refuse default_credit training rows whose batches of 1024 would break the bound.

    Parameters
    ----------
    bound : LabelBound
        The bound of default_credit's host on the training rows.
    rows : int
        Training rows.

    Raises
    ------
    LabelBoundError
        Naming the minimum (the batch size is never changed silently).
    """
    batch = int(TRAINING["batch_size"])
    if bound.allows(rows, batch):
        return
    raise LabelBoundError(
        f"--rows {rows}: default_credit's {rows:,} training rows make batches of "
        f"{smallest_batch(rows, batch):,} rows (batch_size {batch}), below the "
        f"{bound.minimum_batch:,} rows the label-information bound (SECURITY.md §11) needs "
        f"for its {bound.describe()}: the host's exact gradient could reveal the labels "
        f"and the engine refuses to train; use --rows {bound.minimum_batch} or more"
    )


def choose_wide_batch(
    bound: LabelBound, rows: int, guest_features: int, requested: int | None = None
) -> WideBatch:
    """The wide case's batch size: the smallest the label-information bound allows.

    Parameters
    ----------
    bound : LabelBound
        The bound of the wide case's host (:func:`label_bound` of its data).
    rows : int
        The wide case's rows.
    guest_features : int
        The guest's features (its own rule wants more rows per batch than its
        gradient columns, the intercept included).
    requested : int, optional
        ``--wide-batch-size``: used as given if the bound allows it.

    Returns
    -------
    WideBatch

    Raises
    ------
    LabelBoundError
        If ``rows`` cannot make one batch the bound allows, or ``requested`` makes
        smaller batches than it allows.
    """
    minimum = max(bound.minimum_batch, guest_features + 2)
    if rows < minimum:
        raise LabelBoundError(
            f"--wide-rows {rows} is too small for {guest_features} + {bound.host_features} "
            f"features: the label-information bound (SECURITY.md §11) needs batches of at "
            f"least {bound.minimum_batch:,} rows for {bound.describe()} (a host's exact "
            f"gradient may carry at most half of a batch's label bits); use --wide-rows "
            f"{minimum} or more, or fewer --wide-host-features"
        )
    if requested is not None:
        smallest = smallest_batch(rows, requested)
        if smallest < minimum:
            raise LabelBoundError(
                f"--wide-batch-size {requested} makes batches of {smallest:,} rows, below "
                f"the {minimum:,} rows the label-information bound (SECURITY.md §11) needs for "
                f"{bound.describe()}; use --wide-batch-size {minimum} or more, or leave it out"
            )
        reason = (
            f"given by --wide-batch-size; the label-information bound of SECURITY.md §11 "
            f"allows {minimum:,} or more for {bound.describe()}"
        )
        return WideBatch(requested, reason, bound)
    if minimum > bound.minimum_batch:
        reason = (
            f"the smallest with more rows than the guest's {guest_features + 1} gradient "
            f"columns (the label-information bound allows {bound.minimum_batch:,})"
        )
    else:
        reason = (
            "the smallest batch the label-information bound of SECURITY.md §11 allows for "
            f"{bound.describe()}"
        )
    return WideBatch(minimum, reason, bound)


# results ----------------------------------------------------------------------------------
def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class KeyLengthResult:
    """The default_credit epoch at one key length, on each backend.

    Attributes
    ----------
    key_length : int
    paillier : EpochRun
        This engine, ``n_jobs=-1``.
    paillier_1core : EpochRun
        This engine, ``n_jobs=1``.
    phe : EpochRun
        python-paillier, value by value.
    """

    key_length: int
    paillier: EpochRun
    paillier_1core: EpochRun
    phe: EpochRun

    @property
    def ratio(self) -> float | None:
        """phe seconds over this engine's (every core)."""
        return _ratio(self.phe.seconds, self.paillier.seconds)

    @property
    def ratio_1core(self) -> float | None:
        """phe seconds over this engine's on one core."""
        return _ratio(self.phe.seconds, self.paillier_1core.seconds)

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this key length."""
        return {
            "paillier": {**self.paillier.to_json(), "cores": _cores()},
            "paillier_1core": {**self.paillier_1core.to_json(), "cores": 1},
            "phe": {**self.phe.to_json(), "cores": 1},
            "ratio_phe_over_paillier": _rounded(self.ratio, 2),
            "ratio_phe_over_paillier_1core": _rounded(self.ratio_1core, 2),
            "speedup_paillier_all_cores_over_1core": _rounded(
                _ratio(self.paillier_1core.seconds, self.paillier.seconds), 2
            ),
            "same_model": True,
        }


@dataclass(frozen=True)
class WideResult:
    """The wide synthetic epoch.

    Attributes
    ----------
    run : EpochRun
        This engine, ``n_jobs=-1``.
    guest_features, host_features : int
    cores : int
        ``os.cpu_count()``: the cores ``n_jobs=-1`` uses.
    batch : WideBatch
        The batch size trained with, why, and the label-information bound.
    """

    run: EpochRun
    guest_features: int
    host_features: int
    cores: int
    batch: WideBatch

    @property
    def sample_features(self) -> int:
        """Rows times every party's features."""
        return self.run.rows * (self.guest_features + self.host_features)

    @property
    def per_core_second(self) -> float:
        """Sample-features per core-second."""
        return self.sample_features / (self.run.seconds * self.cores)

    @property
    def versus_fate(self) -> float:
        """Our sample-features per core-second over FATE's."""
        return self.per_core_second / float(FATE["sample_features_per_core_second"])

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the wide case."""
        return {
            "parameters": {
                **TRAINING,
                "batch_size": self.run.batch_size,
                "class_weight": None,
                "backend": self.run.backend,
                "n_jobs": self.run.n_jobs,
                "key_length": self.run.key_length,
            },
            "rows": self.run.rows,
            "guest_features": self.guest_features,
            "host_features": self.host_features,
            "batch_size": self.run.batch_size,
            "batch_size_chosen_by": self.batch.reason,
            "batches_per_epoch": max(1, self.run.rows // self.run.batch_size),
            "smallest_batch_rows": smallest_batch(self.run.rows, self.run.batch_size),
            "label_information_bound": self.batch.bound.to_json(),
            "data": "standard-normal features, labels from a logistic model with random "
            "weights (numpy default_rng(0))",
            "seconds": round(self.run.seconds, 3),
            "other_processes_cpu_seconds": _rounded(self.run.other_cpu, 2),
            "cores_used": self.cores,
            "sample_features_per_core_second": round(self.per_core_second, 1),
            "training_auc": _rounded(self.run.auc, 5),
            "fate": dict(FATE),
            "ratio_vs_fate_per_core": round(self.versus_fate, 3),
        }


# the cases --------------------------------------------------------------------------------
def _same_model(reference: EpochRun, other: EpochRun, label: str) -> None:
    check_close(
        f"{label}: {other.backend} n_jobs={other.n_jobs} vs {reference.backend} "
        f"n_jobs={reference.n_jobs} model",
        other.coefficients,
        reference.coefficients,
        atol=COEFFICIENT_TOLERANCE,
    )


def bench_default_credit(
    split: Split, key_length: int, log: Log, *, repeats: int = 1
) -> KeyLengthResult:
    """Time one default_credit epoch at ``key_length`` on each backend.

    The ``paillier`` epochs (``n_jobs=-1`` and ``n_jobs=1``, alternately) are run
    ``repeats`` times and reported by their median; the long ``phe`` epoch once.

    Parameters
    ----------
    split : Split
        The aligned, split data (training rows trained on, held-out rows evaluated).
    key_length : int
        Modulus bits of each party's key.
    log : callable
        Progress reporter.
    repeats : int, default 1
        Runs of each ``paillier`` configuration.

    Returns
    -------
    KeyLengthResult

    Raises
    ------
    VerificationError
        If the backends, ``n_jobs`` settings or repetitions do not train the same model.
    """
    held_out = (split.guest_test, split.host_test, split.y_test)
    data = (split.guest_train, split.host_train, split.y_train)
    name = f"default_credit {key_length}-bit"

    def epoch(backend: str, n_jobs: int, label: str, expected: float | None) -> EpochRun:
        gc.collect()
        return run_epoch(
            *data,
            backend=backend,
            n_jobs=n_jobs,
            key_length=key_length,
            class_weight="balanced",
            log=log,
            label=f"{name} {label}",
            expected=expected,
            evaluation=held_out,
        )

    ours: dict[int, list[EpochRun]] = {-1: [], 1: []}
    for repeat in range(1, repeats + 1):
        suffix = f" (run {repeat} of {repeats})" if repeats > 1 else ""
        for n_jobs in ours:
            cores = f" ({_cores()} cores)" if n_jobs == -1 else ""
            ours[n_jobs].append(
                epoch("paillier", n_jobs, f"paillier n_jobs={n_jobs}{cores}{suffix}", None)
            )
    expected = estimate_phe_seconds(
        key_length,
        split.rows,
        split.guest_train.shape[1],
        split.host_train.shape[1],
        weighted=True,
    )
    phe = epoch("phe", 1, "phe", expected)
    reference = ours[-1][0]
    for other in [*ours[-1][1:], *ours[1], phe]:
        _same_model(reference, other, name)
    result = KeyLengthResult(key_length, median_run(ours[-1]), median_run(ours[1]), phe)
    log(
        f"{name}: phe / paillier = {result.ratio:.1f}x ({_cores()} cores), "
        f"{result.ratio_1core:.1f}x (1 core); same model on every backend"
    )
    return result


def bench_wide(
    rows: int,
    key_length: int,
    log: Log,
    *,
    guest_features: int = WIDE_GUEST_FEATURES,
    host_features: int = WIDE_HOST_FEATURES,
    batch_size: int | None = None,
) -> WideResult:
    """Time one epoch of the wide synthetic case on this engine (``n_jobs=-1``).

    The batch size is the smallest the label-information bound allows for the
    generated data (:func:`choose_wide_batch`), unless ``batch_size`` is given.

    Parameters
    ----------
    rows : int
        Rows (at least the bound's minimum batch).
    key_length : int
        Modulus bits.
    log : callable
        Progress reporter.
    guest_features, host_features : int
        Columns of each party (30 and 300).
    batch_size : int, optional
        Train with this batch size (refused if below the bound).

    Returns
    -------
    WideResult

    Raises
    ------
    LabelBoundError
        If the rows or ``batch_size`` break the label-information bound.
    """
    log(f"wide case: generating {rows:,} rows x ({guest_features} + {host_features}) features")
    guest_x, host_x, labels = wide_data(rows, guest_features, host_features, seed=0)
    batch = choose_wide_batch(label_bound(host_x, labels), rows, guest_features, batch_size)
    log(f"wide case: batch_size {batch.batch_size:,} ({batch.reason})")
    gc.collect()
    run_ = run_epoch(
        guest_x,
        host_x,
        labels,
        backend="paillier",
        n_jobs=-1,
        key_length=key_length,
        class_weight=None,
        log=log,
        label=f"wide {rows:,} x ({guest_features}+{host_features}) {key_length}-bit paillier "
        f"n_jobs=-1 batch {batch.batch_size:,}",
        batch_size=batch.batch_size,
    )
    result = WideResult(run_, guest_features, host_features, _cores(), batch)
    log(
        f"wide case: {result.per_core_second:,.0f} sample-features per core-second "
        f"(FATE 2.0: {FATE['sample_features_per_core_second']:,.0f}; "
        f"{result.versus_fate:.2f}x)"
    )
    return result


def warm_up_pools() -> None:
    """Start the shared process and thread pools (untimed), as a running job has them."""
    from crypto.paillier import generate_paillier_keypair

    public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    values = np.linspace(-1.0, 1.0, 4096)
    encrypted = public_key.encrypt_vector(values, n_jobs=-1)
    product = encrypted.matmul(np.ones((2, len(values))), n_jobs=-1)
    private_key.decrypt_vector(product, n_jobs=-1)


@dataclass(frozen=True)
class Results:
    """Everything one run measured."""

    split: Split
    key_lengths: list[KeyLengthResult]
    wide: WideResult | None
    credit_bound: LabelBound | None = None
    shared: SharedComparison | None = None
    shared_wide: SharedWideResult | None = None


def run(settings: Settings, log: Log) -> Results:
    """Run the chosen cases: default_credit at each key length, the wide case, then shared mode.

    Both cases are first checked against the label-information bound, so that a size
    the engine would refuse stops the run before anything is timed.

    Parameters
    ----------
    settings : Settings
        Resolved options.
    log : callable
        Progress reporter.

    Returns
    -------
    Results

    Raises
    ------
    LabelBoundError
        If ``--rows``, ``--wide-rows`` or ``--wide-batch-size`` break the bound.
    """
    log("default_credit: aligning guest and host by id, stratified 70/30 split")
    split = default_credit_split(settings.rows)
    log(
        f"default_credit: {split.rows:,} training rows "
        f"({split.guest_train.shape[1]} guest + {split.host_train.shape[1]} host features), "
        f"{len(split.y_test):,} held-out rows"
    )
    cases = settings.cases
    credit_bound = label_bound(split.host_train, split.y_train)
    if "default_credit" in cases or "shared" in cases:  # both train two-party on it
        check_default_credit_rows(credit_bound, split.rows)
    log(
        f"default_credit: the label-information bound needs batches of at least "
        f"{credit_bound.minimum_batch:,} rows ({credit_bound.describe()}); batch_size "
        f"{TRAINING['batch_size']} makes batches of "
        f"{smallest_batch(split.rows, int(TRAINING['batch_size'])):,}"
    )
    if settings.wide_rows and "wide" in cases:
        log("wide case: checking its size against the label-information bound")
        wide_batch = choose_wide_batch(
            wide_label_bound(
                settings.wide_rows, settings.wide_guest_features, settings.wide_host_features
            ),
            settings.wide_rows,
            settings.wide_guest_features,
            settings.wide_batch_size,
        )
        log(f"wide case: batch_size {wide_batch.batch_size:,} ({wide_batch.reason})")
    log("starting the process pools (untimed)")
    warm_up_pools()
    per_key = [
        bench_default_credit(split, bits, log, repeats=settings.repeats)
        for bits in (settings.key_lengths if "default_credit" in cases else ())
    ]
    wide = None
    if settings.wide_rows and "wide" in cases:
        wide = bench_wide(
            settings.wide_rows,
            settings.wide_key_length,
            log,
            guest_features=settings.wide_guest_features,
            host_features=settings.wide_host_features,
            batch_size=settings.wide_batch_size,
        )
    shared = None
    if "shared" in cases:
        shared = bench_shared_default_credit(
            split, settings.shared_key_length, log, repeats=settings.repeats
        )
    shared_wide = None
    if settings.wide_rows and "shared_wide" in cases:
        shared_wide = bench_shared_wide(
            settings.wide_rows,
            settings.wide_key_length,
            log,
            guest_features=settings.wide_guest_features,
            host_features=settings.wide_host_features,
        )
    return Results(
        split=split,
        key_lengths=per_key,
        wide=wide,
        credit_bound=credit_bound,
        shared=shared,
        shared_wide=shared_wide,
    )


# reporting --------------------------------------------------------------------------------
def summarize(results: Results) -> dict[str, Any]:
    """The JSON ``results`` part: default_credit per key length and the wide case."""
    split = results.split
    by_bits = {str(r.key_length): r.to_json() for r in results.key_lengths}
    headline = max(results.key_lengths, key=lambda r: r.key_length, default=None)
    return {
        "default_credit": {
            "parameters": {
                **TRAINING,
                "class_weight": "balanced",
                "backends": {
                    "paillier": f"this engine, n_jobs=-1 ({_cores()} cores) and n_jobs=1",
                    "phe": "python-paillier, value by value, single-threaded",
                },
            },
            "data": {
                "split": "ids aligned; train_test_split(test_size=0.3, stratify=y, random_state=0)",
                "train_rows": split.rows,
                "test_rows": len(split.y_test),
                "guest_features": split.guest_train.shape[1],
                "host_features": split.host_train.shape[1],
                "train_positive_rate": round(float(split.y_train.mean()), 4),
            },
            "label_information_bound": None
            if results.credit_bound is None
            else results.credit_bound.to_json(),
            "key_lengths": by_bits,
            "heldout_auc": None
            if headline is None
            else {
                "key_length": headline.key_length,
                "backend": "paillier",
                "n_jobs": -1,
                "auc": _rounded(headline.paillier.auc, 5),
            },
        },
        "wide": None if results.wide is None else results.wide.to_json(),
        "shared_vs_two_party": None if results.shared is None else results.shared.to_json(),
        "shared_wide": None if results.shared_wide is None else results.shared_wide.to_json(),
    }


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value:,.0f} s ({value / 60:.1f} min)"
    return f"{value:.2f} s"


def _short(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:,.0f} s"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def markdown_table(results: Results) -> str:
    """Markdown tables: default_credit per key length, the wide case, then shared mode.

    Parameters
    ----------
    results : Results

    Returns
    -------
    str
    """
    cores = _cores()
    bound = results.credit_bound
    needs = (
        ""
        if bound is None
        else f"; the label-information bound needs batches of {bound.minimum_batch:,}+ rows"
    )
    lines: list[str] = []
    if results.key_lengths:
        lines += _credit_lines(results, cores, needs)
    wide = results.wide
    if wide is not None:
        lines += _wide_lines(wide, blank=bool(lines))
    shared = hetero_lr_shared.markdown_lines(
        results.shared, results.shared_wide, results.split.rows
    )
    if shared:
        lines += ([""] if lines else []) + shared
    return "\n".join(lines) + "\n"


def _credit_lines(results: Results, cores: int, needs: str) -> list[str]:
    lines = [
        f"default_credit, {results.split.rows:,} training rows, one epoch "
        f"(batch {TRAINING['batch_size']}, Adam, class_weight='balanced'{needs}):",
        "",
        f"| key | paillier n_jobs=-1 ({cores} cores) | paillier n_jobs=1 | phe | "
        f"phe / paillier ({cores} cores) | phe / paillier (1 core) | held-out AUC |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.key_lengths:
        auc = "n/a" if r.paillier.auc is None else f"{r.paillier.auc:.4f}"
        lines.append(
            f"| {r.key_length} | {_seconds(r.paillier.seconds)} | "
            f"{_seconds(r.paillier_1core.seconds)} | {_seconds(r.phe.seconds)} | "
            f"{_times(r.ratio)} | {_times(r.ratio_1core)} | {auc} |"
        )
    repeats = max((len(r.paillier.seconds_each) for r in results.key_lengths), default=1)
    if repeats > 1:
        lines += ["", f"paillier columns: median of {repeats} runs; phe: one run."]
    return lines


def _wide_lines(wide: WideResult, *, blank: bool) -> list[str]:
    return [
        *([""] if blank else []),
        f"wide: {wide.run.rows:,} rows x ({wide.guest_features} + {wide.host_features}) "
        f"features, {wide.run.key_length}-bit, paillier n_jobs=-1, one epoch, batch_size "
        f"{wide.run.batch_size:,} ({wide.batch.reason}):",
        "",
        "| system | batch size | seconds per epoch | cores | sample-features per core-second |",
        "|---|---:|---:|---:|---:|",
        f"| this engine | {wide.run.batch_size:,} | {_seconds(wide.run.seconds)} | "
        f"{wide.cores} | {wide.per_core_second:,.0f} |",
        f"| FATE 2.0 (published, 100,000 rows) | below the bound | "
        f"{_seconds(FATE['seconds_per_epoch'])} | {FATE['cores']} | "
        f"{FATE['sample_features_per_core_second']:,.0f} |",
        "",
        "FATE 2.0's published SSHE/coordinated runs used batch sizes below the "
        "label-information bound (SECURITY.md §11), which this engine refuses.",
    ]


def plot_results(results: Results, path: Path) -> None:
    """Bar charts, one panel per case that ran: seconds per epoch or rates against FATE.

    default_credit: seconds per epoch (log scale) per backend, ratios annotated; the
    wide case: sample-features per core-second beside FATE 2.0; shared mode: seconds
    per epoch beside the two-party ones, and the shared wide rate beside FATE 2.0
    SSHE-LR.  Nothing is written when no case ran.

    Parameters
    ----------
    results : Results
    path : Path
        The PNG file to write (parent directories are created).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawers: list[Callable[[Any], None]] = []
    if results.key_lengths:
        drawers.append(lambda axis: _plot_credit(results, axis))
    wide = results.wide
    if wide is not None:
        drawers.append(lambda axis: _plot_wide(wide, axis))
    shared = results.shared
    if shared is not None:
        drawers.append(lambda axis: _plot_shared(shared, results.split.rows, axis))
    shared_wide = results.shared_wide
    if shared_wide is not None:
        drawers.append(lambda axis: _plot_shared_wide(shared_wide, axis))
    if not drawers:
        return
    figure = Figure(figsize=(7.5 * len(drawers), 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(drawers), squeeze=False)[0]
    for draw, axis in zip(drawers, axes, strict=True):
        draw(axis)
    figure.suptitle("Hetero logistic regression: seconds per training epoch")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def _plot_credit(results: Results, epochs: Any) -> None:
    cores = _cores()
    series = [
        (f"paillier n_jobs=-1 ({cores} cores)", "paillier", "tab:blue"),
        ("paillier n_jobs=1", "paillier_1core", "tab:cyan"),
        ("phe (1 core)", "phe", "dimgray"),
    ]
    ordered = sorted(results.key_lengths, key=lambda r: r.key_length)
    positions = np.arange(len(ordered))
    width = 0.27
    for offset, (label, attribute, color) in enumerate(series):
        seconds = [getattr(r, attribute).seconds for r in ordered]
        xs = positions + (offset - 1) * width
        bars = epochs.bar(xs, seconds, width, label=label, color=color)
        epochs.bar_label(bars, labels=[_short(s) for s in seconds], fontsize=8, padding=2)
    for x, r in zip(positions, ordered, strict=True):
        epochs.annotate(
            f"phe / paillier: {_times(r.ratio)} ({cores} cores), {_times(r.ratio_1core)} (1 core)",
            (x, r.phe.seconds),
            textcoords="offset points",
            xytext=(0, 16),
            ha="center",
            fontsize=8,
            fontweight="bold",
        )
    epochs.set_yscale("log")
    epochs.set_xticks(positions, [f"{r.key_length}-bit" for r in ordered])
    if ordered:
        low = min(r.paillier.seconds for r in ordered)
        high = max(r.phe.seconds for r in ordered)
        epochs.set_ylim(low / 3, high * 8)
    epochs.set_ylabel("seconds per epoch (log scale, lower is better)")
    epochs.set_title(f"default_credit, {results.split.rows:,} training rows, one epoch")
    epochs.grid(True, axis="y", which="major", alpha=0.3)
    epochs.legend(fontsize=8, loc="upper left")


def _plot_wide(wide: WideResult, axis: Any) -> None:
    names = [
        f"this engine\n{wide.cores} cores, batch {wide.run.batch_size:,}",
        f"FATE 2.0 (published)\n{FATE['cores']} cores, batches below the bound",
    ]
    rates = [wide.per_core_second, float(FATE["sample_features_per_core_second"])]
    bars = axis.bar(names, rates, 0.5, color=["tab:blue", "dimgray"])
    axis.bar_label(
        bars,
        labels=[
            f"{rates[0]:,.0f}\n({_short(wide.run.seconds)}, {wide.run.rows:,} rows)",
            f"{rates[1]:,.0f}\n({FATE['seconds_per_epoch']:.0f} s, {FATE['rows']:,} rows)",
        ],
        fontsize=8,
        padding=2,
    )
    axis.set_ylim(0, max(rates) * 1.3)
    axis.set_ylabel("sample-features per core-second (higher is better)")
    axis.set_title(
        f"wide: {wide.guest_features} + {wide.host_features} features, "
        f"{wide.run.key_length}-bit, batch {wide.run.batch_size:,}, one epoch "
        f"({wide.versus_fate:.2f}x FATE per core)"
    )
    axis.grid(True, axis="y", which="major", alpha=0.3)


def _plot_shared(shared: SharedComparison, rows: int, axis: Any) -> None:
    runs = [shared.shared, shared.two_party_sgd, shared.two_party_adam]
    names = ["shared\nsgd, logistic", "two-party\nsgd, taylor", "two-party\nadam, taylor"]
    seconds = [run.seconds for run in runs]
    bars = axis.bar(names, seconds, 0.5, color=["tab:purple", "tab:blue", "tab:cyan"])
    axis.bar_label(bars, labels=[_short(t) for t in seconds], fontsize=8, padding=2)
    axis.set_ylim(0, max(seconds) * 1.3)
    axis.set_ylabel("seconds per epoch (lower is better)")
    axis.set_title(
        f"default_credit, {rows:,} rows, {shared.key_length}-bit, {_cores()} cores: shared / "
        f"two-party = {shared.ratio:.2f}x (sgd), {shared.ratio_adam:.2f}x (adam)"
    )
    axis.grid(True, axis="y", which="major", alpha=0.3)


def _plot_shared_wide(wide: SharedWideResult, axis: Any) -> None:
    fate = hetero_lr_shared.FATE_SSHE
    names = [
        f"this engine, shared\n{wide.cores} cores, batch {wide.run.batch_size:,}",
        f"FATE 2.0 SSHE-LR (published)\n{fate['cores']} cores",
    ]
    rates = [wide.per_core_second, float(fate["sample_features_per_core_second"])]
    bars = axis.bar(names, rates, 0.5, color=["tab:purple", "dimgray"])
    axis.bar_label(
        bars,
        labels=[
            f"{rates[0]:,.0f}\n({_short(wide.run.seconds)}, {wide.run.rows:,} rows)",
            f"{rates[1]:,.0f}\n({fate['seconds_per_epoch']:.0f} s, {fate['rows']:,} rows)",
        ],
        fontsize=8,
        padding=2,
    )
    axis.set_ylim(0, max(rates) * 1.3)
    axis.set_ylabel("sample-features per core-second (higher is better)")
    axis.set_title(
        f"shared wide: {wide.guest_features} + {wide.host_features} features, "
        f"{wide.run.key_length}-bit ({wide.versus_fate:.2f}x FATE SSHE-LR per core)"
    )
    axis.grid(True, axis="y", which="major", alpha=0.3)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks hetero_lr``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (see :func:`add_arguments`) and ``argv``.

    Returns
    -------
    int
        Exit status: 0, or 1 when the backends do not train the same model.

    Raises
    ------
    SystemExit
        With the message, when an option is invalid or a case's size breaks the
        label-information bound (before anything is timed).
    """
    settings = _settings(args)
    start = time.perf_counter()
    log = _make_log(start)
    log(f"hetero_lr benchmark ({_cores()} cores): {settings}")
    try:
        results = run(settings, log)
    except VerificationError as error:
        log(f"FAILED: {error}")
        return 1
    except LabelBoundError as error:
        raise SystemExit(f"refused: {error}") from None
    total = time.perf_counter() - start

    recorded = {**asdict(settings), "output": str(settings.output)}
    meta = {
        **report.build_meta(getattr(args, "argv", []), recorded),
        "timing": "wall time of fit() with max_iter=1: both parties' key generation, "
        "per-key tables, the protocol and the codec; process pools started before timing; "
        "garbage collector on; other_processes_cpu_seconds: CPU time other processes on the "
        "machine took during the epoch (/proc/stat busy time minus this process group's)",
        "total_seconds": round(total, 1),
    }
    document = {"meta": meta, "results": summarize(results)}
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(
        json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    plot_results(results, settings.png)
    print(markdown_table(results), end="")
    log(f"measured in {total:.0f} s; wrote {settings.output} and {settings.png}")
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""The entry of :data:`benchmarks.__main__.SUITES`."""
