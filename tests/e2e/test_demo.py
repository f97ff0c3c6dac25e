"""`vfl demo`: the data split, the whole job as real processes, and a failing party."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfl.demo import BANKS, _data_section, _job_file, _run_parties
from vfl.exceptions import DataError, VflError
from vfl.tables.datasets import read_party_csv
from vfl.tables.demo_data import (
    BANK_A_FEATURES,
    BANK_B_FEATURES,
    ID_COLUMN,
    LABEL_COLUMN,
    load_uci_credit_card,
    split_for_demo,
)
from vfl.tables.models import PartyModel


@pytest.fixture(scope="module")
def raw_table():  # type: ignore[no-untyped-def]
    return load_uci_credit_card()


def test_the_builtin_file_is_the_raw_uci_table(raw_table) -> None:  # type: ignore[no-untyped-def]
    assert len(raw_table) == 30000
    assert raw_table.feature_names == [*BANK_A_FEATURES[:5], *BANK_A_FEATURES[5:], *BANK_B_FEATURES]
    assert int(raw_table.labels.sum()) == 6636
    assert raw_table.ids[:3] == ["1", "2", "3"]
    assert raw_table.features[0, :6].tolist() == [20000.0, 2.0, 2.0, 1.0, 24.0, 2.0]


def test_the_split_gives_each_bank_its_columns_and_overlapping_shuffled_rows(
    raw_table,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    split = split_for_demo(raw_table, tmp_path, seed=3)
    assert (split.bank_a_rows, split.bank_b_rows, split.common_rows, split.new_rows) == (
        19500,
        19500,
        18000,
        9000,
    )
    a = read_party_csv(split.bank_a_training, id_column=ID_COLUMN, label_column=LABEL_COLUMN)
    b = read_party_csv(split.bank_b_training, id_column=ID_COLUMN)
    a_new = read_party_csv(split.bank_a_new, id_column=ID_COLUMN)
    b_new = read_party_csv(split.bank_b_new, id_column=ID_COLUMN)
    outcomes = read_party_csv(split.outcomes, id_column=ID_COLUMN, label_column=LABEL_COLUMN)
    assert a.feature_names == list(BANK_A_FEATURES) and b.feature_names == list(BANK_B_FEATURES)
    assert b.labels is None and a_new.labels is None and b_new.labels is None
    assert outcomes.feature_names == []
    assert len(set(a.ids) & set(b.ids)) == 18000
    assert len(set(a.ids) | set(b.ids)) == 21000
    assert set(a_new.ids) == set(b_new.ids) == set(outcomes.ids)
    assert not set(a_new.ids) & (set(a.ids) | set(b.ids))
    assert a_new.ids != b_new.ids and a.ids != sorted(a.ids, key=int)  # shuffled on their own
    # the rows are the raw rows, labels included; the held-out share is stratified
    position = {customer: row for row, customer in enumerate(raw_table.ids)}
    rows = [position[c] for c in a.ids]
    assert np.array_equal(a.features, raw_table.features[:, :11][rows])
    assert np.array_equal(a.labels, raw_table.labels[rows])
    b_rows = [position[c] for c in b_new.ids]
    assert np.array_equal(b_new.features, raw_table.features[:, 11:][b_rows])
    assert int(outcomes.labels.sum()) == round(0.3 * 6636)
    again = split_for_demo(raw_table, tmp_path / "again", seed=3)
    assert split.bank_a_training.read_bytes() == again.bank_a_training.read_bytes()


def test_bad_split_requests_are_refused(raw_table, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="customers must be between 100"):
        split_for_demo(raw_table, tmp_path, customers=10)
    with pytest.raises(DataError, match="new_fraction"):
        split_for_demo(raw_table, tmp_path, new_fraction=1.0)


def test_make_demo_runs_the_whole_job_as_processes(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vfl",
            "demo",
            "--workdir",
            str(workdir),
            "--key-length",
            "1024",
            "--allow-weak-key",
            "--customers",
            "2500",
            "--epochs",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for stage in range(1, 7):
        assert f"[{stage}/6]" in out
    assert "bank-a: hetero_lr 100%" in out and "bank-b: psi 100%" in out  # progress lines
    assert "bank-b: binning 100%" in out
    assert "total time" in out
    names = ("federated binned", "federated raw", "centralised binned", "centralised raw")
    for model in (*names, "guest only"):
        assert any(line.startswith(model) for line in out.splitlines())

    report = workdir / "report"
    metrics = json.loads((report / "metrics.json").read_text())["models"]
    assert set(metrics) == {*names, "guest only"}
    assert all(m["rows"] == 750 for m in metrics.values())
    assert all(metrics[name]["auc"] > 0.68 for name in names)
    for name in ("report.md", "report.html", "roc.png", "ks.png", "training.png", "iv.csv"):
        assert (report / name).stat().st_size > 500
    assert "| federated binned |" in (report / "report.md").read_text()
    # the IV table, a WOE plot per binned feature and the scorecard
    with (report / "iv.csv").open() as stream:
        ivs = list(csv.DictReader(stream))
    assert {(r["party"], r["feature"]) for r in ivs} == {
        *(("bank-a", f) for f in BANK_A_FEATURES),
        *(("bank-b", f) for f in BANK_B_FEATURES),
    }
    for row in ivs:
        assert (report / f"woe-{row['party']}-{row['feature']}.png").stat().st_size > 500
    markdown = (report / "report.md").read_text()
    assert "## Information value" in markdown and "## Scorecard" in markdown
    assert (report / "scorecard.csv").stat().st_size > 200

    # each bank keeps only its own weights; the transforms travel with the model
    bank_a = PartyModel.load(workdir / "models" / "raw" / "bank-a.json")
    bank_b = PartyModel.load(workdir / "models" / "raw" / "bank-b.json")
    assert bank_a.feature_names == list(BANK_A_FEATURES) and bank_a.role == "guest"
    assert bank_b.feature_names == list(BANK_B_FEATURES) and bank_b.intercept == 0.0
    assert bank_a.scaling is not None and bank_a.scaling.log == (True,) + (False,) * 10
    assert bank_b.scaling is not None and bank_b.scaling.log == (True,) * 12
    assert len(bank_a.history) == 3 and bank_a.key_length == 1024
    binned = {
        bank: PartyModel.load(workdir / "models" / "binned" / f"{bank}.json") for bank in BANKS
    }
    for bank, model in binned.items():  # its own binning, weights and points
        assert model.binning is not None and model.points is not None
        assert model.feature_names == list(model.binning.selected)
        selected = [r["feature"] for r in ivs if r["party"] == bank and r["selected"] == "True"]
        assert sorted(model.feature_names) == sorted(selected)

    # the scores are the model files applied to the new customers, in plaintext
    a_new = read_party_csv(workdir / "data" / "bank-a" / "new-customers.csv", id_column="ID")
    b_new = read_party_csv(workdir / "data" / "bank-b" / "new-customers.csv", id_column="ID")
    scoring = workdir / "output" / "scoring"
    scores = read_party_csv(scoring / "bank-a" / "step-1-scores.csv", id_column="id")
    a_rows = np.array([a_new.ids.index(c) for c in scores.ids])
    b_rows = np.array([b_new.ids.index(c) for c in scores.ids])
    z = bank_a.decision_part(a_new.features[a_rows]) + bank_b.decision_part(b_new.features[b_rows])
    assert np.allclose(scores.features[:, 0], 1 / (1 + np.exp(-z)), rtol=0, atol=1e-9)
    points = read_party_csv(scoring / "bank-a" / "step-2-scores.csv", id_column="id")
    assert points.ids == scores.ids and points.feature_names == ["probability", "points"]
    a_columns, b_columns = a_new.take(a_rows).columns(), b_new.take(b_rows).columns()
    z = binned["bank-a"].decision_part(binned["bank-a"].features_from(a_columns))
    z += binned["bank-b"].decision_part(binned["bank-b"].features_from(b_columns))
    assert np.allclose(points.features[:, 0], 1 / (1 + np.exp(-z)), rtol=0, atol=1e-9)
    summed = binned["bank-a"].points.points(a_columns) + binned["bank-b"].points.points(b_columns)
    assert np.allclose(points.features[:, 1], summed, rtol=0, atol=1e-6)
    # bank B's outputs hold no score and no label
    assert not list((scoring / "bank-b").glob("*scores*"))


def test_a_failing_bank_stops_the_job_and_is_named(raw_table, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vfl.certs import create_job_certificates

    split = split_for_demo(raw_table, tmp_path / "data", customers=500)
    create_job_certificates(tmp_path / "certs", list(BANKS))
    broken = split.bank_b_training.read_text().splitlines()
    broken[5] = broken[5].rsplit(",", 1)[0] + ",lots"  # a non-numeric cell in bank B's file
    split.bank_b_training.write_text("\n".join(broken) + "\n")
    job = _job_file(
        tmp_path,
        "training",
        data={
            "bank-a": _data_section(split.bank_a_training, tmp_path, labels=True, log=()),
            "bank-b": _data_section(split.bank_b_training, tmp_path, labels=False, log=()),
        },
        steps=[{"type": "psi"}, {"type": "hetero_lr", "key_length": 1024}],
        allow_weak_keys=True,
    )
    lines: list[str] = []
    with pytest.raises(VflError, match="bank-b exited with status 1") as failure:
        _run_parties(job, tmp_path, lines.append)
    assert "lots" in str(failure.value)  # bank B's own reason, relayed
    # bank A stops at once (it does not wait out its connect timeout), naming bank B
    assert "bank-a exited with status 1 (vfl: error: party 'bank-b' aborted the job" in str(
        failure.value
    )
