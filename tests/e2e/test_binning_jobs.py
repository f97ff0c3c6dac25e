"""The credit pipeline as a job: PSI -> binning -> hetero LR -> scorecard -> score.

Two banks' files hold what real files hold: missing cells (empty and ``NA``), text
categories (one of them rare) and labels written ``1.0``.  The job runs as real ``vfl
run`` processes over mutual TLS (1024-bit test keys).  The checks are independent of
the engine's own arithmetic: the host's per-bin event counts are recounted in the test
from both files, its WOE recomputed with the formula, the selection re-derived from the
IVs, and the guest's probabilities and points recomputed in plaintext from both model
files.  A resumed run reloads a finished binning step from its file and sends no
binning message again.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from protocols.binning.bins import MISSING
from protocols.messages import MessageKind
from tests.support.job_files import start_party, write_job
from vfl.certs import create_job_certificates
from vfl.exceptions import DataError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.runtime.transcript import TranscriptRecorder
from vfl.tables.datasets import read_party_csv
from vfl.tables.model_registry import list_versions, registry_folder
from vfl.tables.models import PartyModel

ROWS = 700
SMOOTHING = 0.5
PARTIES = [("bank-a", "guest"), ("bank-b", "host")]
DATA = {
    "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
    "bank-b": '{ file = "bank-b.csv" }',
}
BINNING = [
    "[[steps]]",
    'type = "binning"',
    "n_bins = 6",
    "min_bin_rows = 20",
    "rare_share = 0.05",
    "min_iv = 0.03",
    'categorical = { bank-a = ["region"], bank-b = ["channel"] }',
    "key_length = 1024",
]
TRAINING = [
    "[[steps]]",
    'type = "hetero_lr"',
    "batch_size = 128",
    "learning_rate = 0.5",
    "max_iter = 3",
    'convergence = "max_iter"',
    "key_length = 1024",
]


def _write_data(folder: Path, seed: int = 7) -> None:
    """Two banks' files of partly the same customers (test data: a seeded generator)."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:04d}" for i in rng.permutation(ROWS + 60)]
    risk = rng.normal(size=ROWS + 60)
    income = np.exp(10 + 0.6 * rng.normal(size=ROWS + 60) - 0.5 * risk)
    region = rng.choice(["north", "south", "east", "west"], size=ROWS + 60, p=[0.3, 0.3, 0.2, 0.2])
    region[rng.random(ROWS + 60) < 0.02] = "island"  # rare: grouped into "other"
    bill = np.exp(7 + 0.5 * risk + rng.normal(size=ROWS + 60))
    channel = np.where(risk + rng.normal(size=ROWS + 60) > 0.5, "web", "branch")
    noise = rng.normal(size=ROWS + 60)
    score = -1.0 + 1.2 * risk + 0.4 * (region == "north")
    labels = (rng.random(ROWS + 60) < 1 / (1 + np.exp(-score))).astype(int)
    guest = ["id,y,income,region"]
    host = ["id,bill,channel,noise"]
    for i, customer in enumerate(ids):
        if i < ROWS:  # the guest's customers: all but the last 60
            cell = "" if rng.random() < 0.08 else f"{income[i]:.2f}"
            guest.append(f"{customer},{labels[i]}.0,{cell},{region[i]}")
        if i >= 40:  # the host's: all but the first 40
            cell = "NA" if rng.random() < 0.1 else f"{bill[i]:.2f}"
            host.append(f"{customer},{cell},{channel[i]},{noise[i]:.4f}")
    (folder / "bank-a.csv").write_text("\n".join(guest) + "\n")
    (folder / "bank-b.csv").write_text("\n".join(host) + "\n")


def _job(folder: Path, *, job_id: str, steps: list[str]) -> Path:
    return write_job(
        folder,
        job_id=job_id,
        parties=PARTIES,
        data=DATA,
        steps=steps,
        timeout=60,
        allow_weak_keys=True,
    )


PIPELINE = [
    "[[steps]]",
    'type = "psi"',
    "",
    *BINNING,
    "",
    *TRAINING,
    "",
    "[[steps]]",
    'type = "scorecard"',
    "pdo = 40",
    "",
    "[[steps]]",
    'type = "score"',
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole pipeline as `vfl run` processes over mutual TLS; the outputs' folder."""
    folder = tmp_path_factory.mktemp("credit")
    _write_data(folder)
    create_job_certificates(folder / "certs", [name for name, _ in PARTIES])
    job = _job(folder, job_id="credit-e2e", steps=PIPELINE)
    processes = {name: start_party(job, name) for name, _ in PARTIES}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        (folder / f"{name}.stdout").write_text(stdout)
    return folder


def test_each_party_prints_what_its_binning_and_scorecard_steps_did(pipeline: Path) -> None:
    guest = (pipeline / "bank-a.stdout").read_text()
    host = (pipeline / "bank-b.stdout").read_text()
    for printed, party in ((guest, "bank-a"), (host, "bank-b")):
        document = json.loads((pipeline / "output" / party / "step-1-binning.json").read_text())
        binned = document.get("result", document)
        selected = binned["selected"]
        assert (
            f"  binned {binned['features']} columns on {binned['rows']} rows, selected "
            f"{len(selected)} by IV: {', '.join(selected)} -> "
        ) in printed
        assert "  points of " in printed and "(offset " in printed
    assert "with points" in guest and "sent partial scores" in host


def _aligned(folder: Path, party: str) -> object:
    """A party's aligned rows (its psi output), read as the job read them."""
    return read_party_csv(
        folder / "output" / party / "step-0-psi.csv",
        label_column="y" if party == "bank-a" else None,
        allow_missing=True,
        allow_text=True,
        categorical=("region",) if party == "bank-a" else ("channel",),
    )


def _woe(events: np.ndarray, non_events: np.ndarray) -> np.ndarray:
    """WOE per bin, written out (> 0: riskier), smoothed by 0.5 per non-empty bin; an
    empty bin (about no one) has WOE 0."""
    filled = (events + non_events) > 0
    e, n = events[filled], non_events[filled]
    event_share = (e + SMOOTHING) / (e.sum() + SMOOTHING * len(e))
    non_event_share = (n + SMOOTHING) / (n.sum() + SMOOTHING * len(n))
    woe = np.zeros(len(events))
    woe[filled] = np.log(event_share / non_event_share)
    return woe


def test_the_hosts_woe_is_the_plaintext_woe_of_its_bins(pipeline: Path) -> None:
    guest, host = _aligned(pipeline, "bank-a"), _aligned(pipeline, "bank-b")
    assert guest.ids == host.ids and len(guest) == ROWS - 40  # the common customers
    labels = guest.labels
    assert labels is not None and set(labels.tolist()) == {0, 1}  # "1.0" read as 1
    model = PartyModel.load(pipeline / "output" / "bank-b" / "step-3-model.json")
    assert model.binning is not None
    columns = host.columns()
    for feature in model.binning.features:
        codes = feature.bins.assign(columns[feature.name])
        events = np.bincount(codes, weights=labels, minlength=feature.bins.n_bins)
        rows = np.bincount(codes, minlength=feature.bins.n_bins)
        assert feature.rows == tuple(rows.tolist()), feature.name  # the host knows these
        assert feature.events == tuple(events.tolist()), feature.name  # exactly, no noise
        assert feature.non_events == tuple((rows - events).tolist())
        assert np.allclose(feature.woe, _woe(events, rows - events), rtol=0, atol=1e-12)
        assert all(r == 0 or r >= 20 for r in feature.rows)  # min_bin_rows
        if feature.name == "bill":  # the NA cells have their own bin, the last
            assert feature.bins.labels()[-1] == MISSING and feature.rows[-1] > 0
        if feature.name == "channel":
            assert feature.bins.kind == "categorical"
    # the selection, re-derived from the IVs the host holds
    ivs = model.binning.ivs
    assert model.binning.selected == tuple(name for name, iv in ivs.items() if iv >= 0.03)
    assert "bill" in model.binning.selected and model.feature_names == list(model.binning.selected)


def test_the_guest_bins_its_own_columns_missing_and_rare_categories(pipeline: Path) -> None:
    model = PartyModel.load(pipeline / "output" / "bank-a" / "step-3-model.json")
    assert model.binning is not None and model.role == "guest"
    region = model.binning.feature("region")
    assert region.bins.kind == "categorical"
    # the rare "island" (~2 % < rare_share) is in the catch-all last group, unseen ones too
    codes = region.bins.assign(np.array(["island", "atlantis", "north"], dtype=object))
    assert codes[0] == codes[1] != codes[2]
    income = model.binning.feature("income")
    assert income.bins.labels()[-1] == MISSING and income.rows[-1] > 0
    summary = json.loads((pipeline / "output" / "bank-a" / "step-1-binning.json").read_text())
    assert (
        summary["host_features"] == {"bank-b": 3} and summary["binning_file"] == "step-1-bins.json"
    )
    with (pipeline / "output" / "bank-a" / "step-1-iv.csv").open() as stream:
        table = {row["feature"]: float(row["iv"]) for row in csv.DictReader(stream)}
    assert table == pytest.approx(model.binning.ivs)


def test_scores_and_points_are_the_model_files_applied_in_plaintext(pipeline: Path) -> None:
    output = pipeline / "output"
    models = {name: PartyModel.load(output / name / "step-3-model.json") for name, _ in PARTIES}
    for model in models.values():  # each file: its own binning, weights and points
        assert model.binning is not None and model.points is not None and model.version == 4
    tables = {name: _aligned(pipeline, name) for name, _ in PARTIES}
    decision = sum(
        model.decision_part(model.features_from(tables[name].columns()))
        for name, model in models.items()
    )
    with (output / "bank-a" / "step-4-scores.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["id"] for row in rows] == tables["bank-a"].ids
    probabilities = np.array([float(row["probability"]) for row in rows])
    assert np.allclose(probabilities, 1 / (1 + np.exp(-decision)), rtol=0, atol=1e-9)
    # the points: every party's points table applied to its own rows, summed
    points = np.array([float(row["points"]) for row in rows])
    summed = sum(model.points.points(tables[name].columns()) for name, model in models.items())
    assert np.allclose(points, summed, rtol=0, atol=1e-6)
    factor = 40 / math.log(2)
    offset = 600 - factor * math.log(50)
    assert np.allclose(points, offset - factor * decision, rtol=0, atol=1e-6)
    # higher points: safer customers (lower probability)
    assert np.corrcoef(points, probabilities)[0, 1] < -0.9
    # each party's points table, as CSV and Markdown
    for name, _ in PARTIES:
        assert (output / name / "step-3-scorecard.csv").stat().st_size > 50
        assert "|" in (output / name / "step-3-scorecard.md").read_text()
    # bank-b's outputs hold no score and no label
    assert not list((output / "bank-b").glob("*scores*"))


def test_a_resumed_job_reloads_the_finished_binning_step(tmp_path: Path) -> None:
    """The job stops after the binning step (no host column reaches min_iv = 50); on
    --resume the binning is read back from its file (no binning message is sent) and the
    next step fails the same way, from the reloaded binning."""
    _write_data(tmp_path)
    steps = ["[[steps]]", 'type = "psi"', "", *BINNING, "", *TRAINING]
    steps[steps.index("min_iv = 0.03")] = "min_iv = 50"
    job = load_job(_job(tmp_path, job_id="credit-resume", steps=steps))
    with pytest.raises(DataError, match="the binning step selected none of its columns"):
        simulate_job(job)
    written = (tmp_path / "output" / "bank-b" / "step-1-bins.json").read_bytes()
    recorder = TranscriptRecorder()
    with pytest.raises(DataError, match="the binning step selected none of its columns"):
        simulate_job(job, recorder=recorder, resume=True)
    kinds = {entry.message.kind for entry in recorder.entries}
    assert not {MessageKind.BIN_SETUP, MessageKind.BIN_LABELS} & kinds
    assert (tmp_path / "output" / "bank-b" / "step-1-bins.json").read_bytes() == written


def test_training_without_binning_refuses_missing_cells_and_text(tmp_path: Path) -> None:
    _write_data(tmp_path)
    steps = ["[[steps]]", 'type = "psi"', "", *TRAINING]
    job = load_job(_job(tmp_path, job_id="raw", steps=steps))
    with pytest.raises(DataError, match="binning step"):
        simulate_job(job)


def test_the_scorecard_step_saves_a_model_version_with_its_points(pipeline: Path) -> None:
    """The latest version in each party's registry is the scorecard's model: scoring a
    version later gives points, as scoring in the same job does."""
    for party in ("bank-a", "bank-b"):
        folder = registry_folder(pipeline / "output" / party)
        versions = list_versions(folder)
        assert len(versions) == 2  # hetero_lr's model, then the scorecard's
        latest = PartyModel.load(versions[-1].path)
        assert latest.points is not None and latest.binning is not None
        assert PartyModel.load(versions[0].path).points is None
        summary = json.loads((pipeline / "output" / party / "step-3-scorecard.json").read_text())
        assert summary.get("result", summary)["model_version"] == versions[-1].number
