"""``vfl demo``: two banks build a credit scorecard together, end to end, on one machine.

The demo stages what two real banks would do, each step with the engine's real parts:

1. **data**: the built-in raw UCI credit-card file is split between bank A (labels,
   repayment history, limit, demographics) and bank B (bill and payment amounts),
   into training customers that only partly overlap and a file of new customers
   (:mod:`vfl.tables.demo_data`); every file is shuffled on its own;
2. **certificates**: a job CA and one TLS certificate per bank, made on the fly;
3. **training job**: ``vfl run --party bank-a`` and ``vfl run --party bank-b`` as two
   separate processes over mutual TLS on localhost: ECDH PSI on the customer ids;
   shared-mode hetero logistic regression on the raw columns (each bank scaling and
   log-transforming its own); the credit pipeline: binning of every column by each
   bank on its own data, WOE and IV (bank B's from bank A's encrypted labels),
   selection by IV, hetero logistic regression on the selected WOE columns, and a
   scorecard (points per bin; 2048-bit Paillier keys, no bank learns a gradient);
   each bank keeps its own model files;
4. **scoring job**: the same two processes score the new customers with both banks'
   saved model files (PSI again, then the raw model, then the binned model with its
   points; bank A learns a probability, and the points, per customer);
5. **references**: scikit-learn on bank A's features alone (what bank A can do without
   bank B), on both banks' raw features pooled, and on the pooled WOE columns of the
   same binning computed centrally (possible only in a demo, where one machine holds
   both banks' data);
6. **report**: metrics on the new customers' later outcomes, ROC, KS and training
   plots, the IV table, a WOE plot per feature and the scorecard, Markdown and HTML
   (:mod:`vfl.report`).

Everything is written under the work folder (``demo-output`` by default).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.paillier.keys import check_key_length
from protocols.hetero_lr.scoring import sigmoid
from vfl.certs import create_job_certificates
from vfl.evaluation.report import (
    BinnedFeature,
    ModelScores,
    Report,
    ScorecardEntry,
    format_table,
    write_report,
)
from vfl.exceptions import DataError, VflError
from vfl.tables.binning_model import (
    BinningSettings,
    PartyBinning,
    finish_binning,
    own_statistics,
    prepare_bins,
)
from vfl.tables.datasets import PartyTable, read_party_csv
from vfl.tables.demo_data import (
    BANK_A_FEATURES,
    BANK_A_LOG_COLUMNS,
    BANK_B_FEATURES,
    BANK_B_LOG_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    DemoSplit,
    load_uci_credit_card,
    select_columns,
    split_for_demo,
)
from vfl.tables.models import PartyModel, Scaling

__all__ = ["BANKS", "CUSTOMERS", "EPOCHS", "DemoResult", "run_demo"]

BANKS = ("bank-a", "bank-b")
"""The demo's parties: bank A is the guest (labels), bank B the host."""
GENERATED = ("data", "certs", "output", "models", "report", "training.toml", "scoring.toml")
"""What the demo writes in its work folder (and replaces on the next run)."""
PARTY_TIMEOUT = 600.0
"""Seconds a party waits for its peer's next message before giving up."""
SCORE_TOLERANCE = 1e-6
"""Largest difference allowed between the job's scores (probabilities and points) and a
plaintext recomputation."""
TRAINING = {
    "mode": "shared",
    "loss": "logistic",
    "optimizer": "sgd",
    "learning_rate": 0.3,
    "batch_size": 1024,
    "penalty": "l2",
    "alpha": 0.0,
    "convergence": "max_iter",
    "n_jobs": -1,
}
"""The demo's training settings (besides the epochs and the key length).

Shared mode (the engine's default: no bank learns a gradient) with the logistic loss.
Chosen on the plaintext backend (identical arithmetic) over three batch plans, on the
demo's default 6,000 customers (3,600 common training rows): plain SGD at 0.3 for 3
epochs gave held-out AUC 0.7535-0.7539, 20 epochs at 0.1 0.7567-0.7569.
"""
BINNING = {"method": "optimal", "n_bins": 10, "min_iv": 0.02}
"""The demo's binning: fine quantile bins merged to a monotonic WOE, features kept from
an IV of 0.02 (the usual "weak" threshold)."""
SCORECARD = {"base_score": 600, "pdo": 20, "base_odds": 50}
"""The demo's points: 600 at good:bad odds of 50, 20 more points per doubling of the odds."""
MODELS = ("raw", "binned")
"""The two federated models: on the raw columns, and on the selected WOE columns."""
TRAINING_STEPS = {"raw": 1, "binning": 2, "binned": 3, "scorecard": 4}
"""The training job's step index of each output (step 0 is PSI)."""
SCORING_STEPS = {"raw": 1, "binned": 2}
"""The scoring job's step index of each model's scores (step 0 is PSI)."""
CUSTOMERS = 6000
"""Customers the demo uses by default (of 30,000).  Shared mode computes on shares
(several Paillier operations per row and feature), several times the two-party
mode's work per row, so the demo trains on a subset to stay near a minute or two;
``customers=None`` uses all 30,000."""
EPOCHS = 3
"""Training epochs by default."""

FloatArray = npt.NDArray[np.float64]
Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    workdir : Path
        The folder holding every file of the run.
    report : Report
        The metrics per model and the report's files.
    split : DemoSplit
        The banks' data files and their sizes.
    seconds : float
        Wall time of the whole demo.
    max_score_difference : float
        Largest difference between bank A's scores from the scoring job and the
        same scores recomputed in plaintext from both banks' model files.
    """

    workdir: Path
    report: Report
    split: DemoSplit
    seconds: float
    max_score_difference: float


# -- job files -----------------------------------------------------------------------------
def _toml(value: object) -> str:
    """A TOML literal for a string, number, bool or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes as JSON
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def _table(values: dict[str, object]) -> str:
    return "{ " + ", ".join(f"{key} = {_toml(value)}" for key, value in values.items()) + " }"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _job_file(
    workdir: Path,
    name: str,
    *,
    data: dict[str, dict[str, object]],
    steps: Sequence[dict[str, object]],
    allow_weak_keys: bool,
) -> Path:
    """Write ``<workdir>/<name>.toml``: both banks on free localhost ports, mutual TLS."""
    lines = [
        f"# Written by `vfl demo`: the {name} job of bank A (guest) and bank B (host).",
        "# Run one side with: vfl run --config " + f"{name}.toml --party bank-a",
        "",
        "[job]",
        f"id = {_toml('demo-' + name)}",
        f"timeout = {PARTY_TIMEOUT}",
        "connect_timeout = 60",
        f"output_dir = {_toml('output/' + name)}",
        f"allow_weak_keys = {_toml(allow_weak_keys)}",
        "",
        "[tls]",
        'ca = "certs/ca.crt"',
    ]
    for bank, role in zip(BANKS, ("guest", "host"), strict=True):
        lines += [
            "",
            "[[parties]]",
            f"name = {_toml(bank)}",
            f"role = {_toml(role)}",
            f"address = {_toml(f'127.0.0.1:{_free_port()}')}",
            f"certificate = {_toml(f'certs/{bank}.crt')}",
            f"private_key = {_toml(f'certs/{bank}.key')}",
            f"data = {_table(data[bank])}",
        ]
    for step in steps:
        lines += ["", "[[steps]]", *(f"{key} = {_toml(value)}" for key, value in step.items())]
    path = workdir / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _data_section(
    path: Path, workdir: Path, *, labels: bool, log: Sequence[str]
) -> dict[str, object]:
    section: dict[str, object] = {
        "file": path.relative_to(workdir).as_posix(),
        "id_column": ID_COLUMN,
    }
    if labels:
        section["label_column"] = LABEL_COLUMN
    if log:
        section["log_columns"] = list(log)
    return section


# -- running the parties ---------------------------------------------------------------------
def _relay(stream: IO[str], log: Log, lines: list[str]) -> None:
    for line in stream:
        text = line.rstrip()
        if text:
            lines.append(text)
            log(f"    {text}")


def _run_parties(job_file: Path, workdir: Path, log: Log) -> None:
    """Run every bank's ``vfl run`` as its own process; raise naming a bank that failed."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes: dict[str, subprocess.Popen[str]] = {}
    relays: list[threading.Thread] = []
    output: dict[str, list[str]] = {}
    try:
        for bank in BANKS:
            command = [
                sys.executable,
                "-m",
                "vfl",
                "run",
                "--config",
                job_file.name,
                "--party",
                bank,
                "--progress",
                "lines",
                "--log-level",
                "WARNING",
            ]
            process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
                command,
                cwd=workdir,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            processes[bank] = process
            output[bank] = []
            assert process.stdout is not None
            relay = threading.Thread(target=_relay, args=(process.stdout, log, output[bank]))
            relay.start()
            relays.append(relay)
        failed = _wait(processes)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        for relay in relays:
            relay.join()
    if failed:
        reasons = "; ".join(
            f"{bank} exited with status {processes[bank].returncode}"
            + (f" ({output[bank][-1]})" if output[bank] else "")
            for bank in failed
        )
        raise VflError(f"the {job_file.stem} job failed: {reasons}")


def _wait(processes: dict[str, subprocess.Popen[str]], grace: float = 60.0) -> list[str]:
    """Wait for every process; once one fails, give the others ``grace`` seconds."""
    deadline: float | None = None
    while True:
        running = [bank for bank, p in processes.items() if p.poll() is None]
        failed = [bank for bank, p in processes.items() if p.returncode not in (None, 0)]
        if not running:
            return failed
        if failed and deadline is None:
            deadline = time.monotonic() + grace
        if deadline is not None and time.monotonic() > deadline:
            return failed
        time.sleep(0.1)


# -- evaluation --------------------------------------------------------------------------------
def _log_flags(names: Sequence[str], log: Sequence[str]) -> list[bool]:
    return [name in log for name in names]


def _reference(
    train: FloatArray, labels: npt.NDArray[Any], test: FloatArray, log: list[bool]
) -> FloatArray:
    """scikit-learn on the same feature transform the banks use; probabilities on ``test``."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    scaling = Scaling.fit(train, log=log)
    model = LogisticRegression(max_iter=2000).fit(scaling.transform(train), labels)
    probabilities: FloatArray = model.predict_proba(scaling.transform(test))[:, 1]
    return probabilities


def _rows_by_id(table: PartyTable, ids: Sequence[str]) -> npt.NDArray[np.intp]:
    position = {customer: row for row, customer in enumerate(table.ids)}
    missing = [customer for customer in ids if customer not in position]
    if missing:
        raise DataError(f"{len(missing)} ids (e.g. {missing[0]!r}) are missing from a demo file")
    return np.array([position[customer] for customer in ids], dtype=np.intp)


def _score_step(model: str) -> dict[str, object]:
    """The scoring job's step scoring with the saved ``model`` ("raw" or "binned")."""
    return {"type": "score", "models_dir": f"models/{model}"}


def _scores_file(workdir: Path, model: str = "binned") -> Path:
    """Bank A's scores of the new customers with the ``model`` ("raw" or "binned")."""
    step = SCORING_STEPS[model]
    return workdir / "output" / "scoring" / "bank-a" / f"step-{step}-scores.csv"


def _read_scores(path: Path) -> tuple[list[str], FloatArray, FloatArray | None]:
    """Ids, probabilities and (with a scorecard) points of a scores file."""
    table = read_party_csv(path, id_column="id")
    points = table.features[:, 1] if table.feature_names == ["probability", "points"] else None
    return table.ids, table.features[:, 0], points


@dataclass(frozen=True)
class _Tables:
    """The demo's files, read once: training, new customers and their outcomes."""

    a_train: PartyTable
    b_train: PartyTable
    a_new: PartyTable
    b_new: PartyTable
    outcomes: PartyTable

    @classmethod
    def read(cls, split: DemoSplit) -> _Tables:
        return cls(
            read_party_csv(split.bank_a_training, id_column=ID_COLUMN, label_column=LABEL_COLUMN),
            read_party_csv(split.bank_b_training, id_column=ID_COLUMN),
            read_party_csv(split.bank_a_new, id_column=ID_COLUMN),
            read_party_csv(split.bank_b_new, id_column=ID_COLUMN),
            read_party_csv(split.outcomes, id_column=ID_COLUMN, label_column=LABEL_COLUMN),
        )


def _federated_check(
    models: dict[str, PartyModel],
    a_new: PartyTable,
    b_new: PartyTable,
    ids: Sequence[str],
    probabilities: FloatArray,
    points: FloatArray | None,
) -> float:
    """The largest difference between the job's scores and the model files in plaintext.

    Each bank's binning, scaling and weights are applied to its new customers; with a
    scorecard, both banks' points are summed too.
    """
    a_rows, b_rows = _rows_by_id(a_new, ids), _rows_by_id(b_new, ids)
    a_part, b_part = (
        model.decision_part(model.features_from(table.take(rows).columns()))
        for model, table, rows in (
            (models["bank-a"], a_new, a_rows),
            (models["bank-b"], b_new, b_rows),
        )
    )
    difference = float(np.max(np.abs(probabilities - sigmoid(a_part + b_part))))
    a_points, b_points = models["bank-a"].points, models["bank-b"].points
    if points is not None and a_points is not None and b_points is not None:
        summed = a_points.points(a_new.take(a_rows).columns()) + b_points.points(
            b_new.take(b_rows).columns()
        )
        difference = max(difference, float(np.max(np.abs(points - summed))))
    return difference


def _pooled(tables: _Tables) -> tuple[list[str], FloatArray, npt.NDArray[Any]]:
    """The common training customers' raw columns of both banks, and the new customers'."""
    bank_b_ids = set(tables.b_train.ids)
    common = [customer for customer in tables.a_train.ids if customer in bank_b_ids]
    assert tables.a_train.labels is not None
    train = np.hstack(
        [
            select_columns(tables.a_train, BANK_A_FEATURES)[_rows_by_id(tables.a_train, common)],
            select_columns(tables.b_train, BANK_B_FEATURES)[_rows_by_id(tables.b_train, common)],
        ]
    )
    labels = tables.a_train.labels[_rows_by_id(tables.a_train, common)]
    return common, train, labels


def _central_binning(train: FloatArray, labels: npt.NDArray[Any], test: FloatArray) -> FloatArray:
    """The same pipeline in one place; probabilities on ``test``.

    Bins, WOE and selection on the pooled columns (the demo's settings), then
    scikit-learn on the WOE columns.
    """
    from sklearn.linear_model import LogisticRegression

    names = [*BANK_A_FEATURES, *BANK_B_FEATURES]
    settings = BinningSettings(**BINNING)  # type: ignore[arg-type]  # the demo's constants
    columns = {name: train[:, i] for i, name in enumerate(names)}
    bins, codes = prepare_bins(columns, settings)
    statistics = own_statistics(codes, [b.n_bins for b in bins], labels)
    binning = finish_binning(bins, statistics, settings, columns)
    model = LogisticRegression(max_iter=2000).fit(binning.transform(columns), labels)
    test_columns = {name: test[:, i] for i, name in enumerate(names)}
    probabilities: FloatArray = model.predict_proba(binning.transform(test_columns))[:, 1]
    return probabilities


def _evaluate(
    workdir: Path, split: DemoSplit, models: dict[str, dict[str, PartyModel]]
) -> tuple[list[ModelScores], float]:
    """Every model's scores on the new customers, and the scoring check."""
    tables = _Tables.read(split)
    assert tables.a_train.labels is not None and tables.outcomes.labels is not None
    federated: dict[str, FloatArray] = {}
    difference = 0.0
    scored_ids: list[str] = []
    for model in MODELS:
        ids, probabilities, points = _read_scores(_scores_file(workdir, model))
        if scored_ids and ids != scored_ids:
            raise VflError("the two scoring steps scored different customers")
        scored_ids = ids
        federated[model] = probabilities
        difference = max(
            difference,
            _federated_check(models[model], tables.a_new, tables.b_new, ids, probabilities, points),
        )
    labels = tables.outcomes.labels[_rows_by_id(tables.outcomes, scored_ids)].astype(np.float64)
    a_test = select_columns(tables.a_new, BANK_A_FEATURES)[_rows_by_id(tables.a_new, scored_ids)]
    b_test = select_columns(tables.b_new, BANK_B_FEATURES)[_rows_by_id(tables.b_new, scored_ids)]
    a_log = _log_flags(BANK_A_FEATURES, BANK_A_LOG_COLUMNS)
    b_log = _log_flags(BANK_B_FEATURES, BANK_B_LOG_COLUMNS)
    guest_only = _reference(
        select_columns(tables.a_train, BANK_A_FEATURES), tables.a_train.labels, a_test, a_log
    )
    common, pooled_train, pooled_labels = _pooled(tables)
    test = np.hstack([a_test, b_test])
    centralised = _reference(pooled_train, pooled_labels, test, a_log + b_log)
    central_binned = _central_binning(pooled_train, pooled_labels, test)
    rows = f"{len(common)} common customers"
    scores = [
        ModelScores(
            "federated binned",
            "the credit pipeline by both banks: each bank's bins, WOE from bank A's encrypted "
            "labels, selection by IV, hetero LR over Paillier encryption on the selected WOE "
            f"columns of their {rows}, and a scorecard; each bank holds only its own bins, "
            "weights and points",
            labels,
            federated["binned"],
        ),
        ModelScores(
            "federated raw",
            "hetero LR by both banks on their raw (scaled, log-transformed) columns of "
            f"their {rows}",
            labels,
            federated["raw"],
        ),
        ModelScores(
            "centralised binned",
            "the same bins, WOE and selection computed on both banks' columns pooled in one "
            f"place, then scikit-learn LogisticRegression on the WOE columns of the same {rows} "
            "(a reference no bank could build without sharing raw data)",
            labels,
            central_binned,
        ),
        ModelScores(
            "centralised raw",
            "scikit-learn LogisticRegression on both banks' raw features of the same "
            f"{rows} pooled in one place",
            labels,
            centralised,
        ),
        ModelScores(
            "guest only",
            f"scikit-learn LogisticRegression on bank A's {len(BANK_A_FEATURES)} features "
            f"and its {len(tables.a_train)} training customers: what bank A can do alone",
            labels,
            guest_only,
        ),
    ]
    return scores, difference


def _binned_features(models: dict[str, PartyModel]) -> list[BinnedFeature]:
    """Both banks' binned columns for the report (each bank's file shows its own)."""
    found = []
    for bank, model in models.items():
        binning: PartyBinning | None = model.binning
        assert binning is not None
        for feature in binning.features:
            found.append(
                BinnedFeature(
                    party=bank,
                    feature=feature.name,
                    labels=feature.bins.labels(),
                    woe=feature.woe,
                    rows=feature.rows,
                    iv=feature.iv,
                    selected=feature.name in binning.selected,
                )
            )
    return found


def _scorecard(models: dict[str, PartyModel]) -> list[ScorecardEntry]:
    """Both banks' points per bin for the report (the base points are bank A's)."""
    entries = []
    for bank, model in models.items():
        assert model.points is not None
        entries += [
            ScorecardEntry(bank, feature, label, points)
            for feature, label, points in model.points.rows()
        ]
    return entries


# -- the demo ----------------------------------------------------------------------------------
def _clean(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _stage(log: Log, number: int, text: str) -> float:
    log(f"[{number}/6] {text}")
    return time.perf_counter()


def _done(log: Log, started: float, text: str = "done") -> float:
    seconds = time.perf_counter() - started
    log(f"      {text} ({seconds:.1f} s)")
    return seconds


def run_demo(
    *,
    workdir: str | Path = "demo-output",
    key_length: int = 2048,
    epochs: int = EPOCHS,
    seed: int = 0,
    allow_weak_key: bool = False,
    customers: int | None = CUSTOMERS,
    log: Log = print,
) -> DemoResult:
    """Run the two-bank demo end to end; see the module documentation.

    Parameters
    ----------
    workdir : str or Path, default "demo-output"
        Folder for every file of the run; the demo's own files from an earlier run
        there are replaced, nothing else is touched.
    key_length : int, default 2048
        Paillier key bits of each bank.
    epochs : int, default 3
        Training epochs (:data:`EPOCHS`).
    seed : int, default 0
        Seeds the data split (the cryptography always uses the OS CSPRNG).
    allow_weak_key : bool, default False
        Permit ``key_length`` under 2048, down to 1024 (quick runs and tests only).
    customers : int or None, default 6000
        Use only this many of the 30,000 customers (:data:`CUSTOMERS`); ``None``: all.
    log : callable, default print
        Receives every progress line.

    Returns
    -------
    DemoResult

    Raises
    ------
    VflError
        If a party's process fails (the message names the bank and its last line),
        or the scoring job's scores differ from the plaintext recomputation.
    """
    started = time.perf_counter()
    folder = Path(workdir).resolve()
    try:  # the key policy of job files and the estimator, checked before any work
        check_key_length(key_length, allow_weak_key=allow_weak_key, flag="--allow-weak-key")
    except CryptoError as error:
        raise VflError(str(error)) from None
    try:
        import matplotlib  # noqa: F401  (the report's plots; checked before any work)
    except ImportError:
        raise VflError(
            "the demo's report draws plots with matplotlib: pip install 'vfl-engine[plot]'"
        ) from None
    if epochs < 1:
        raise VflError(f"epochs must be at least 1, not {epochs}")
    log(
        f"vfl demo: bank A and bank B train a default model together ({key_length}-bit "
        f"Paillier, mutual TLS), work folder {folder}"
    )
    _clean(folder)

    stage = _stage(log, 1, "data: split the UCI credit-card file between two banks")
    split = split_for_demo(load_uci_credit_card(), folder / "data", seed=seed, customers=customers)
    _done(
        log,
        stage,
        f"bank A {split.bank_a_rows} customers (label + {len(BANK_A_FEATURES)} features), "
        f"bank B {split.bank_b_rows} ({len(BANK_B_FEATURES)} features), {split.common_rows} "
        f"in common, {split.new_rows} new customers to score",
    )

    stage = _stage(log, 2, "certificates: a job CA and one certificate per bank")
    create_job_certificates(folder / "certs", list(BANKS), days=7)
    _done(log, stage)

    stage = _stage(
        log,
        3,
        "training job: PSI, hetero LR on raw columns, binning + selection, hetero LR on WOE "
        "columns, scorecard; one process per bank over mutual TLS",
    )
    lr = {**TRAINING, "max_iter": epochs, "key_length": key_length}
    training = _job_file(
        folder,
        "training",
        data={
            "bank-a": _data_section(
                split.bank_a_training, folder, labels=True, log=BANK_A_LOG_COLUMNS
            ),
            "bank-b": _data_section(
                split.bank_b_training, folder, labels=False, log=BANK_B_LOG_COLUMNS
            ),
        },
        steps=[
            {"type": "psi", "method": "ecdh"},
            {"type": "hetero_lr", **lr},
            {"type": "binning", **BINNING, "key_length": key_length},
            {"type": "hetero_lr", **lr},
            {"type": "scorecard", **SCORECARD},
        ],
        allow_weak_keys=allow_weak_key,
    )
    _run_parties(training, folder, log)
    models: dict[str, dict[str, PartyModel]] = {model: {} for model in MODELS}
    for model, step in (("raw", TRAINING_STEPS["raw"]), ("binned", TRAINING_STEPS["scorecard"])):
        (folder / "models" / model).mkdir(parents=True, exist_ok=True)
        for bank in BANKS:
            source = folder / "output" / "training" / bank / f"step-{step}-model.json"
            models[model][bank] = PartyModel.load(source)
            shutil.copyfile(source, folder / "models" / model / f"{bank}.json")
    training_seconds = _done(log, stage, f"each bank's own model files in {folder / 'models'}")

    stage = _stage(log, 4, "scoring job: PSI, then the new customers scored with both models")
    scoring = _job_file(
        folder,
        "scoring",
        data={
            "bank-a": _data_section(split.bank_a_new, folder, labels=False, log=()),
            "bank-b": _data_section(split.bank_b_new, folder, labels=False, log=()),
        },
        steps=[
            {"type": "psi", "method": "ecdh"},
            *(_score_step(model) for model in MODELS),
        ],
        allow_weak_keys=allow_weak_key,
    )
    _run_parties(scoring, folder, log)
    scoring_seconds = _done(log, stage, f"bank A's scores and points in {_scores_file(folder)}")

    stage = _stage(
        log,
        5,
        "references: bank A alone, and both banks' data pooled, raw and binned (scikit-learn)",
    )
    scores, difference = _evaluate(folder, split, models)
    if not difference <= SCORE_TOLERANCE:
        raise VflError(
            f"the scoring job's probabilities or points differ from the model files' by "
            f"{difference:.2e}"
        )
    _done(
        log,
        stage,
        "scores and points match a plaintext recomputation from the model files "
        f"({difference:.1e})",
    )

    stage = _stage(
        log, 6, "report: metrics on the new customers' outcomes, ROC, KS, IV, WOE and scorecard"
    )
    binned = models["binned"]
    summary = json.loads(
        (folder / "output" / "training" / "bank-a" / "step-2-binning.json").read_text("utf-8")
    )
    facts = [
        (
            "customers",
            f"bank A {split.bank_a_rows}, bank B {split.bank_b_rows}, common {split.common_rows}",
        ),
        ("new customers", str(split.new_rows)),
        ("Paillier key", f"{key_length} bits per bank"),
        (
            "training mode",
            f"{binned['bank-a'].mode}, {binned['bank-a'].loss} loss"
            + (" (no bank learns a gradient)" if binned["bank-a"].mode == "shared" else ""),
        ),
        ("training", f"{epochs} epochs, " + ", ".join(f"{k} {v}" for k, v in TRAINING.items())),
        ("binning", ", ".join(f"{k} {v}" for k, v in BINNING.items())),
        (
            "selected WOE columns",
            ", ".join(
                f"{bank} {len(model.feature_names)} of {len(model.binning.features)}"
                for bank, model in binned.items()
                if model.binning is not None
            ),
        ),
        ("binning step", f"{summary['seconds']:.1f} s"),
        ("scorecard", ", ".join(f"{k} {v}" for k, v in SCORECARD.items())),
        ("training job (PSI, 2 trainings, binning, scorecard)", f"{training_seconds:.1f} s"),
        ("scoring job (PSI + 2 scorings)", f"{scoring_seconds:.1f} s"),
        ("seed", str(seed)),
    ]
    report = write_report(
        folder / "report",
        scores,
        history=binned["bank-a"].history,
        facts=facts,
        title="vfl demo: two banks' joint credit scorecard",
        binned=_binned_features(binned),
        scorecard=_scorecard(binned),
    )
    _done(log, stage, f"{report.files['html']} and {report.files['markdown']}")

    seconds = time.perf_counter() - started
    log("")
    log(
        f"held-out new customers: {int(report.metrics['federated binned']['rows'])} "
        f"({int(report.metrics['federated binned']['positives'])} defaulted)"
    )
    log(format_table(report.metrics))
    log("")
    log(f"total time {seconds:.1f} s")
    return DemoResult(folder, report, split, seconds, difference)
