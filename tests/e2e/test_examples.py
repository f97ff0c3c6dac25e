"""Every example job file runs (on a copy, so the examples stay clean)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import free_ports, with_test_keys
from vfl.evaluation import metrics
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.tables.models import PartyModel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize(
    "job_file", sorted(EXAMPLES.glob("*/job.toml")), ids=lambda p: p.parent.name
)
def test_example_job_simulates(tmp_path: Path, job_file: Path) -> None:
    folder = tmp_path / job_file.parent.name
    shutil.copytree(job_file.parent, folder, ignore=shutil.ignore_patterns("certs", "output"))
    job = load_job(folder / "job.toml")
    # users copy the examples: they must use full-strength keys...
    assert not job.allow_weak_keys
    for step in job.steps:
        assert getattr(step, "key_length", 2048) >= 2048
        assert getattr(step, "rsa_key_length", 2048) >= 2048
    reports = simulate_job(with_test_keys(job))  # ...which the tests shorten to 1024 bits
    assert set(reports) == {p.name for p in job.parties}
    for report in reports.values():
        assert report.outputs and all(path.is_file() for path in report.outputs)


def test_secure_sum_example_totals_are_the_plain_totals(tmp_path: Path) -> None:
    folder = tmp_path / "secure-sum"
    shutil.copytree(
        EXAMPLES / "secure-sum", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    reports = simulate_job(with_test_keys(load_job(folder / "job.toml")))
    rows = [
        row
        for name in ("bank-a", "bank-b", "bank-c")
        for row in csv.DictReader((folder / f"{name}.csv").open())
    ]
    expected = [sum(float(r["balance"]) for r in rows), sum(float(r["credit_limit"]) for r in rows)]
    result = reports["bank-c"].results[0]
    assert result["rows"] == len(rows) == 30
    assert result["totals"] == pytest.approx(expected, abs=1e-6)


def test_example_certificates_command(tmp_path: Path) -> None:
    folder = tmp_path / "secure-sum"
    shutil.copytree(
        EXAMPLES / "secure-sum", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vfl.cli",
            "certs",
            "--config",
            str(folder / "job.toml"),
            "--out",
            str(folder / "certs"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    load_job(folder / "job.toml").check_files("bank-b")  # every file a TLS run needs is there


# scoring with saved models -----------------------------------------------------------------
def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _model_share(model_file: Path, rows: list[dict[str, str]]) -> dict[str, float]:
    """Per id: the party's weights times its scaled features (plus the guest's intercept),
    computed in plain numpy straight from the model file's JSON."""
    document = json.loads(model_file.read_text())
    scaling = document["scaling"]
    assert not scaling.get("log"), "the shipped models use no log transform"
    features = np.array([[float(row[c]) for c in document["feature_names"]] for row in rows])
    scaled = (features - np.array(scaling["mean"])) / np.array(scaling["scale"])
    shares = scaled @ np.array(document["weights"]) + document["intercept"]
    return dict(zip((row["id"] for row in rows), shares.tolist(), strict=True))


def test_scoring_example_scores_are_the_plaintext_scores(tmp_path: Path) -> None:
    folder = tmp_path / "scoring"
    shutil.copytree(EXAMPLES / "scoring", folder, ignore=shutil.ignore_patterns("certs", "output"))
    reports = simulate_job(with_test_keys(load_job(folder / "job.toml")))
    scores = _csv_rows(folder / "output" / "bank-a" / "step-1-scores.csv")
    assert not (folder / "output" / "bank-b" / "step-1-scores.csv").exists()  # the guest only
    bank_a, bank_b = _csv_rows(folder / "bank-a.csv"), _csv_rows(folder / "bank-b.csv")
    assert "y" not in bank_a[0]  # new customers: no labels yet
    common = {row["id"] for row in bank_a} & {row["id"] for row in bank_b}
    ids = [row["id"] for row in scores]
    # only the common customers are scored, each once
    assert len(ids) == len(set(ids)) == len(common) == 40 and set(ids) == common
    assert len(bank_a) == len(bank_b) == 60
    assert reports["bank-a"].results[1]["rows"] == 40
    # the probabilities are sigmoid(guest's share + intercept + host's share), in plain numpy
    guest = _model_share(folder / "models" / "bank-a.json", bank_a)
    host = _model_share(folder / "models" / "bank-b.json", bank_b)
    z = np.array([guest[i] + host[i] for i in ids])
    expected = 1.0 / (1.0 + np.exp(-z))
    probabilities = np.array([float(row["probability"]) for row in scores])
    assert probabilities == pytest.approx(expected, rel=0, abs=1e-6)
    # the shipped files are real models of the hetero-lr example, for customers it never saw
    models = {
        name: PartyModel.load(folder / "models" / f"{name}.json") for name in ("bank-a", "bank-b")
    }
    assert (models["bank-a"].role, models["bank-b"].role) == ("guest", "host")
    assert models["bank-a"].peers == ["bank-b"] and models["bank-b"].peers == ["bank-a"]
    for name, model in models.items():
        assert model.key_length >= 2048 and model.mode == "two-party" and model.epochs >= 1
        header = _csv_rows(EXAMPLES / "hetero-lr" / f"{name}.csv")[0]
        assert model.feature_names == [c for c in header if c not in ("id", "y")]
    trained = {r["id"] for r in _csv_rows(EXAMPLES / "hetero-lr" / "bank-a.csv")} & {
        r["id"] for r in _csv_rows(EXAMPLES / "hetero-lr" / "bank-b.csv")
    }
    assert not common & trained
    labels = {
        r["id"]: int(r["y"]) for r in _csv_rows(ROOT / "vfl" / "data" / "breast_hetero_guest.csv")
    }
    assert metrics.roc_auc(np.array([labels[i] for i in ids], dtype=float), probabilities) > 0.9


def test_scoring_example_over_tls_matches_simulate(tmp_path: Path) -> None:
    """The scoring example as shipped, as two `vfl run` processes over mutual TLS."""
    folder = tmp_path / "scoring"
    shutil.copytree(EXAMPLES / "scoring", folder, ignore=shutil.ignore_patterns("certs", "output"))
    job_file = folder / "job.toml"
    text = job_file.read_text()
    for fixed, port in zip(("9141", "9142"), free_ports(2), strict=True):
        assert f'"127.0.0.1:{fixed}"' in text
        text = text.replace(f'"127.0.0.1:{fixed}"', f'"127.0.0.1:{port}"')
    job_file.write_text(text)

    def vfl(*arguments: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "vfl.cli", *arguments],
            cwd=tmp_path,  # paths in the job file are relative to the file, not to here
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    certs = vfl("certs", "--config", str(job_file), "--out", str(folder / "certs"))
    assert certs.wait(timeout=60) == 0, certs.communicate()[1]
    runs = {
        name: vfl("run", "--config", str(job_file), "--party", name)
        for name in ("bank-a", "bank-b")
    }
    for name, process in runs.items():
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
    over_tls = _csv_rows(folder / "output" / "bank-a" / "step-1-scores.csv")
    simulate_job(dataclasses.replace(load_job(job_file), output_dir=tmp_path / "simulated"))
    simulated = _csv_rows(tmp_path / "simulated" / "bank-a" / "step-1-scores.csv")
    assert len(over_tls) == 40
    assert {r["id"]: r["probability"] for r in over_tls} == {
        r["id"]: r["probability"] for r in simulated
    }


# the Python API script ------------------------------------------------------------------
SCRIPT = EXAMPLES / "python-api" / "train.py"


def test_python_api_script_trains_evaluates_and_saves(tmp_path: Path) -> None:
    output = tmp_path / "models"
    arguments = ["--key-length", "1024", "--allow-weak-key", "--max-iter", "3"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments, "--output", str(output)],
        cwd=ROOT,  # as a user runs it: from the repository root
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    models = {name: PartyModel.load(output / f"{name}.json") for name in ("guest", "host")}
    assert sorted(p.name for p in output.iterdir()) == ["guest.json", "host.json"]
    assert (models["guest"].role, models["host"].role) == ("guest", "host")
    # the host keeps 4 of the 20 breast host features (the label-information bound)
    assert len(models["guest"].weights) == 26 and len(models["host"].weights) == 4
    assert models["guest"].key_length == 1024 and 1 <= models["guest"].epochs <= 3
    # the printed table: one line per model with its held-out AUC, KS and F1
    table = {
        match["label"]: float(match["auc"])
        for match in re.finditer(
            r"^(?P<label>\S.*?)\s+(?P<auc>\d\.\d{4})\s+\d\.\d{4}\s+\d\.\d{4}$",
            result.stdout,
            flags=re.MULTILINE,
        )
    }
    federated = next(auc for label, auc in table.items() if label.startswith("federated"))
    joined = next(auc for label, auc in table.items() if "joined" in label)
    assert federated > 0.95 and joined > 0.95  # held-out AUC


def test_python_api_script_refuses_a_weak_key_without_the_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--key-length", "1024", "--output", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "1024-bit key is weak" in result.stderr and "--allow-weak-key" in result.stderr
    assert not (tmp_path / "o").exists()
