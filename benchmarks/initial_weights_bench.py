"""Initial weights: what the guest's secret random start costs in model quality.

Run with ``python -m benchmarks initial_weights``.

Since the security review (SECURITY.md §11) the guest starts two-party and arbiter
training from secret random weights instead of zeros, so that no host ever knows a
residual.  This suite measures the price on held-out rows, on two data sets:

* ``demo``: the demo's two-bank split of the UCI credit-card data (signed log of the
  amounts), as in ``python -m benchmarks label_privacy``;
* ``rare_event``: :func:`vfl.datasets.make_rare_event_credit`, 30,000 rows, 6.6 %
  events, heavy-tailed amounts (each party standardises its own columns, nothing
  else, as the estimator does by default);
* ``demo_short``: 2,800 of the demo's training rows and 3 epochs, i.e. 6 SGD steps:
  the start matters most when training is this short.

All use a stratified 70/30 split (``random_state=0``) and the demo's training
settings (plain SGD at 0.3, batch 1024, 4 epochs unless said, no class weights), on the
``plaintext`` backend, whose fixed-point arithmetic is identical to the encrypted
one.  Each row trains ``--repeats`` times with a fresh batch plan: from zero weights
(the old behaviour) and from the secret random start (a fresh seed each time).
scikit-learn's logistic regression on the pooled columns and on the guest's alone
are the references.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks import report

__all__ = ["DESCRIPTION", "SUITE", "StartResult", "add_arguments", "main"]

DESCRIPTION = "initial weights: held-out AUC from zero vs secret random starting weights"
FloatArray = npt.NDArray[np.float64]
Log = Callable[[str], None]
Split = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
EPOCHS = 4
SHORT_ROWS, SHORT_EPOCHS = 2_800, 3


@dataclass(frozen=True)
class StartResult:
    """Held-out AUC over the repeats for one data set and one start."""

    dataset: str
    start: str
    epochs: int
    auc_mean: float
    auc_min: float
    auc_max: float
    repeats: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the suite's options to ``parser``."""
    parser.add_argument("--repeats", type=int, default=10, help="runs per start (10)")
    parser.add_argument(
        "--output",
        default="benchmarks/results/initial_weights.json",
        help="where to write the results (JSON)",
    )


def _split(guest: FloatArray, host: FloatArray, labels: FloatArray) -> Split:
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    train, test = train_test_split(
        np.arange(len(labels)), test_size=0.3, stratify=labels, random_state=0
    )
    return guest[train], host[train], labels[train], guest[test], host[test], labels[test]


def datasets() -> dict[str, Split]:
    """The two data sets, split 70/30."""
    from benchmarks.label_privacy_bench import _data as demo_data
    from vfl.tables.datasets import make_rare_event_credit

    guest, host = make_rare_event_credit()
    assert guest.labels is not None
    rare = _split(guest.features, host.features, guest.labels.astype(np.float64))
    demo = demo_data()
    rows = np.random.default_rng(0).choice(len(demo[2]), SHORT_ROWS, replace=False)
    short = (demo[0][rows], demo[1][rows], demo[2][rows], demo[3], demo[4], demo[5])
    return {"demo": demo, "rare_event": rare, "demo_short": short}


def _standardised(train: FloatArray, test: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale == 0] = 1.0
    return (train - mean) / scale, (test - mean) / scale


def train_once(split: Split, *, zero_start: bool, plan_seed: bytes, epochs: int = EPOCHS) -> float:
    """One training run on the plaintext backend; the held-out AUC."""
    from protocols.hetero_lr import LrGuest, LrHost, LrSettings, OptimizerSettings, sigmoid
    from vfl.evaluation.metrics import roc_auc
    from vfl.runtime.local import run_locally

    a_train, b_train, y_train, a_test, b_test, y_test = split
    a_train, a_test = _standardised(a_train, a_test)
    b_train, b_test = _standardised(b_train, b_test)
    settings = LrSettings(
        batch_size=1024, max_iter=epochs, convergence="max_iter",
        optimizer=OptimizerSettings(name="sgd", learning_rate=0.3),
    )  # fmt: skip
    guest = LrGuest(
        "guest", "bench", hosts=["host"], features=a_train, labels=y_train, settings=settings,
        backend="plaintext", plan_seed=plan_seed,
        initial_weights=np.zeros(a_train.shape[1] + 1) if zero_start else None,
    )  # fmt: skip
    host = LrHost("host", "bench", guest="guest", features=b_train, settings=settings,
                  backend="plaintext")  # fmt: skip
    run_locally({"guest": guest, "host": host}, through_codec=False)
    scores = a_test @ guest.result.weights + guest.result.intercept + b_test @ host.result.weights
    return roc_auc(y_test, sigmoid(scores))


def _references(split: Split) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    from vfl.evaluation.metrics import roc_auc

    a_train, b_train, y_train, a_test, b_test, y_test = split
    pooled_train, pooled_test = _standardised(np.hstack([a_train, b_train]),
                                              np.hstack([a_test, b_test]))  # fmt: skip
    guest_train, guest_test = _standardised(a_train, a_test)
    pooled = LogisticRegression(max_iter=3000).fit(pooled_train, y_train)
    alone = LogisticRegression(max_iter=3000).fit(guest_train, y_train)
    return {
        "sklearn_pooled_auc": roc_auc(y_test, pooled.predict_proba(pooled_test)[:, 1]),
        "sklearn_guest_only_auc": roc_auc(y_test, alone.predict_proba(guest_test)[:, 1]),
    }


def run(repeats: int, log: Log = print) -> tuple[list[StartResult], dict[str, dict[str, float]]]:
    """Train from both starts on both data sets."""
    results: list[StartResult] = []
    references: dict[str, dict[str, float]] = {}
    for name, split in datasets().items():
        references[name] = _references(split)
        epochs = SHORT_EPOCHS if name == "demo_short" else EPOCHS
        for start, zero in (("zero", True), ("secret random", False)):
            aucs = [
                train_once(
                    split, zero_start=zero, plan_seed=repeat.to_bytes(32, "big"), epochs=epochs
                )
                for repeat in range(repeats)
            ]
            result = StartResult(name, start, epochs, statistics.fmean(aucs), min(aucs),
                                 max(aucs), repeats)  # fmt: skip
            results.append(result)
            log(f"{name:>10} {start:>13}: AUC {result.auc_mean:.4f} "
                f"({result.auc_min:.4f}-{result.auc_max:.4f})")  # fmt: skip
    return results, references


def markdown_table(results: list[StartResult], references: dict[str, dict[str, float]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| data set | start | epochs | held-out AUC, mean (min-max) | "
        "scikit-learn pooled | guest alone |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        refs = references[r.dataset]
        lines.append(
            f"| {r.dataset} | {r.start} | {r.epochs} | "
            f"{r.auc_mean:.4f} ({r.auc_min:.4f}-{r.auc_max:.4f}) | "
            f"{refs['sklearn_pooled_auc']:.4f} | {refs['sklearn_guest_only_auc']:.4f} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks initial_weights``."""
    if args.repeats < 1:
        print("--repeats must be at least 1", file=sys.stderr)
        return 2
    results, references = run(args.repeats)
    table = markdown_table(results, references)
    print(table)
    document: dict[str, Any] = {
        "meta": report.build_meta(args.argv, {"repeats": args.repeats, "epochs": EPOCHS}),
        "results": [asdict(r) for r in results],
        "references": references,
        "table": table,
    }
    output = Path(args.output)
    report.write_document(output, document)
    print(f"results -> {output}", file=sys.stderr)
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""The entry of :data:`benchmarks.__main__.SUITES`."""
