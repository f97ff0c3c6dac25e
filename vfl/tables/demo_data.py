"""The demo's data: the raw UCI credit-card file split between two banks.

``vfl/data/UCI_Credit_Card.csv`` holds 30,000 customers of a Taiwanese bank with their
real column names (see ``vfl/data/README.md``).  :func:`split_for_demo` plays the part
of the world: it splits the columns between two banks and the customers into

- *training customers*, of which each bank holds most but not all, so that private
  set intersection has real work (each bank lacks a different few);
- *new customers* (a stratified share), whom both banks know and whom bank A scores
  with the trained model; how they turned out is kept in a separate outcomes file,
  which only the demo's report reads (a back-test).

Bank A is the label holder: whether the customer defaulted next month, the repayment
history ``PAY_0``, ``PAY_2`` .. ``PAY_6`` and the customer's limit and demographics.
Bank B holds the bill amounts ``BILL_AMT1..6`` and payment amounts ``PAY_AMT1..6``.
Every file is shuffled on its own.  The shuffles and splits use numpy's seeded
generator: they stage a demo, they protect nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vfl.exceptions import DataError
from vfl.tables.datasets import PartyTable, read_party_csv, write_party_csv

__all__ = [
    "BANK_A_FEATURES",
    "BANK_A_LOG_COLUMNS",
    "BANK_B_FEATURES",
    "BANK_B_LOG_COLUMNS",
    "ID_COLUMN",
    "LABEL_COLUMN",
    "DemoSplit",
    "load_uci_credit_card",
    "select_columns",
    "split_for_demo",
]

RAW_FILE = "UCI_Credit_Card.csv"
ID_COLUMN = "ID"
LABEL_COLUMN = "default.payment.next.month"
BANK_A_FEATURES = (
    "LIMIT_BAL",
    "SEX",
    "EDUCATION",
    "MARRIAGE",
    "AGE",
    "PAY_0",
    "PAY_2",
    "PAY_3",
    "PAY_4",
    "PAY_5",
    "PAY_6",
)
"""Bank A's columns: the credit limit, demographics and the repayment history."""
BANK_B_FEATURES = tuple(f"BILL_AMT{i}" for i in range(1, 7)) + tuple(
    f"PAY_AMT{i}" for i in range(1, 7)
)
"""Bank B's columns: six months of bill amounts and payment amounts."""
BANK_A_LOG_COLUMNS = ("LIMIT_BAL",)
"""Bank A's heavy-tailed amount, log-transformed before scaling."""
BANK_B_LOG_COLUMNS = BANK_B_FEATURES
"""Bank B's amounts are all heavy-tailed (and bills can be negative: a signed log)."""


@dataclass(frozen=True)
class DemoSplit:
    """Where :func:`split_for_demo` wrote each bank's files, and how many rows.

    Attributes
    ----------
    bank_a_training, bank_b_training : Path
        Each bank's training customers (bank A's with the label).
    bank_a_new, bank_b_new : Path
        Each bank's features of the new customers (no label).
    outcomes : Path
        ``ID`` and label of the new customers: what happened later (report only).
    bank_a_rows, bank_b_rows, common_rows, new_rows : int
        Training customers per bank, those both hold, and new customers.
    """

    bank_a_training: Path
    bank_b_training: Path
    bank_a_new: Path
    bank_b_new: Path
    outcomes: Path
    bank_a_rows: int
    bank_b_rows: int
    common_rows: int
    new_rows: int


def load_uci_credit_card(path: str | Path | None = None) -> PartyTable:
    """The raw UCI credit-card table: ids, every feature column, the default label.

    Parameters
    ----------
    path : str or Path, optional
        A copy of ``UCI_Credit_Card.csv``; the built-in one by default.

    Returns
    -------
    PartyTable
        30,000 rows for the built-in file, 23 features, labels (22 % defaults).

    Examples
    --------
    >>> table = load_uci_credit_card()
    >>> len(table), len(table.feature_names), int(table.labels.sum())
    (30000, 23, 6636)
    """
    if path is not None:
        return read_party_csv(path, id_column=ID_COLUMN, label_column=LABEL_COLUMN)
    with resources.as_file(resources.files("vfl") / "data" / RAW_FILE) as builtin:
        return read_party_csv(builtin, id_column=ID_COLUMN, label_column=LABEL_COLUMN)


def select_columns(table: PartyTable, names: Sequence[str]) -> npt.NDArray[np.float64]:
    """The matrix of ``table``'s columns ``names``, in that order.

    Raises
    ------
    DataError
        If a column is missing.
    """
    missing = [name for name in names if name not in table.feature_names]
    if missing:
        raise DataError(f"the credit-card table has no column(s) {missing}")
    return table.features[:, [table.feature_names.index(name) for name in names]]


def _bank_table(
    table: PartyTable, rows: npt.NDArray[np.intp], names: tuple[str, ...], *, labels: bool
) -> PartyTable:
    return PartyTable(
        ids=[table.ids[i] for i in rows.tolist()],
        features=select_columns(table, names)[rows],
        feature_names=list(names),
        labels=table.labels[rows] if labels and table.labels is not None else None,
    )


def _stratified_holdout(
    labels: npt.NDArray[np.int64], fraction: float, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """A mask of ``fraction`` of the rows of each class, drawn at random."""
    held = np.zeros(labels.size, dtype=bool)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        held[members[: round(fraction * members.size)]] = True
    return held


def split_for_demo(
    table: PartyTable,
    folder: str | Path,
    *,
    seed: int = 0,
    new_fraction: float = 0.3,
    missing_fraction: float = 1 / 14,
    customers: int | None = None,
) -> DemoSplit:
    """Write the two banks' training and new-customer files under ``folder``.

    Parameters
    ----------
    table : PartyTable
        The raw table (:func:`load_uci_credit_card`), with labels.
    folder : str or Path
        Gets ``bank-a/`` and ``bank-b/`` with ``customers.csv`` and
        ``new-customers.csv`` each, and ``bank-a/new-customers-outcomes.csv``.
    seed : int, default 0
        Seeds the splits and shuffles.
    new_fraction : float, default 0.3
        Share of the customers held out as new customers (stratified by label).
    missing_fraction : float, default 1/14
        Share of the training customers each bank lacks (different ones per bank):
        with the defaults each bank holds 19,500 of 21,000 and 18,000 are common.
    customers : int, optional
        Use only this many customers, drawn at random (quick runs and tests).

    Returns
    -------
    DemoSplit

    Raises
    ------
    DataError
        If the table has no labels, lacks a bank's column, or is too small to split.
    """
    if table.labels is None:
        raise DataError("the demo split needs the table's default labels")
    if not 0 < new_fraction < 1 or not 0 <= missing_fraction < 0.5:
        raise DataError("new_fraction must be in (0, 1) and missing_fraction in [0, 0.5)")
    rng = np.random.default_rng(seed)
    chosen = np.arange(len(table))
    if customers is not None:
        if not 100 <= customers <= len(table):
            raise DataError(f"customers must be between 100 and {len(table)}, not {customers}")
        chosen = np.sort(rng.choice(len(table), size=customers, replace=False))
    labels = table.labels[chosen]
    held = _stratified_holdout(labels, new_fraction, rng)
    new = chosen[held]
    training = rng.permutation(chosen[~held])
    missing = round(missing_fraction * training.size)
    lacking_a, lacking_b = training[:missing], training[missing : 2 * missing]
    bank_a_rows = rng.permutation(np.setdiff1d(training, lacking_a))
    bank_b_rows = rng.permutation(np.setdiff1d(training, lacking_b))
    folder = Path(folder)
    paths = {
        "a_train": folder / "bank-a" / "customers.csv",
        "b_train": folder / "bank-b" / "customers.csv",
        "a_new": folder / "bank-a" / "new-customers.csv",
        "b_new": folder / "bank-b" / "new-customers.csv",
        "outcomes": folder / "bank-a" / "new-customers-outcomes.csv",
    }
    write = write_party_csv
    write(
        _bank_table(table, bank_a_rows, BANK_A_FEATURES, labels=True),
        paths["a_train"],
        id_column=ID_COLUMN,
        label_column=LABEL_COLUMN,
    )
    write(
        _bank_table(table, bank_b_rows, BANK_B_FEATURES, labels=False),
        paths["b_train"],
        id_column=ID_COLUMN,
    )
    write(
        _bank_table(table, rng.permutation(new), BANK_A_FEATURES, labels=False),
        paths["a_new"],
        id_column=ID_COLUMN,
    )
    write(
        _bank_table(table, rng.permutation(new), BANK_B_FEATURES, labels=False),
        paths["b_new"],
        id_column=ID_COLUMN,
    )
    write(
        _bank_table(table, new, (), labels=True),
        paths["outcomes"],
        id_column=ID_COLUMN,
        label_column=LABEL_COLUMN,
    )
    return DemoSplit(
        bank_a_training=paths["a_train"],
        bank_b_training=paths["b_train"],
        bank_a_new=paths["a_new"],
        bank_b_new=paths["b_new"],
        outcomes=paths["outcomes"],
        bank_a_rows=int(bank_a_rows.size),
        bank_b_rows=int(bank_b_rows.size),
        common_rows=int(training.size - 2 * missing),
        new_rows=int(new.size),
    )
