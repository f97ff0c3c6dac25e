"""Label privacy: what the guest's noise costs in model quality.

Run with ``python -m benchmarks label_privacy``.

The case is the demo's (``vfl demo``): the raw UCI credit-card data split between bank
A (label, repayment history, limit, demographics) and bank B (bill and payment
amounts), signed log of the amounts, a stratified 70/30 split (``random_state=0``),
and the demo's training settings (plain SGD at 0.3, batch 1024, 4 epochs, no class
weights).  For each ``epsilon`` (``None``: no noise) it trains ``--repeats`` times on
the ``plaintext`` backend, whose fixed-point arithmetic is identical to the encrypted
one (the noise is drawn by the guest role the same way), and reports the held-out AUC
and KS: mean, smallest and largest.  Bank A's model alone (scikit-learn, same
transform) is the floor: below it, federating brings the guest nothing.
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

__all__ = ["DESCRIPTION", "SUITE", "PrivacyResult", "add_arguments", "main", "markdown_table"]

DESCRIPTION = "label privacy: held-out AUC/KS per epsilon on the demo's two-bank data"
DEFAULT_EPSILONS = (None, 16.0, 8.0, 4.0, 2.0, 1.0, 0.5)
Log = Callable[[str], None]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PrivacyResult:
    """Held-out quality at one epsilon over the repeats."""

    epsilon: float | None
    delta: float
    sigma: float | None
    auc_mean: float
    auc_min: float
    auc_max: float
    ks_mean: float
    repeats: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the suite's options to ``parser``."""
    parser.add_argument(
        "--epsilons",
        type=float,
        nargs="+",
        metavar="EPS",
        help="epsilons to try (default: none, 16, 8, 4, 2, 1, 0.5; 'none' is always run)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per epsilon (5)")
    parser.add_argument("--delta", type=float, default=1e-5, help="delta (1e-5)")
    parser.add_argument(
        "--output",
        default="benchmarks/results/label_privacy.json",
        help="where to write the results (JSON)",
    )


def _data() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Bank A's and bank B's transformed columns, train and test, and the labels."""
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    from vfl.tables.demo_data import (
        BANK_A_FEATURES,
        BANK_A_LOG_COLUMNS,
        BANK_B_FEATURES,
        BANK_B_LOG_COLUMNS,
        load_uci_credit_card,
    )
    from vfl.tables.models import signed_log

    table = load_uci_credit_card()
    assert table.labels is not None

    def columns(names: tuple[str, ...], logged: tuple[str, ...]) -> FloatArray:
        matrix = table.features[:, [table.feature_names.index(n) for n in names]].copy()
        flags = [name in logged for name in names]
        matrix[:, flags] = signed_log(matrix[:, flags])
        return matrix

    bank_a = columns(BANK_A_FEATURES, BANK_A_LOG_COLUMNS)
    bank_b = columns(BANK_B_FEATURES, BANK_B_LOG_COLUMNS)
    labels = table.labels.astype(np.float64)
    train, test = train_test_split(
        np.arange(len(labels)), test_size=0.3, stratify=labels, random_state=0
    )
    return bank_a[train], bank_b[train], labels[train], bank_a[test], bank_b[test], labels[test]


def _guest_only_auc(
    a_train: FloatArray, y_train: FloatArray, a_test: FloatArray, y_test: FloatArray
) -> float:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    from vfl.evaluation.metrics import roc_auc

    scaler = StandardScaler().fit(a_train)
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(a_train), y_train)
    return roc_auc(y_test, model.predict_proba(scaler.transform(a_test))[:, 1])


def run(
    epsilons: list[float | None], repeats: int, delta: float, log: Log = print
) -> tuple[list[PrivacyResult], float]:
    """Train and evaluate at every epsilon; return the results and bank A's floor."""
    from protocols.hetero_lr.privacy import LabelPrivacy
    from vfl import HeteroLogisticRegression
    from vfl.demo import TRAINING
    from vfl.evaluation.metrics import ks_statistic, roc_auc

    a_train, b_train, y_train, a_test, b_test, y_test = _data()
    settings = {k: v for k, v in TRAINING.items() if k not in ("n_jobs", "mode", "loss")}
    epochs = 4
    results: list[PrivacyResult] = []
    for epsilon in epsilons:
        aucs: list[float] = []
        kss: list[float] = []
        for repeat in range(repeats):
            model = HeteroLogisticRegression(
                backend="plaintext",
                mode="two-party",  # label privacy protects the gradients this mode reveals
                max_iter=epochs,
                random_state=repeat,
                label_privacy_epsilon=epsilon,
                label_privacy_delta=delta,
                **settings,  # type: ignore[arg-type]
            ).fit(a_train, y_train, hosts=[b_train])
            scores = model.predict_proba(a_test, hosts=[b_test])[:, 1]
            aucs.append(roc_auc(y_test, scores))
            kss.append(ks_statistic(y_test, scores))
        sigma = None if epsilon is None else LabelPrivacy(epsilon, delta, epochs).sigma
        result = PrivacyResult(
            epsilon, delta, sigma, statistics.fmean(aucs), min(aucs), max(aucs),
            statistics.fmean(kss), repeats,
        )  # fmt: skip
        results.append(result)
        shown = "none" if epsilon is None else f"{epsilon:g}"
        log(
            f"epsilon {shown:>5}: AUC {result.auc_mean:.4f} ({result.auc_min:.4f}-"
            f"{result.auc_max:.4f}), KS {result.ks_mean:.4f}"
            + ("" if sigma is None else f", sigma {sigma:.3f}")
        )
    return results, _guest_only_auc(a_train, y_train, a_test, y_test)


def markdown_table(results: list[PrivacyResult], floor: float) -> str:
    """The results as a Markdown table."""
    lines = [
        "| epsilon (delta 1e-5, 4 epochs) | noise sigma | held-out AUC, mean (min-max) | KS |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        epsilon = "no noise" if r.epsilon is None else f"{r.epsilon:g}"
        sigma = "-" if r.sigma is None else f"{r.sigma:.2f}"
        lines.append(
            f"| {epsilon} | {sigma} | {r.auc_mean:.4f} ({r.auc_min:.4f}-{r.auc_max:.4f}) | "
            f"{r.ks_mean:.4f} |"
        )
    lines.append(f"| bank A alone (scikit-learn) | - | {floor:.4f} | - |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks label_privacy``."""
    epsilons: list[float | None] = [None, *(args.epsilons or DEFAULT_EPSILONS[1:])]
    results, floor = run(epsilons, args.repeats, args.delta)
    table = markdown_table(results, floor)
    print(table)
    document: dict[str, Any] = {
        "meta": report.build_meta(
            args.argv, {"repeats": args.repeats, "delta": args.delta, "epsilons": epsilons}
        ),
        "results": [asdict(r) for r in results],
        "guest_only_auc": floor,
        "table": table,
    }
    output = Path(args.output)
    report.write_document(output, document)
    print(f"results -> {output}", file=sys.stderr)
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""The entry of :data:`benchmarks.__main__.SUITES`."""
