"""The data and the timed epochs of the hetero LR benchmark.

* :func:`default_credit_split`: the built-in ``default_credit`` data set, guest and
  host rows aligned by id (no PSI: this benchmark is about training), split 70/30
  with scikit-learn's stratified ``train_test_split`` (``random_state=0``).
* :func:`wide_data`: a synthetic wide case, standard-normal features and labels
  drawn from a logistic model with random weights (``numpy`` Generator, seed 0).
* :func:`label_bound`: the label-information bound (SECURITY.md §11,
  :mod:`protocols.hetero_lr.leakage`) for a host's training rows as the estimator
  sees them (standardised), at the labels' event rate: the smallest batch the
  two-party mode accepts for them.
* :func:`run_epoch`: one epoch (``max_iter=1``) of
  :class:`vfl.HeteroLogisticRegression`, timed from ``fit`` to its return: two-party
  with Adam (:data:`TRAINING`, the original cases), two-party with SGD
  (:data:`TWO_PARTY_SGD`) or shared mode with SGD and the estimator's defaults
  otherwise (:data:`SHARED_TRAINING`: the logistic loss, learning rate 0.1).  Every
  run records the load average (:func:`os.getloadavg`) before and after its epoch.

Since the label-information bound (commit 4ae3a0b), a host's exact gradient may carry
at most half of a batch's label bits, so a batch must grow with the host's width:
default_credit's 10 host features need batches of about 650 rows (its batch of 1024
passes; a ``--rows`` subsample below the minimum is refused up front), and the wide
case's 300 host features about 16,000, so the wide case now trains with the smallest
batch its data allows instead of 1024 (which the engine refuses at that width).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "SHARED_TRAINING",
    "TRAINING",
    "TWO_PARTY_SGD",
    "EpochRun",
    "LabelBound",
    "Split",
    "cpu_snapshot",
    "default_credit_split",
    "estimate_phe_seconds",
    "label_bound",
    "load_average",
    "load_json",
    "median_run",
    "run_epoch",
    "smallest_batch",
    "wide_data",
    "wide_label_bound",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Log = Callable[[str], None]

TRAINING: dict[str, Any] = {
    "mode": "two-party",
    "batch_size": 1024,
    "optimizer": "adam",
    "learning_rate": 0.05,
    "max_iter": 1,
    "random_state": 0,
}
"""Estimator parameters of the original two-party cases (``class_weight`` is set per case)."""

SHARED_TRAINING: dict[str, Any] = {
    "mode": "shared",
    "batch_size": 1024,
    "optimizer": "sgd",
    "max_iter": 1,
    "random_state": 0,
}
"""Shared mode: SGD and the estimator's defaults otherwise (logistic loss, rate 0.1)."""

TWO_PARTY_SGD: dict[str, Any] = {**SHARED_TRAINING, "mode": "two-party"}
"""Two-party mode with the same optimiser as :data:`SHARED_TRAINING` (Taylor loss)."""

LoadAverage = tuple[float, float, float]

HEARTBEAT_SECONDS = 30.0
"""Seconds between 'still running' lines during an epoch (when no progress bar shows)."""


@dataclass(frozen=True)
class Split:
    """Aligned guest and host rows, split into training and held-out rows.

    Attributes
    ----------
    guest_train, host_train, guest_test, host_test : numpy.ndarray
        Feature matrices; row ``i`` of a guest matrix and of its host matrix is the
        same customer.
    y_train, y_test : numpy.ndarray
        0/1 labels (the guest's).
    guest_names, host_names : list of str
        Feature names.
    """

    guest_train: FloatArray
    host_train: FloatArray
    y_train: IntArray
    guest_test: FloatArray
    host_test: FloatArray
    y_test: IntArray
    guest_names: list[str]
    host_names: list[str]

    @property
    def rows(self) -> int:
        """Training rows."""
        return len(self.y_train)


def default_credit_split(rows: int | None = None) -> Split:
    """``default_credit`` aligned by id, split 70/30 (stratified, ``random_state=0``).

    Parameters
    ----------
    rows : int, optional
        Keep only this many training rows (a stratified subsample, ``random_state=0``);
        the held-out rows are always the whole 30%.

    Returns
    -------
    Split
    """
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    from vfl.tables.datasets import load_builtin

    guest, host = load_builtin("default_credit")
    if guest.labels is None:
        raise ValueError("default_credit: the guest table has no labels")
    host_row = {customer: index for index, customer in enumerate(host.ids)}
    guest_rows = [i for i, customer in enumerate(guest.ids) if customer in host_row]
    host_rows = [host_row[guest.ids[i]] for i in guest_rows]
    guest_x = guest.features[guest_rows]
    host_x = host.features[host_rows]
    labels = guest.labels[guest_rows]
    indices = np.arange(len(labels))
    train, test = train_test_split(indices, test_size=0.3, stratify=labels, random_state=0)
    if rows is not None and rows < len(train):
        train, _ = train_test_split(train, train_size=rows, stratify=labels[train], random_state=0)
    return Split(
        guest_train=guest_x[train],
        host_train=host_x[train],
        y_train=labels[train],
        guest_test=guest_x[test],
        host_test=host_x[test],
        y_test=labels[test],
        guest_names=list(guest.feature_names),
        host_names=list(host.feature_names),
    )


def wide_data(
    rows: int, guest_features: int, host_features: int, seed: int = 0
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Standard-normal features and labels from a logistic model with random weights.

    The true weights are normal with standard deviation ``2 / sqrt(features)``, so
    the true score has standard deviation about 2.

    Parameters
    ----------
    rows : int
        Rows.
    guest_features, host_features : int
        Columns of each party.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    tuple
        ``(guest features, host features, labels)``.
    """
    rng = np.random.default_rng(seed)
    width = guest_features + host_features
    features = rng.standard_normal((rows, width))
    weights = rng.standard_normal(width) * (2.0 / math.sqrt(width))
    probabilities = 1.0 / (1.0 + np.exp(-(features @ weights)))
    labels = (rng.random(rows) < probabilities).astype(np.int64)
    guest = np.ascontiguousarray(features[:, :guest_features])
    host = np.ascontiguousarray(features[:, guest_features:])
    return guest, host, labels


def smallest_batch(rows: int, batch_size: int) -> int:
    """Rows in the smallest batch of the engine's plan for ``rows`` and ``batch_size``.

    The plan makes ``max(1, rows // batch_size)`` batches whose sizes differ by at
    most one (:class:`~protocols.hetero_lr.batch_plan.BatchPlan`), so every batch has
    at least ``batch_size`` rows, or all ``rows`` when there are fewer.

    Examples
    --------
    >>> smallest_batch(100_000, 16_225), smallest_batch(700, 1024)
    (16666, 700)
    """
    from protocols.hetero_lr.batch_plan import BatchPlan

    return BatchPlan(rows, batch_size, bytes(32)).smallest


@dataclass(frozen=True)
class LabelBound:
    """The label-information bound for one host's training rows.

    ``B H(p) >= 2 f_h (b_h + log2(pi e B / 2) / 2)`` for every batch of ``B`` rows
    (SECURITY.md §11): the host's exact gradient carries at most half of a batch's
    label bits.  The guest checks it at the training labels' event rate ``p``, the
    host at ``H = 1``; the guest's check is the stricter one.

    Attributes
    ----------
    host_features : int
        ``f_h``, the host's gradient width.
    gradient_bits : int
        ``b_h``: :func:`~protocols.hetero_lr.leakage.gradient_entry_bits` of the
        standardised training rows.
    event_rate : float
        ``p``, the share of training labels that are 1.
    minimum_batch : int
        The smallest batch that passes
        (:func:`~protocols.hetero_lr.leakage.minimum_batch_for_labels`).
    """

    host_features: int
    gradient_bits: int
    event_rate: float
    minimum_batch: int

    def allows(self, rows: int, batch_size: int) -> bool:
        """Whether every batch of the plan for ``rows`` and ``batch_size`` passes."""
        return smallest_batch(rows, batch_size) >= self.minimum_batch

    def describe(self) -> str:
        """``"10 host features of 19 bits at an event rate of 0.221"``."""
        return (
            f"{self.host_features} host features of {self.gradient_bits} bits at an event "
            f"rate of {self.event_rate:.3g}"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the bound."""
        return {
            "rule": "B * H(p) >= 2 * f_h * (b_h + log2(pi * e * B / 2) / 2) for every batch "
            "of B rows (SECURITY.md §11; protocols/hetero_lr/leakage.py)",
            "host_features": self.host_features,
            "gradient_bits": self.gradient_bits,
            "event_rate": round(self.event_rate, 4),
            "minimum_batch": self.minimum_batch,
        }


def label_bound(host_x: FloatArray, y: IntArray) -> LabelBound:
    """The label-information bound for a host's training rows, as training will check it.

    The features are standardised as the estimator does before training
    (:meth:`vfl.models.Scaling.fit` on the training rows), so ``b_h`` is the one the
    host reports; the event rate is the labels' (the guest's check, stricter than the
    host's at ``H = 1``).

    Parameters
    ----------
    host_x : numpy.ndarray
        The host's training rows, unscaled.
    y : numpy.ndarray
        The 0/1 training labels.

    Returns
    -------
    LabelBound
    """
    from protocols.hetero_lr.leakage import gradient_entry_bits, minimum_batch_for_labels
    from vfl.tables.models import Scaling

    standardize = bool(TRAINING.get("standardize", True))  # the estimator's default
    scaled = Scaling.fit(host_x).transform(host_x) if standardize else host_x
    bits = gradient_entry_bits(scaled)
    rate = float(np.mean(y)) if len(y) else 0.5
    width = int(host_x.shape[1])
    return LabelBound(width, bits, rate, minimum_batch_for_labels(width, bits, rate))


def wide_label_bound(
    rows: int, guest_features: int, host_features: int, seed: int = 0
) -> LabelBound:
    """:func:`label_bound` of the wide case's host (generates its data, then drops it)."""
    _, host, labels = wide_data(rows, guest_features, host_features, seed=seed)
    return label_bound(host, labels)


@dataclass(frozen=True)
class EpochRun:
    """One timed epoch.

    Attributes
    ----------
    backend : str
        ``"paillier"`` or ``"phe"``.
    n_jobs : int
        The estimator's ``n_jobs`` (``-1``: every core).
    key_length : int
        Paillier modulus bits (each party's key).
    rows : int
        Training rows.
    batch_size : int
        The estimator's ``batch_size`` (each batch has at least this many rows, or
        all of them).
    seconds : float
        Wall time of ``fit`` (one epoch, including both parties' key generation).
    auc : float or None
        AUC after the epoch on the held-out rows (or the training rows, see
        ``auc_on``).
    auc_on : str
        ``"held-out"`` or ``"training"``.
    coefficients : numpy.ndarray
        Guest weights, host weights and the intercept (to compare backends).
    seconds_each : tuple of float
        Every repetition's seconds (``seconds`` is their median, see
        :func:`median_run`); empty means ``(seconds,)``.
    other_cpu_each : tuple of float or None
        Per repetition, CPU seconds that processes outside this benchmark's process
        group used during the epoch (``None`` where ``/proc`` is not readable): other
        work on the machine competing for its cores.
    mode : str
        The estimator's ``mode`` (``"two-party"`` or ``"shared"``).
    optimizer : str
        The estimator's ``optimizer``.
    load_each : tuple of pairs of load averages
        Per repetition, :func:`os.getloadavg` (1, 5 and 15 minutes) just before and
        just after the epoch: how busy the machine was.
    """

    backend: str
    n_jobs: int
    key_length: int
    rows: int
    batch_size: int
    seconds: float
    auc: float | None
    auc_on: str
    coefficients: FloatArray
    seconds_each: tuple[float, ...] = ()
    other_cpu_each: tuple[float | None, ...] = ()
    mode: str = "two-party"
    optimizer: str = "adam"
    load_each: tuple[tuple[LoadAverage, LoadAverage], ...] = ()

    @property
    def other_cpu(self) -> float | None:
        """The most CPU seconds other processes took during one of the repetitions."""
        known = [t for t in self.other_cpu_each if t is not None]
        return max(known) if known else None

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this epoch."""
        return {
            "mode": self.mode,
            "optimizer": self.optimizer,
            "backend": self.backend,
            "n_jobs": self.n_jobs,
            "key_length": self.key_length,
            "rows": self.rows,
            "batch_size": self.batch_size,
            "smallest_batch_rows": smallest_batch(self.rows, self.batch_size),
            "seconds": round(self.seconds, 3),
            "seconds_each": [round(t, 3) for t in self.seconds_each or (self.seconds,)],
            "auc": None if self.auc is None else round(self.auc, 5),
            "auc_on": self.auc_on,
            "other_processes_cpu_seconds_each": [
                None if t is None else round(t, 2) for t in self.other_cpu_each
            ],
            "load_average_each": [load_json(before, after) for before, after in self.load_each],
        }


def load_average() -> LoadAverage:
    """:func:`os.getloadavg` (1, 5 and 15 minutes), or zeros where it is unavailable."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
    return (one, five, fifteen)


def load_json(before: LoadAverage, after: LoadAverage) -> dict[str, list[float]]:
    """The JSON record of the load averages around one measurement."""
    return {
        "before_1_5_15_min": [round(v, 2) for v in before],
        "after_1_5_15_min": [round(v, 2) for v in after],
    }


def median_run(runs: Sequence[EpochRun]) -> EpochRun:
    """The runs of one configuration as one: the median seconds, every run's seconds kept.

    Parameters
    ----------
    runs : sequence of EpochRun
        Repetitions of the same configuration (the first one's model is kept).

    Returns
    -------
    EpochRun
        ``seconds`` is the median; ``seconds_each`` and ``other_cpu_each`` list
        every run's figures in order.
    """
    if not runs:
        raise ValueError("median_run needs at least one run")
    seconds = tuple(t for run in runs for t in run.seconds_each or (run.seconds,))
    return replace(
        runs[0],
        seconds=statistics.median(seconds),
        seconds_each=seconds,
        other_cpu_each=tuple(t for run in runs for t in run.other_cpu_each),
        load_each=tuple(pair for run in runs for pair in run.load_each),
    )


@contextmanager
def _heartbeat(log: Log, label: str, expected: float | None) -> Iterator[None]:
    """Log a 'still running' line every :data:`HEARTBEAT_SECONDS` until the block ends."""
    stop = threading.Event()
    started = time.perf_counter()
    hint = "" if expected is None else f" of about {_duration(expected)}"

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            log(f"  ... {label}: still running ({time.perf_counter() - started:.0f} s{hint})")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} minutes"


def run_epoch(
    guest_x: FloatArray,
    host_x: FloatArray,
    y: IntArray,
    *,
    backend: str,
    n_jobs: int,
    key_length: int,
    class_weight: str | None,
    log: Log,
    label: str,
    expected: float | None = None,
    evaluation: tuple[FloatArray, FloatArray, IntArray] | None = None,
    batch_size: int | None = None,
    training: Mapping[str, Any] | None = None,
) -> EpochRun:
    """Train one epoch of hetero LR and time it.

    Parameters
    ----------
    guest_x, host_x : numpy.ndarray
        Aligned training rows of each party.
    y : numpy.ndarray
        0/1 labels.
    backend : {"paillier", "phe", "plaintext"}
        Where the homomorphic arithmetic runs (``"plaintext"``: the same protocol
        arithmetic on integers, for checks).
    n_jobs : int
        The estimator's ``n_jobs`` (``phe`` ignores it).
    key_length : int
        Modulus bits; keys under 2048 bits are allowed here (benchmark only).
    class_weight : "balanced" or None
        Row weights per class.
    log : callable
        Progress reporter.
    label : str
        Names the run in progress lines.
    expected : float, optional
        Expected seconds, shown in progress lines.
    evaluation : tuple, optional
        ``(guest rows, host rows, labels)`` to compute the AUC on (default: the
        training rows).
    batch_size : int, optional
        The estimator's ``batch_size`` (default: the ``training`` parameters', 1024).
    training : mapping, optional
        The estimator's parameters (default :data:`TRAINING`: two-party, Adam);
        :data:`SHARED_TRAINING` and :data:`TWO_PARTY_SGD` are the other cases'.

    Returns
    -------
    EpochRun
    """
    from vfl import HeteroLogisticRegression

    progress_bar = sys.stderr.isatty()
    parameters = dict(TRAINING if training is None else training)
    batch = int(parameters["batch_size"]) if batch_size is None else batch_size
    model = HeteroLogisticRegression(
        **{**parameters, "batch_size": batch},
        key_length=key_length,
        allow_weak_key=key_length < 2048,
        class_weight=class_weight,
        backend=backend,
        n_jobs=n_jobs,
        verbose=progress_bar,
    )
    hint = "" if expected is None else f", about {_duration(expected)}"
    log(f"{label}: running{hint}")
    with _heartbeat(log, label, expected) if not progress_bar else _nothing():
        load_before = load_average()
        cpu_before = cpu_snapshot()
        started = time.perf_counter()
        model.fit(guest_x, y, hosts=[host_x])
        seconds = time.perf_counter() - started
        cpu_after = cpu_snapshot()
        load_after = load_average()
    if model.n_iter_ != 1:
        raise RuntimeError(f"{label}: trained {model.n_iter_} epochs, expected 1")
    on = "training" if evaluation is None else "held-out"
    eval_guest, eval_host, eval_y = (guest_x, host_x, y) if evaluation is None else evaluation
    auc = float(model.evaluate(eval_guest, eval_y, hosts=[eval_host])["auc"])
    coefficients = np.concatenate(
        [model.coef_guest_, model.coef_hosts_[0], np.array([model.intercept_])]
    ).astype(np.float64)
    other = None
    if cpu_before is not None and cpu_after is not None:
        other = max(0.0, (cpu_after[0] - cpu_before[0]) - (cpu_after[1] - cpu_before[1]))
    busy = "" if other is None else f"; other processes used {other:.1f} CPU-s meanwhile"
    load = f"; load average {load_after[0]:.2f} (1 min)"
    log(f"{label}: {seconds:.2f} s per epoch ({on} AUC {auc:.4f}{busy}{load})")
    return EpochRun(
        backend=backend,
        n_jobs=n_jobs,
        key_length=key_length,
        rows=len(y),
        batch_size=batch,
        seconds=seconds,
        auc=auc,
        auc_on=on,
        coefficients=coefficients,
        seconds_each=(seconds,),
        other_cpu_each=(other,),
        mode=str(parameters["mode"]),
        optimizer=str(parameters["optimizer"]),
        load_each=((load_before, load_after),),
    )


def cpu_snapshot() -> tuple[float, float] | None:
    """CPU seconds used so far by the whole machine and by this process group.

    The process group holds this process, its forkserver and the pool workers.  The
    difference of two snapshots tells how much CPU other processes took meanwhile.

    Returns
    -------
    tuple or None
        ``(machine busy seconds, this process group's seconds)``, or ``None`` when
        ``/proc`` cannot be read (not Linux).
    """
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(value) for value in handle.readline().split()[1:9]]
        # user nice system idle iowait irq softirq steal: busy is all but idle, iowait
        busy = (sum(fields) - fields[3] - fields[4]) / ticks
        group = os.getpgrp()
        own = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(os.path.join(entry.path, "stat"), encoding="ascii") as handle:
                    stat = handle.read()
            except OSError:  # the process has exited
                continue
            after_name = stat[stat.rindex(")") + 2 :].split()
            if int(after_name[2]) == group:  # state, ppid, pgrp, ...; utime, stime at 11, 12
                own += int(after_name[11]) + int(after_name[12])
        return busy, own / ticks
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def estimate_phe_seconds(
    key_length: int, rows: int, guest_features: int, host_features: int, *, weighted: bool
) -> float:
    """Rough seconds of one ``phe`` epoch, from a fraction-of-a-second calibration.

    Per row, the two-party protocol encrypts the host's quarter score and (with row
    weights) its squared score, the guest's residual and (with row weights) its
    quarter weight; it multiplies the encrypted residual by every feature column of
    both parties, plus a few per-row products for the loss and the weights.

    Parameters
    ----------
    key_length : int
        Modulus bits.
    rows : int
        Training rows.
    guest_features, host_features : int
        Columns of each party (without the intercept).
    weighted : bool
        Whether rows carry weights (``class_weight``).

    Returns
    -------
    float
        Expected seconds (encryptions plus ciphertext-by-scalar products).
    """
    from crypto.phe_vectors import generate_phe_keypair

    public_key, _ = generate_phe_keypair(key_length)
    rng = np.random.default_rng(0)
    values = rng.standard_normal(16)
    started = time.perf_counter()
    encrypted = public_key.encrypt_vector(values)
    per_encryption = (time.perf_counter() - started) / len(values)
    matrix = rng.standard_normal((4, len(values)))
    started = time.perf_counter()
    encrypted.matmul(matrix)
    per_product = (time.perf_counter() - started) / matrix.size
    encryptions = rows * (4 if weighted else 2)
    products = rows * (guest_features + 1 + host_features + (4 if weighted else 1))
    return encryptions * per_encryption + products * per_product
