"""Hetero LR benchmark: seconds per training epoch, this engine against phe, same run.

Two cases, both two-party :class:`vfl.HeteroLogisticRegression` trained for one epoch
(``max_iter=1``) with ``batch_size=1024``, Adam at learning rate 0.05 and
``random_state=0``, guest and host in this process (every message through the wire
codec for the ``paillier`` backend):

* ``default_credit`` (13 guest + 10 host features), rows aligned by id and split 70/30
  (stratified, ``random_state=0``), ``class_weight="balanced"``, on the training rows,
  at each key length: backend ``paillier`` with ``n_jobs=-1`` (every core, the
  engine's default deployment) and ``n_jobs=1``, and backend ``phe`` (python-paillier
  doing the same protocol value by value, single-threaded by nature).  All three
  must end with the same model (the protocol's arithmetic is exact; the masks
  cancel), or the run stops with a :class:`~benchmarks.verify.VerificationError`.
  The ``paillier`` epochs are repeated (``--repeats``, 3) and reported by their
  median, since other work on the machine can slow one run; the long ``phe`` epoch
  runs once.  The held-out AUC after the epoch is a sanity number.
* a wide synthetic case, 30 guest + 300 host standard-normal features (default
  100,000 rows), 2048 bits, backend ``paillier`` with ``n_jobs=-1``, reported as
  sample-features per core-second beside FATE 2.0's published figure.

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

from benchmarks import report
from benchmarks.hetero_lr_cases import (
    TRAINING,
    EpochRun,
    Split,
    default_credit_split,
    estimate_phe_seconds,
    median_run,
    run_epoch,
    wide_data,
)
from benchmarks.verify import VerificationError, check_close

__all__ = [
    "DESCRIPTION",
    "FATE",
    "SUITE",
    "KeyLengthResult",
    "Settings",
    "WideResult",
    "add_arguments",
    "bench_default_credit",
    "bench_wide",
    "main",
    "markdown_table",
    "plot_results",
    "run",
]

DESCRIPTION = "hetero LR: seconds per epoch, this engine vs phe (default_credit, wide)"

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
        help="rows of the wide case, 30 + 300 features (100000; 0 skips it)",
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
    )
    if settings.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    if settings.rows is not None and settings.rows < 100:
        raise SystemExit("--rows must be at least 100")
    if settings.wide_rows < 0 or 0 < settings.wide_rows <= WIDE_HOST_FEATURES + 1:
        raise SystemExit(
            f"--wide-rows must be 0 (skip) or above {WIDE_HOST_FEATURES + 1} (a batch must "
            "have more rows than the host has gradient columns)"
        )
    if min([*settings.key_lengths, settings.wide_key_length]) < 512:
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
    """

    run: EpochRun
    guest_features: int
    host_features: int
    cores: int

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
                "class_weight": None,
                "backend": self.run.backend,
                "n_jobs": self.run.n_jobs,
                "key_length": self.run.key_length,
            },
            "rows": self.run.rows,
            "guest_features": self.guest_features,
            "host_features": self.host_features,
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
) -> WideResult:
    """Time one epoch of the wide synthetic case on this engine (``n_jobs=-1``).

    Parameters
    ----------
    rows : int
        Rows (more than ``host_features + 1``).
    key_length : int
        Modulus bits.
    log : callable
        Progress reporter.
    guest_features, host_features : int
        Columns of each party (30 and 300).

    Returns
    -------
    WideResult
    """
    log(f"wide case: generating {rows:,} rows x ({guest_features} + {host_features}) features")
    guest_x, host_x, labels = wide_data(rows, guest_features, host_features, seed=0)
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
        f"n_jobs=-1",
    )
    result = WideResult(run_, guest_features, host_features, _cores())
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


def run(settings: Settings, log: Log) -> Results:
    """Run the whole suite: default_credit at each key length, then the wide case.

    Parameters
    ----------
    settings : Settings
        Resolved options.
    log : callable
        Progress reporter.

    Returns
    -------
    Results
    """
    log("default_credit: aligning guest and host by id, stratified 70/30 split")
    split = default_credit_split(settings.rows)
    log(
        f"default_credit: {split.rows:,} training rows "
        f"({split.guest_train.shape[1]} guest + {split.host_train.shape[1]} host features), "
        f"{len(split.y_test):,} held-out rows"
    )
    log("starting the process pools (untimed)")
    warm_up_pools()
    per_key = [
        bench_default_credit(split, bits, log, repeats=settings.repeats)
        for bits in settings.key_lengths
    ]
    wide = None
    if settings.wide_rows:
        wide = bench_wide(settings.wide_rows, settings.wide_key_length, log)
    return Results(split=split, key_lengths=per_key, wide=wide)


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
    """Markdown tables: default_credit per key length, then the wide case.

    Parameters
    ----------
    results : Results

    Returns
    -------
    str
    """
    cores = _cores()
    lines = [
        f"default_credit, {results.split.rows:,} training rows, one epoch "
        "(batch 1024, Adam, class_weight='balanced'):",
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
    wide = results.wide
    if wide is not None:
        lines += [
            "",
            f"wide: {wide.run.rows:,} rows x ({wide.guest_features} + {wide.host_features}) "
            f"features, {wide.run.key_length}-bit, paillier n_jobs=-1, one epoch:",
            "",
            "| system | seconds per epoch | cores | sample-features per core-second |",
            "|---|---:|---:|---:|",
            f"| this engine | {_seconds(wide.run.seconds)} | {wide.cores} | "
            f"{wide.per_core_second:,.0f} |",
            f"| FATE 2.0 (published, 100,000 rows) | {_seconds(FATE['seconds_per_epoch'])} | "
            f"{FATE['cores']} | {FATE['sample_features_per_core_second']:,.0f} |",
        ]
    return "\n".join(lines) + "\n"


def plot_results(results: Results, path: Path) -> None:
    """Bar chart of seconds per epoch (log scale), ratios annotated; the wide case beside.

    Parameters
    ----------
    results : Results
    path : Path
        The PNG file to write (parent directories are created).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cores = _cores()
    panels = 2 if results.wide is not None else 1
    figure = Figure(figsize=(7.5 * panels, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    epochs = axes[0]
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

    wide = results.wide
    if wide is not None:
        axis = axes[1]
        names = [f"this engine\n{wide.cores} cores", f"FATE 2.0 (published)\n{FATE['cores']} cores"]
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
            f"{wide.run.key_length}-bit, one epoch ({wide.versus_fate:.2f}x FATE per core)"
        )
        axis.grid(True, axis="y", which="major", alpha=0.3)
    figure.suptitle("Hetero logistic regression, two-party: seconds per training epoch")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


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
