"""Evaluation in jobs: psi -> split -> hetero_lr -> evaluate.

Two banks hold partly the same customers (test data: a seeded generator).  The split is
checked against an independent HMAC-SHA256 computation written out in the test, on every
party; the metrics against :mod:`vfl.evaluation.metrics` applied to the held-out scores
recomputed in plaintext from both model files.  The job runs once in one process
(``simulate_job``) and once as real ``vfl run`` processes over mutual TLS (1024-bit test
keys); a resumed run reloads the split and sends no message for it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import start_party, write_job
from vfl.certs import create_job_certificates
from vfl.evaluation import metrics
from vfl.exceptions import JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.runtime.transcript import TranscriptRecorder
from vfl.tables.datasets import PartyTable, read_party_csv
from vfl.tables.models import PartyModel

ROWS = 400
HOLDOUT = 0.3
SALT = "evaluate-test-salt"
PARTIES = [("bank-a", "guest"), ("bank-b", "host")]
DATA = {
    "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
    "bank-b": '{ file = "bank-b.csv" }',
}
STEPS = [
    "[[steps]]",
    'type = "psi"',
    "",
    "[[steps]]",
    'type = "split"',
    f"holdout = {HOLDOUT}",
    f'salt = "{SALT}"',
    "",
    "[[steps]]",
    'type = "hetero_lr"',
    "batch_size = 128",
    "learning_rate = 0.5",
    "max_iter = 3",
    'convergence = "max_iter"',
    "key_length = 1024",
    "",
    "[[steps]]",
    'type = "evaluate"',
]


def _write_data(folder: Path, seed: int = 11) -> None:
    """Two banks' files of partly the same customers, in different orders."""
    rng = np.random.default_rng(seed)
    total = ROWS + 40
    ids = [f"c{i:04d}" for i in rng.permutation(total)]
    risk = rng.normal(size=total)
    income = 3 - 0.8 * risk + rng.normal(size=total)
    bill = 1 + 0.9 * risk + rng.normal(size=total)
    labels = (rng.random(total) < 1 / (1 + np.exp(-(1.5 * risk - 0.5)))).astype(int)
    guest = ["id,y,income"] + [
        f"{ids[i]},{labels[i]},{income[i]:.4f}" for i in range(total) if i < ROWS
    ]
    host_rows = [f"{ids[i]},{bill[i]:.4f}" for i in range(total) if i >= 30]
    rng.shuffle(host_rows)
    (folder / "bank-a.csv").write_text("\n".join(guest) + "\n")
    (folder / "bank-b.csv").write_text("\n".join(["id,bill", *host_rows]) + "\n")


def _job(folder: Path, job_id: str, steps: list[str] = STEPS) -> Path:
    return write_job(
        folder,
        job_id=job_id,
        parties=PARTIES,
        data=DATA,
        steps=steps,
        timeout=60,
        allow_weak_keys=True,
    )


def _held_out_by_hmac(ids: list[str]) -> list[bool]:
    """The split, computed independently of the engine."""
    return [
        int.from_bytes(hmac.new(SALT.encode(), i.encode(), hashlib.sha256).digest()[:8], "big")
        / 2**64
        < HOLDOUT
        for i in ids
    ]


def _read(folder: Path, party: str, name: str) -> PartyTable:
    return read_party_csv(
        folder / "output" / party / name, label_column="y" if party == "bank-a" else None
    )


def _check_job(folder: Path) -> None:
    """Every check of a finished psi -> split -> hetero_lr -> evaluate job."""
    output = folder / "output"
    aligned = {name: _read(folder, name, "step-0-psi.csv") for name, _ in PARTIES}
    held = {name: _read(folder, name, "step-1-holdout.csv") for name, _ in PARTIES}
    ids = aligned["bank-a"].ids
    expected = [i for i, out in zip(ids, _held_out_by_hmac(ids), strict=True) if out]
    for name, _ in PARTIES:
        assert held[name].ids == expected, name
        summary = json.loads((output / name / "step-1-split.json").read_text())
        assert summary["holdout_rows"] == len(expected)
        assert summary["training_rows"] == len(ids) - len(expected)
        training = json.loads((output / name / "step-2-hetero_lr.json").read_text())
        assert training["rows"] == len(ids) - len(expected)  # trained on the rest only
    assert abs(len(expected) / len(ids) - HOLDOUT) < 0.08
    # the held-out scores, recomputed in plaintext from both model files
    models = {}
    for name, _ in PARTIES:
        training = json.loads((output / name / "step-2-hetero_lr.json").read_text())
        models[name] = PartyModel.load(output / name / training["model_file"])
    decision = np.sum(
        [
            model.decision_part(model.features_from(held[n].columns()))
            for n, model in models.items()
        ],
        axis=0,
    )
    probabilities = 1 / (1 + np.exp(-decision))
    with (output / "bank-a" / "step-3-scores.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["id"] for row in rows] == expected
    scored = np.array([float(row["probability"]) for row in rows])
    assert np.allclose(scored, probabilities, rtol=0, atol=1e-9)
    labels = held["bank-a"].labels
    assert labels is not None
    wanted = metrics.evaluate(labels, probabilities)
    summary = json.loads((output / "bank-a" / "step-3-evaluate.json").read_text())
    for key in ("auc", "ks", "precision", "recall", "f1", "lift"):
        assert summary["metrics"][key] == pytest.approx(wanted[key], abs=1e-9), key
    accuracy = float(np.mean((probabilities >= 0.5) == (labels == 1)))
    assert summary["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert summary["metrics"]["auc"] > 0.7  # the model learned something
    report = output / "bank-a" / summary["report_dir"]
    for file in ("roc.png", "ks.png", "lift.png", "report.html", "report.md", "metrics.json"):
        assert (report / file).stat().st_size > 200, file
        assert (report / file).name in summary["report_files"].values()
    assert (report / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (report / "report.html").read_text()
    assert "AUC" in page and all(f'src="{png}"' in page for png in ("roc.png", "lift.png"))
    assert "![Cumulative lift on the held-out rows](lift.png)" in (report / "report.md").read_text()
    host = json.loads((output / "bank-b" / "step-3-evaluate.json").read_text())
    assert "metrics" not in host and host["rows"] == len(expected)
    assert not list((output / "bank-b").glob("*scores*"))
    assert not list((output / "bank-b").glob("*report*"))


def test_a_simulated_job_splits_alike_everywhere_and_reports_on_the_hold_out(
    tmp_path: Path,
) -> None:
    _write_data(tmp_path)
    job = load_job(_job(tmp_path, "evaluate-sim"))
    simulate_job(job)
    _check_job(tmp_path)


class _StopError(Exception):
    """Raised by the recorder: a party stops in the middle of the training step."""


def test_a_job_stopped_in_training_resumes_from_the_reloaded_split(tmp_path: Path) -> None:
    """Stopped at the first training message; ``--resume`` reloads psi and split (same
    rows, no PSI message, the hold-out file untouched) and finishes with the same checks."""
    _write_data(tmp_path)
    job = load_job(_job(tmp_path, "evaluate-resume"))

    def stop_in_training(entry: object) -> None:
        if getattr(entry, "step", None) == 2:
            raise _StopError("stopped in the training step")

    with pytest.raises(Exception):  # noqa: B017  # the stop, or a peer's reaction
        simulate_job(job, recorder=stop_in_training)
    holdout = tmp_path / "output" / "bank-b" / "step-1-holdout.csv"
    before = holdout.read_bytes()
    recorder = TranscriptRecorder()
    reports = simulate_job(job, recorder=recorder, resume=True)
    steps = {entry.step for entry in recorder.entries}
    assert steps == {2, 3}  # nothing sent again for psi and split
    assert holdout.read_bytes() == before
    for name, _ in PARTIES:
        result = reports[name].results[1]
        assert result["type"] == "split" and result["holdout_file"] == "step-1-holdout.csv"
    _check_job(tmp_path)


def test_vfl_run_processes_over_tls_evaluate_and_print_the_report(tmp_path: Path) -> None:
    _write_data(tmp_path)
    create_job_certificates(tmp_path / "certs", [name for name, _ in PARTIES])
    job = _job(tmp_path, "evaluate-tls")
    processes = {name: start_party(job, name) for name, _ in PARTIES}
    printed = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        printed[name] = stdout
    _check_job(tmp_path)
    assert "held-out rows: AUC" in printed["bank-a"] and "report.html" in printed["bank-a"]
    assert "partial scores for" in printed["bank-b"]


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (["psi", "hetero_lr", "evaluate"], "no held-out rows to evaluate on"),
        (["psi", "hetero_lr", "split", "evaluate"], "no model trained on the training rows"),
        (["split"], "needs the rows aligned"),
    ],
)
def test_an_evaluate_job_without_a_split_and_training_is_refused(
    tmp_path: Path, steps: list[str], problem: str
) -> None:
    lines: list[str] = []
    for kind in steps:
        lines += ["[[steps]]", f'type = "{kind}"']
        if kind == "split":
            lines.append("holdout = 0.3")
        lines.append("")
    if steps == ["split"]:
        lines = ["[[steps]]", 'type = "psi"', 'output = "guest"', "", *lines]
    _write_data(tmp_path)
    with pytest.raises(JobFileError, match=problem):
        load_job(_job(tmp_path, "refused", lines))
