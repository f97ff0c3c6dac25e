"""Shared-mode cases of the hetero LR benchmark: its epoch beside the two-party one.

Shared mode (``mode="shared"``, the estimator's default; :mod:`protocols.hetero_lr.shared_party`)
keeps weights, scores, residuals and gradients as additive shares and evaluates the
logistic function as a polynomial on shares, so it costs more per epoch than the
two-party mode, where each party learns its exact gradient.  Two cases:

* :func:`bench_shared_default_credit`: one default_credit epoch (the benchmark's
  split, ``class_weight="balanced"``, ``n_jobs=-1``) in shared mode with SGD and the
  estimator's defaults otherwise (:data:`~benchmarks.hetero_lr_cases.SHARED_TRAINING`:
  logistic loss, learning rate 0.1, batch 1024), two-party mode with the same
  optimiser (:data:`~benchmarks.hetero_lr_cases.TWO_PARTY_SGD`, Taylor loss) and
  two-party mode with Adam as the original case (:data:`~benchmarks.hetero_lr_cases.TRAINING`),
  the three interleaved ``repeats`` times so that a busy spell slows each alike, and
  reported by their medians.  The headline is shared / two-party (SGD) seconds
  (:data:`TARGET_RATIO`).
* :func:`bench_shared_wide`: the wide synthetic case (30 guest + 300 host features)
  in shared mode with the default batch of 1024 (shared mode has no
  label-information bound: no party learns a gradient), reported as sample-features
  per core-second beside FATE 2.0's published SSHE-LR figure (:data:`FATE_SSHE`).

Verification: two-party repetitions must train the same model (exact arithmetic);
shared-mode repetitions, and a shared run on the ``plaintext`` backend (untimed, the
same protocol arithmetic on integers), must agree within :func:`shared_tolerance`, the
drift the shares' truncations allow (each truncation is off by one unit at random,
so shared runs are not bit-identical); and training must have moved the weights by
far more than that tolerance.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.hetero_lr_cases import (
    SHARED_TRAINING,
    TRAINING,
    TWO_PARTY_SGD,
    EpochRun,
    Split,
    median_run,
    run_epoch,
    smallest_batch,
    wide_data,
)
from benchmarks.verify import VerificationError, check_close

__all__ = [
    "FATE_SSHE",
    "SHARED_CASE_NOTE",
    "TARGET_RATIO",
    "TARGET_VERSUS_FATE",
    "SharedComparison",
    "SharedWideResult",
    "bench_shared_default_credit",
    "bench_shared_wide",
    "markdown_lines",
    "shared_tolerance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Log = Callable[[str], None]

TARGET_RATIO = 2.5
"""Target: a shared-mode epoch costs at most this many two-party (SGD) epochs."""
TARGET_VERSUS_FATE = 4.0
"""Target: at least this many times FATE 2.0 SSHE-LR's sample-features per core-second."""

FATE_SSHE: dict[str, Any] = {
    "source": "FATE 2.0 published SSHE-LR benchmark (design brief)",
    "rows": 100_000,
    "guest_features": 30,
    "host_features": 300,
    "seconds_per_epoch": 294.0,
    "machines": 2,
    "cores_per_machine": 16,
    "cores": 32,
    "note": "SSHE-LR: secret-shared weights like this engine's shared mode (4 min 54 s per epoch)",
}
FATE_SSHE["sample_features_per_core_second"] = round(
    FATE_SSHE["rows"]
    * (FATE_SSHE["guest_features"] + FATE_SSHE["host_features"])
    / (FATE_SSHE["seconds_per_epoch"] * FATE_SSHE["cores"]),
    1,
)
"""FATE 2.0 SSHE-LR: 100k rows x (30 + 300) features, 4 min 54 s per epoch on 2 x 16 cores."""

EXACT_TOLERANCE = 1e-9
"""Two-party repetitions must train the same model (the masks cancel exactly)."""

SHARED_CASE_NOTE = (
    "shared mode: weights, scores, residuals and gradients only as additive shares; "
    "logistic loss with a polynomial sigmoid on shares; SGD, learning rate 0.1, batch "
    "1024 (the estimator's defaults but max_iter=1)"
)

_UNIT = 2.0**-24
"""A weight's fixed-point unit in shared mode (``WEIGHT_FRACTION`` 24)."""
_RESIDUAL_ERROR = 0.14 * 2.0**-15 + 2 * _UNIT + 2.0**-25
"""A residual's error from truncated shares of the score (slope of the polynomial
sigmoid at most 0.14, two truncations of ``2**-16``), of the sigmoid and the rounding
of its coefficients."""


def shared_tolerance(
    blocks: Sequence[FloatArray],
    weights: FloatArray | None,
    batches: int,
    learning_rate: float,
) -> float:
    """How far two shared-mode runs of the same training may drift apart, per weight.

    The error model of the shared-mode equivalence tests
    (``tests/protocols/test_shared_training.py``): per batch, a residual is off by at
    most :data:`_RESIDUAL_ERROR` times its row weight; the mean gradient by the largest
    column mean of ``w_i |x_ij|`` (standardised features, the intercept's column of
    ones) times that, plus four units; the update by the learning rate times that,
    plus four units.  Over ``batches`` SGD steps, times 2 for the weights' errors
    fed back through later scores, times 2 again because two runs each drift from
    the exact training (and a margin, since the column means here are over all
    rows, not per batch).

    Parameters
    ----------
    blocks : sequence of numpy.ndarray
        Every party's training rows, unscaled (standardised here as the estimator does).
    weights : numpy.ndarray or None
        Row weights (``class_weight``), or ``None`` for ones.
    batches : int
        SGD steps of the run.
    learning_rate : float

    Returns
    -------
    float
        The largest absolute difference allowed per coefficient.
    """
    w = np.ones(blocks[0].shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    reach = float(np.max(w))
    for block in blocks:
        scale = block.std(axis=0)
        scale[~(scale > 0)] = 1.0
        scaled = np.abs((block - block.mean(axis=0)) / scale)
        reach = max(reach, float(np.max(np.mean(w[:, None] * scaled, axis=0))))
    per_step = learning_rate * (reach * _RESIDUAL_ERROR + 4 * _UNIT) + 4 * _UNIT
    return 8.0 * batches * per_step


def balanced_weights(y: IntArray) -> FloatArray:
    """scikit-learn's ``class_weight="balanced"`` row weights of 0/1 labels."""
    positives = float(np.sum(y))
    negatives = len(y) - positives
    weights: FloatArray = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * negatives))
    return weights


def _batches(rows: int, batch_size: int) -> int:
    return max(1, rows // batch_size)


def _largest_difference(runs: Sequence[EpochRun]) -> float:
    reference = runs[0].coefficients
    return max((float(np.max(np.abs(r.coefficients - reference))) for r in runs[1:]), default=0.0)


def _check_shared(
    label: str, runs: Sequence[EpochRun], plaintext: EpochRun, tolerance: float
) -> tuple[float, float]:
    """Shared runs agree with each other and with the plaintext run; training moved."""
    for index, other in enumerate(runs[1:], start=2):
        check_close(
            f"{label}: shared paillier run {index} vs run 1 model",
            other.coefficients,
            runs[0].coefficients,
            atol=tolerance,
        )
    check_close(
        f"{label}: shared paillier vs shared plaintext model",
        runs[0].coefficients,
        plaintext.coefficients,
        atol=tolerance,
    )
    moved = float(np.max(np.abs(plaintext.coefficients)))
    if moved < 100 * tolerance:
        raise VerificationError(
            f"{label}: the shared epoch moved the weights by at most {moved:.3g}, not far "
            f"above the tolerance {tolerance:.3g}: the check could not tell a wrong step"
        )
    return _largest_difference(runs), float(
        np.max(np.abs(runs[0].coefficients - plaintext.coefficients))
    )


def _check_exact(label: str, runs: Sequence[EpochRun]) -> None:
    for index, other in enumerate(runs[1:], start=2):
        check_close(
            f"{label}: run {index} vs run 1 model",
            other.coefficients,
            runs[0].coefficients,
            atol=EXACT_TOLERANCE,
        )


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _load_one_minute(run: EpochRun) -> list[float]:
    return [round(after[0], 2) for _, after in run.load_each]


# default_credit: shared against two-party ---------------------------------------------------
@dataclass(frozen=True)
class SharedComparison:
    """One default_credit epoch in shared mode and in two-party mode, same run.

    Attributes
    ----------
    key_length : int
    shared : EpochRun
        Shared mode, SGD (median of the repetitions).
    two_party_sgd : EpochRun
        Two-party mode, SGD (median).
    two_party_adam : EpochRun
        Two-party mode, Adam at 0.05 as the original case (median).
    tolerance : float
        :func:`shared_tolerance` of this training.
    shared_repeat_difference, shared_plaintext_difference : float
        Largest coefficient difference between shared repetitions, and between the
        first shared Paillier run and the shared plaintext run.
    """

    key_length: int
    shared: EpochRun
    two_party_sgd: EpochRun
    two_party_adam: EpochRun
    tolerance: float
    shared_repeat_difference: float
    shared_plaintext_difference: float

    @property
    def ratio(self) -> float:
        """Shared seconds over two-party (SGD) seconds, medians."""
        return self.shared.seconds / self.two_party_sgd.seconds

    @property
    def ratio_adam(self) -> float:
        """Shared seconds over two-party (Adam) seconds, medians."""
        return self.shared.seconds / self.two_party_adam.seconds

    @property
    def ratio_each(self) -> list[float]:
        """Shared over two-party (SGD) seconds, repetition by repetition (interleaved)."""
        return [
            s / t
            for s, t in zip(self.shared.seconds_each, self.two_party_sgd.seconds_each, strict=True)
        ]

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the comparison."""
        return {
            "key_length": self.key_length,
            "parameters": {
                "shared": {**SHARED_TRAINING, "loss": "logistic (default in shared mode)"},
                "two_party_sgd": {**TWO_PARTY_SGD, "loss": "taylor (the only two-party loss)"},
                "two_party_adam": {**TRAINING, "loss": "taylor"},
                "class_weight": "balanced",
                "backend": "paillier",
                "n_jobs": -1,
                "cores": os.cpu_count() or 1,
                "order": "each repetition runs shared, two-party sgd, two-party adam in turn",
            },
            "shared": self.shared.to_json(),
            "two_party_sgd": self.two_party_sgd.to_json(),
            "two_party_adam": self.two_party_adam.to_json(),
            "ratio_shared_over_two_party_sgd": round(self.ratio, 3),
            "ratio_shared_over_two_party_sgd_each": [round(r, 3) for r in self.ratio_each],
            "ratio_shared_over_two_party_adam": round(self.ratio_adam, 3),
            "target_ratio_at_most": TARGET_RATIO,
            "meets_target": self.ratio <= TARGET_RATIO,
            "verification": {
                "two_party_repeats_same_model": True,
                "shared_tolerance": self.tolerance,
                "shared_repeat_max_difference": self.shared_repeat_difference,
                "shared_vs_plaintext_max_difference": self.shared_plaintext_difference,
                "rule": "shared runs truncate shares (one unit at random), so repetitions "
                "and the plaintext-backend run (the same protocol arithmetic, untimed) must "
                "agree within the truncations' drift, not bit for bit",
            },
            "heldout_auc": {
                "shared": _rounded(self.shared.auc, 5),
                "two_party_sgd": _rounded(self.two_party_sgd.auc, 5),
                "two_party_adam": _rounded(self.two_party_adam.auc, 5),
            },
        }


def bench_shared_default_credit(
    split: Split, key_length: int, log: Log, *, repeats: int = 1
) -> SharedComparison:
    """Time one default_credit epoch in shared mode and in two-party mode, interleaved.

    Parameters
    ----------
    split : Split
        The aligned, split data (training rows trained on, held-out rows evaluated).
    key_length : int
        Modulus bits of each key.
    log : callable
        Progress reporter.
    repeats : int, default 1
        Rounds of (shared, two-party SGD, two-party Adam).

    Returns
    -------
    SharedComparison

    Raises
    ------
    VerificationError
        If two-party repetitions differ, or shared runs disagree beyond the tolerance.
    """
    held_out = (split.guest_test, split.host_test, split.y_test)
    data = (split.guest_train, split.host_train, split.y_train)
    name = f"default_credit {key_length}-bit"
    cases = {"shared": SHARED_TRAINING, "two-party sgd": TWO_PARTY_SGD, "two-party adam": TRAINING}
    runs: dict[str, list[EpochRun]] = {case: [] for case in cases}
    for repeat in range(1, repeats + 1):
        suffix = f" (run {repeat} of {repeats})" if repeats > 1 else ""
        for case, training in cases.items():
            gc.collect()
            runs[case].append(
                run_epoch(
                    *data,
                    backend="paillier",
                    n_jobs=-1,
                    key_length=key_length,
                    class_weight="balanced",
                    log=log,
                    label=f"{name} {case} n_jobs=-1{suffix}",
                    evaluation=held_out,
                    training=training,
                )
            )
    log(f"{name}: shared on the plaintext backend (untimed check of the model)")
    plaintext = run_epoch(
        *data,
        backend="plaintext",
        n_jobs=1,
        key_length=key_length,
        class_weight="balanced",
        log=log,
        label=f"{name} shared plaintext",
        evaluation=held_out,
        training=SHARED_TRAINING,
    )
    _check_exact(f"{name} two-party sgd", runs["two-party sgd"])
    _check_exact(f"{name} two-party adam", runs["two-party adam"])
    tolerance = shared_tolerance(
        [split.guest_train, split.host_train],
        balanced_weights(split.y_train),
        _batches(split.rows, int(SHARED_TRAINING["batch_size"])),
        0.1,
    )
    repeat_difference, plain_difference = _check_shared(name, runs["shared"], plaintext, tolerance)
    result = SharedComparison(
        key_length,
        median_run(runs["shared"]),
        median_run(runs["two-party sgd"]),
        median_run(runs["two-party adam"]),
        tolerance,
        repeat_difference,
        plain_difference,
    )
    log(
        f"{name}: shared / two-party = {result.ratio:.2f} (sgd), {result.ratio_adam:.2f} "
        f"(adam); target at most {TARGET_RATIO}; shared models agree within {tolerance:.2g}"
    )
    return result


# the wide case in shared mode ---------------------------------------------------------------
@dataclass(frozen=True)
class SharedWideResult:
    """The wide synthetic epoch in shared mode.

    Attributes
    ----------
    run : EpochRun
        Shared mode, ``paillier``, ``n_jobs=-1``.
    guest_features, host_features : int
    cores : int
        ``os.cpu_count()``: the cores ``n_jobs=-1`` uses.
    plaintext : EpochRun or None
        The same training on the ``plaintext`` backend (untimed check), if run.
    tolerance : float
        :func:`shared_tolerance` of this training.
    """

    run: EpochRun
    guest_features: int
    host_features: int
    cores: int
    plaintext: EpochRun | None
    tolerance: float

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
        """Our sample-features per core-second over FATE 2.0 SSHE-LR's."""
        return self.per_core_second / float(FATE_SSHE["sample_features_per_core_second"])

    @property
    def seconds_at_fate_rows(self) -> float:
        """This epoch's seconds scaled to FATE's 100,000 rows (the cost is per row)."""
        return self.run.seconds * float(FATE_SSHE["rows"]) / self.run.rows

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the case."""
        plaintext_difference = (
            None
            if self.plaintext is None
            else float(np.max(np.abs(self.run.coefficients - self.plaintext.coefficients)))
        )
        return {
            "parameters": {
                **SHARED_TRAINING,
                "loss": "logistic",
                "class_weight": None,
                "backend": self.run.backend,
                "n_jobs": self.run.n_jobs,
                "key_length": self.run.key_length,
            },
            "rows": self.run.rows,
            "rows_note": "the rows this epoch trained on; "
            + (
                "FATE's 100,000"
                if self.run.rows == FATE_SSHE["rows"]
                else "fewer than FATE's 100,000: the rate is per row (every batch of 1024 "
                "rows costs the same, plus two key generations per fit), so it "
                "extrapolates to 100,000 rows"
            ),
            "guest_features": self.guest_features,
            "host_features": self.host_features,
            "batch_size": self.run.batch_size,
            "batches_per_epoch": _batches(self.run.rows, self.run.batch_size),
            "smallest_batch_rows": smallest_batch(self.run.rows, self.run.batch_size),
            "label_information_bound": "none in shared mode: no party learns a gradient",
            "data": "standard-normal features, labels from a logistic model with random "
            "weights (numpy default_rng(0))",
            "seconds": round(self.run.seconds, 3),
            "seconds_extrapolated_to_100000_rows": round(self.seconds_at_fate_rows, 1),
            "other_processes_cpu_seconds": _rounded(self.run.other_cpu, 2),
            "load_average": self.run.to_json()["load_average_each"],
            "cores_used": self.cores,
            "sample_features_per_core_second": round(self.per_core_second, 1),
            "training_auc": _rounded(self.run.auc, 5),
            "fate_sshe": dict(FATE_SSHE),
            "ratio_vs_fate_sshe_per_core": round(self.versus_fate, 3),
            "target_ratio_at_least": TARGET_VERSUS_FATE,
            "meets_target": self.versus_fate >= TARGET_VERSUS_FATE,
            "verification": {
                "shared_tolerance": self.tolerance,
                "shared_vs_plaintext_max_difference": plaintext_difference,
            },
        }


def bench_shared_wide(
    rows: int,
    key_length: int,
    log: Log,
    *,
    guest_features: int = 30,
    host_features: int = 300,
    check_plaintext: bool = True,
) -> SharedWideResult:
    """Time one shared-mode epoch of the wide case (batch 1024, ``n_jobs=-1``).

    Parameters
    ----------
    rows : int
        Rows (100,000 for FATE's figure; fewer for a quick check).
    key_length : int
        Modulus bits.
    log : callable
        Progress reporter.
    guest_features, host_features : int
        Columns of each party (30 and 300).
    check_plaintext : bool, default True
        Also train on the ``plaintext`` backend (untimed) and require the same model
        within :func:`shared_tolerance`.

    Returns
    -------
    SharedWideResult

    Raises
    ------
    VerificationError
        If the plaintext run's model differs beyond the tolerance.
    """
    log(
        f"shared wide case: generating {rows:,} rows x ({guest_features} + {host_features}) "
        "features"
    )
    guest_x, host_x, labels = wide_data(rows, guest_features, host_features, seed=0)
    batch_size = int(SHARED_TRAINING["batch_size"])
    gc.collect()
    label = (
        f"shared wide {rows:,} x ({guest_features}+{host_features}) {key_length}-bit "
        f"paillier n_jobs=-1 batch {batch_size:,}"
    )
    run_ = run_epoch(
        guest_x,
        host_x,
        labels,
        backend="paillier",
        n_jobs=-1,
        key_length=key_length,
        class_weight=None,
        log=log,
        label=label,
        training=SHARED_TRAINING,
    )
    tolerance = shared_tolerance([guest_x, host_x], None, _batches(rows, batch_size), 0.1)
    plaintext = None
    if check_plaintext:
        log("shared wide case: the same training on the plaintext backend (untimed check)")
        plaintext = run_epoch(
            guest_x,
            host_x,
            labels,
            backend="plaintext",
            n_jobs=1,
            key_length=key_length,
            class_weight=None,
            log=log,
            label="shared wide plaintext",
            training=SHARED_TRAINING,
        )
        _check_shared("shared wide", [run_], plaintext, tolerance)
    result = SharedWideResult(
        run_, guest_features, host_features, os.cpu_count() or 1, plaintext, tolerance
    )
    log(
        f"shared wide case: {result.per_core_second:,.0f} sample-features per core-second "
        f"on {rows:,} rows (FATE 2.0 SSHE-LR: "
        f"{FATE_SSHE['sample_features_per_core_second']:,.0f}; {result.versus_fate:.2f}x, "
        f"target {TARGET_VERSUS_FATE:.0f}x); about {result.seconds_at_fate_rows / 60:.0f} min "
        "at 100,000 rows"
    )
    return result


# reporting ----------------------------------------------------------------------------------
def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value:,.0f} s ({value / 60:.1f} min)"
    return f"{value:.2f} s"


def _loads(run: EpochRun) -> str:
    values = _load_one_minute(run)
    if not values:
        return "n/a"
    return ", ".join(f"{v:.1f}" for v in values)


def markdown_lines(
    comparison: SharedComparison | None, wide: SharedWideResult | None, rows: int
) -> list[str]:
    """Markdown tables of the shared cases (empty when neither ran).

    Parameters
    ----------
    comparison : SharedComparison or None
    wide : SharedWideResult or None
    rows : int
        default_credit training rows.

    Returns
    -------
    list of str
    """
    lines: list[str] = []
    cores = os.cpu_count() or 1
    if comparison is not None:
        c = comparison
        repeats = len(c.shared.seconds_each)
        lines += [
            f"default_credit, {rows:,} training rows, {c.key_length}-bit, one epoch, "
            f"class_weight='balanced', paillier n_jobs=-1 ({cores} cores), median of "
            f"{repeats} interleaved run(s):",
            "",
            "| mode | optimizer | loss | seconds per epoch | runs (s) | load average "
            "(1 min, after each run) | held-out AUC |",
            "|---|---|---|---:|---|---|---:|",
        ]
        for run, loss in (
            (c.shared, "logistic (polynomial on shares)"),
            (c.two_party_sgd, "taylor"),
            (c.two_party_adam, "taylor"),
        ):
            each = ", ".join(f"{t:.1f}" for t in run.seconds_each)
            auc = "n/a" if run.auc is None else f"{run.auc:.4f}"
            lines.append(
                f"| {run.mode} | {run.optimizer} | {loss} | {_seconds(run.seconds)} | "
                f"{each} | {_loads(run)} | {auc} |"
            )
        verdict = "meets" if c.ratio <= TARGET_RATIO else "misses"
        lines += [
            "",
            f"shared / two-party: {c.ratio:.2f}x with the same optimizer (sgd; per run: "
            f"{', '.join(f'{r:.2f}' for r in c.ratio_each)}), {c.ratio_adam:.2f}x against "
            f"two-party adam; target at most {TARGET_RATIO}x: {verdict} it.",
        ]
    if wide is not None:
        w = wide
        verdict = "meets" if w.versus_fate >= TARGET_VERSUS_FATE else "misses"
        extrapolated = (
            ""
            if w.run.rows == FATE_SSHE["rows"]
            else f" (measured on {w.run.rows:,} rows; the cost is per row, about "
            f"{_seconds(w.seconds_at_fate_rows)} at 100,000 rows)"
        )
        if lines:
            lines.append("")
        lines += [
            f"shared wide: {w.run.rows:,} rows x ({w.guest_features} + {w.host_features}) "
            f"features, {w.run.key_length}-bit, paillier n_jobs=-1, one epoch, batch_size "
            f"{w.run.batch_size:,} (shared mode has no label-information bound){extrapolated}:",
            "",
            "| system | rows | seconds per epoch | cores | sample-features per core-second "
            "| load average (1 min) |",
            "|---|---:|---:|---:|---:|---|",
            f"| this engine, shared mode | {w.run.rows:,} | {_seconds(w.run.seconds)} | "
            f"{w.cores} | {w.per_core_second:,.0f} | {_loads(w.run)} |",
            f"| FATE 2.0 SSHE-LR (published) | {FATE_SSHE['rows']:,} | "
            f"{_seconds(float(FATE_SSHE['seconds_per_epoch']))} | {FATE_SSHE['cores']} | "
            f"{FATE_SSHE['sample_features_per_core_second']:,.0f} | n/a |",
            "",
            f"per core: {w.versus_fate:.2f}x FATE 2.0 SSHE-LR; target at least "
            f"{TARGET_VERSUS_FATE:.0f}x: {verdict} it.",
        ]
    return lines
