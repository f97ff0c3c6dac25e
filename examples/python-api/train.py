"""Hetero logistic regression from Python, end to end, on the built-in breast data.

Two organisations hold different columns of partly the same customers: the guest
has the label and 26 features, the host 4 more features (of the built-in data's
host file, the guest takes x4..x19 and the host keeps x0..x3: see ``HOST_FEATURES``).
This script plays both of them in one process (every message still goes through the
real protocol and Paillier encryption) and shows the whole Python API:

1. load each party's table and keep a random, shuffled part of it, so that the two
   id lists only partly overlap, as real customer files do;
2. align the rows on the common ids with private set intersection
   (``vfl.intersect``);
3. split the aligned rows into training and held-out rows;
4. train ``vfl.HeteroLogisticRegression`` and evaluate it on the held-out rows;
5. compare with scikit-learn's ``LogisticRegression`` on the joined columns (what a
   single organisation holding every column would get) and on the guest's alone;
6. save each party's model file (its own weights and scaling only).

Run from the repository root (after ``make demo`` or ``pip install .``)::

    python examples/python-api/train.py                  # 2048-bit keys, 10 epochs
    python examples/python-api/train.py --key-length 1024 --allow-weak-key --max-iter 3

Between real organisations, run a job file with ``vfl run`` on each side instead
(``examples/hetero-lr``); the model files written here have the same format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import vfl
from crypto.exceptions import CryptoError
from protocols.exceptions import ProtocolError
from vfl.datasets import PartyTable, load_builtin
from vfl.exceptions import VflError
from vfl.metrics import evaluate

STRONG_KEY_BITS = 2048
ROWS_PER_PARTY = 500  # of the 569 customers: the common ids are about 440
HOST_FEATURES = 4
"""The host's share of the columns.  Each party learns its own exact gradient per batch,
and a host's gradient must not carry more than half of what a batch's labels hold (the
label-information bound, SECURITY.md §11): a batch of 220 of these labels holds about
210 bits, each host feature adds about 25 bits.  With all 20 of the host file's
features, no batch of the ~300 training rows would pass and training is refused."""
BATCH_SIZE = 220


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="Train a hetero logistic regression with the Python API on built-in data.",
    )
    parser.add_argument(
        "--key-length",
        type=int,
        default=STRONG_KEY_BITS,
        help="Paillier key length in bits (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-weak-key",
        action="store_true",
        help="permit keys under 2048 bits (quick trials and tests only)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("output"),
        help="folder for the party model files (default: %(default)s)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=10, help="epochs at most (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the row sampling, the split and the batch plan (default: %(default)s)",
    )
    arguments = parser.parse_args(argv)
    if arguments.key_length < STRONG_KEY_BITS and not arguments.allow_weak_key:
        parser.error(
            f"a {arguments.key_length}-bit key is weak; use at least {STRONG_KEY_BITS} bits, "
            "or add --allow-weak-key for a quick trial"
        )
    if arguments.output.exists() and not arguments.output.is_dir():
        parser.error(f"--output {arguments.output} is a file, not a folder")
    if arguments.max_iter < 1:
        parser.error("--max-iter must be at least 1")
    return arguments


def share_columns(guest: PartyTable, host: PartyTable) -> tuple[PartyTable, PartyTable]:
    """Move all but the first ``HOST_FEATURES`` of the host file's columns to the guest.

    The built-in breast files list the same ids in the same order, so the rows line up.
    """
    assert guest.ids == host.ids
    moved = [f"host_{name}" for name in host.feature_names[HOST_FEATURES:]]
    return (
        PartyTable(
            guest.ids,
            np.hstack([guest.features, host.features[:, HOST_FEATURES:]]),
            guest.feature_names + moved,
            guest.labels,
        ),
        PartyTable(host.ids, host.features[:, :HOST_FEATURES], host.feature_names[:HOST_FEATURES]),
    )


def sample(table: PartyTable, rng: np.random.Generator) -> PartyTable:
    """A random ``ROWS_PER_PARTY`` of the party's rows, in a random order."""
    return table.take(rng.permutation(len(table))[:ROWS_PER_PARTY])


def main(argv: list[str] | None = None) -> int:
    """Run the example; return the exit status."""
    arguments = parse_arguments(argv)
    arguments.output.mkdir(parents=True, exist_ok=True)  # fail now, not after training
    rng = np.random.default_rng(arguments.seed)

    # 1. Each party's own table: the guest's has labels.  Each keeps ~500 of the 569
    #    customers, shuffled, so the id lists overlap only partly.
    guest_all, host_all = share_columns(*load_builtin("breast"))
    guest, host = sample(guest_all, rng), sample(host_all, rng)

    # 2. Private set intersection: the k-th common id is row guest_index[k] of the
    #    guest and row host_index[k] of the host.  Neither party learns the other's
    #    customers outside the intersection.
    common = vfl.intersect(guest.ids, host.ids)
    assert common.guest_index is not None and common.host_index is not None
    # The agreed order is random (fresh every run).  Both parties know the common ids,
    # so each can sort its rows by id on its own: the rows stay aligned and the split
    # below is the same on every run.
    order = np.argsort([guest.ids[row] for row in common.guest_index])
    guest = guest.take(common.guest_index[order])
    host = host.take(common.host_index[order])
    assert guest.labels is not None
    print(
        f"guest and host each keep {ROWS_PER_PARTY} of {len(guest_all)} customers; "
        f"{common.size} are common (private set intersection)"
    )

    # 3. A stratified 70/30 split of the aligned rows.  The guest draws it (it holds
    #    the labels) and tells the host which row numbers are held out.
    train, test = train_test_split(
        np.arange(common.size),
        test_size=0.3,
        stratify=guest.labels,
        random_state=arguments.seed,
    )
    guest_train, guest_test = guest.features[train], guest.features[test]
    host_train, host_test = host.features[train], host.features[test]
    y_train, y_test = guest.labels[train], guest.labels[test]

    # 4. Train.  batch_size: the label-information bound (HOST_FEATURES above); the
    #    protocol refuses smaller batches.  "balanced" weights the classes equally
    #    (useful for rare labels such as fraud).
    model = vfl.HeteroLogisticRegression(
        key_length=arguments.key_length,
        allow_weak_key=arguments.allow_weak_key,
        batch_size=BATCH_SIZE,
        optimizer="sgd",
        learning_rate=0.2,
        max_iter=arguments.max_iter,
        class_weight="balanced",
        random_state=arguments.seed,  # fixes the batch plan and the guest's first weights
    )
    print(f"training on {len(train)} rows with {arguments.key_length}-bit Paillier keys ...")
    model.fit(guest_train, y_train, hosts=[host_train])
    federated = model.evaluate(guest_test, y_test, hosts=[host_test])  # auc, ks, f1, lift...

    # 5. What one organisation holding every column would get, and the guest alone.
    joined = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    joined.fit(np.hstack([guest_train, host_train]), y_train)
    joined_report = evaluate(y_test, joined.predict_proba(np.hstack([guest_test, host_test]))[:, 1])
    alone = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    alone.fit(guest_train, y_train)
    alone_report = evaluate(y_test, alone.predict_proba(guest_test)[:, 1])

    # 6. Each party saves only its own model: its weights and its scaling (the
    #    simulated parties are called "guest" and "host", hence the file names).  Reload
    #    them with vfl.PartyModel.load, and score later with
    #    HeteroLogisticRegression.from_party_models(guest_model, [host_model]).
    saved = [
        party_model.save(arguments.output / f"{name}.json")
        for name, party_model in model.party_models_.items()
    ]

    print()
    print(f"held-out rows: {len(test)} ({int(y_test.sum())} positive)")
    print(f"{'model':<40} {'AUC':>7} {'KS':>7} {'F1':>7}")
    rows = [
        (f"federated hetero LR ({model.n_iter_} epoch(s))", federated),
        ("scikit-learn, joined columns", joined_report),
        ("scikit-learn, guest's columns alone", alone_report),
    ]
    for label, report in rows:
        print(f"{label:<40} {report['auc']:>7.4f} {report['ks']:>7.4f} {report['f1']:>7.4f}")
    print()
    for path in saved:
        print(f"model file: {path}")
    return 0


def run(argv: list[str] | None = None) -> int:
    """:func:`main`, with a one-line message and status 1 on a failure."""
    try:
        return main(argv)
    except (VflError, ProtocolError, CryptoError, OSError, ValueError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
