"""The ``hetero_lr`` and ``score`` job steps: validation, `vfl simulate` on the examples,
scoring with saved models, and real `vfl run` processes over mutual TLS."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_jobs_e2e import ROOT
from tests.support.job_files import start_party, with_test_keys, write_job
from vfl.certs import create_job_certificates
from vfl.evaluation import metrics
from vfl.exceptions import DataError, JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, ScoreStep, load_job
from vfl.tables.models import PartyModel

EXAMPLES = ROOT / "examples"

BASE = """
[job]
id = "lr-1"
{job_extra}

[tls]
ca = "certs/ca.crt"

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9201"
data = {{ file = "a.csv", label_column = "y" }}

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9202"
data = {{ file = "b.csv" }}
{parties}
{steps}
"""

TRAIN = '[[steps]]\ntype = "psi"\n\n[[steps]]\ntype = "hetero_lr"\n'
ARBITER = '\n[[parties]]\nname = "arbiter"\nrole = "arbiter"\naddress = "127.0.0.1:9203"\n'
HOST_C = '\n[[parties]]\nname = "bank-c"\nrole = "host"\naddress = "127.0.0.1:9204"\n'
HOST_C += 'data = { file = "c.csv" }\n'


def _job_text(steps: str = TRAIN, parties: str = "", job_extra: str = "") -> str:
    return BASE.format(steps=steps, parties=parties, job_extra=job_extra)


def _load(tmp_path: Path, text: str) -> JobConfig:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return load_job(path)


def test_a_training_job_loads_with_defaults_and_options(tmp_path: Path) -> None:
    steps = (
        TRAIN
        + 'mode = "arbiter"\noptimizer = "adam"\nlearning_rate = 0.05\nbatch_size = 64\n'
        + "class_weight = { 0 = 1, 1 = 5.5 }\nkey_length = 1024\nn_jobs = -1\n\n"
        + '[[steps]]\ntype = "score"\n\n[[steps]]\ntype = "score"\nmodels_dir = "models"\n'
    )
    job = _load(
        tmp_path, _job_text(steps, parties=ARBITER + HOST_C, job_extra="allow_weak_keys = true")
    )
    step = job.steps[1]
    assert isinstance(step, HeteroLrStep)
    assert (step.mode, step.optimizer, step.batch_size) == ("arbiter", "adam", 64)
    assert step.class_weight == {0: 1.0, 1: 5.5}
    assert step.standardize and step.fit_intercept and step.backend == "paillier"
    settings = step.settings(allow_weak_key=True)
    assert settings.key_length == 1024 and settings.optimizer.learning_rate == 0.05
    assert settings.n_jobs == -1 and settings.max_iter == 10 and settings.tol == 1e-4
    assert job.steps[2] == ScoreStep(models_dir=None)
    assert job.steps[3] == ScoreStep(models_dir=(tmp_path / "models").resolve())
    assert job.party("arbiter").data is None
    defaults = _load(tmp_path, _job_text()).steps[1]
    assert defaults == HeteroLrStep()  # HeteroLogisticRegression's defaults, 2048-bit key


@pytest.mark.parametrize(
    ("steps", "parties", "match"),
    [
        (TRAIN + "colour = 1", "", "steps[1]: unknown key(s) 'colour'"),
        (TRAIN + 'mode = "three-party"', "", "steps[1].mode: 'three-party' is not one of"),
        (TRAIN + 'mode = "arbiter"', "", "needs exactly one party with role 'arbiter'"),
        (TRAIN, ARBITER, 'shared mode needs no arbiter; drop it or use mode = "arbiter"'),
        (
            TRAIN + 'mode = "two-party"',
            ARBITER,
            "arbiter has role 'arbiter', which only a hetero_lr step with mode",
        ),
        (
            TRAIN + 'mode = "two-party"',
            HOST_C,
            "mode 'two-party' trains with exactly one host, the job has 2",
        ),
        (TRAIN + 'backend = "plaintext"', "", "'plaintext' is for tests and benchmarks only"),
        (TRAIN + 'backend = "phe"', "", "cannot run between parties"),
        (TRAIN + "key_length = 1024", "", "a 1024-bit key is weak"),
        (TRAIN + "random_state = 0", "", "steps[1].random_state: not accepted"),
        (TRAIN + 'class_weight = "rare"', "", "'rare' is not 'balanced'"),
        (TRAIN + "class_weight = { 2 = 1.0 }", "", "the classes are 0 and 1, not '2'"),
        (TRAIN + 'optimizer = "lbfgs"', "", "steps[1].optimizer: 'lbfgs' is not one of"),
        (TRAIN + "learning_rate = 0", "", "steps[1].learning_rate: must be a positive number"),
        (TRAIN + "batch_size = 0", "", "steps[1].batch_size: must be >= 1"),
        ('[[steps]]\ntype = "score"\n', "", "no model to score with"),
        (
            '[[steps]]\ntype = "psi"\noutput = "guest"\n\n[[steps]]\ntype = "hetero_lr"\n',
            "",
            "use output = 'both'",
        ),
        (
            TRAIN + 'mode = "arbiter"',
            ARBITER + 'data = { file = "a.csv" }\n',
            "the arbiter arbiter holds no data",
        ),
    ],
)
def test_bad_training_jobs_are_refused(
    tmp_path: Path, steps: str, parties: str, match: str
) -> None:
    with pytest.raises(JobFileError, match=re.escape(match)) as raised:
        _load(tmp_path, _job_text(steps, parties))
    assert str(tmp_path / "job.toml") in str(raised.value)


def test_the_guest_needs_a_label_column(tmp_path: Path) -> None:
    text = _job_text().replace(', label_column = "y"', "")
    with pytest.raises(JobFileError, match=r"bank-a has no data\.label_column"):
        _load(tmp_path, text)


def test_labels_that_are_not_0_or_1_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,y,x\n1,0,0.5\n2,2,0.1\n3,1,0.3\n")
    (tmp_path / "b.csv").write_text("id,z\n1,1.0\n2,2.0\n3,3.0\n")
    job = _load(tmp_path, _job_text(job_extra="allow_weak_keys = true") + "key_length = 1024\n")
    with pytest.raises(DataError, match=r"a\.csv:3: label '2' is not 0 or 1; recode the 'y'"):
        simulate_job(job)


# running the examples -----------------------------------------------------------------------
def _breast_labels() -> dict[str, int]:
    with (ROOT / "vfl" / "data" / "breast_hetero_guest.csv").open(newline="") as handle:
        return {row["id"]: int(row["y"]) for row in csv.DictReader(handle)}


def _scores(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "probability"]
    return [r[0] for r in rows[1:]], np.array([float(r[1]) for r in rows[1:]])


def _auc(ids: list[str], probabilities: np.ndarray) -> float:
    labels = _breast_labels()
    return metrics.roc_auc(np.array([labels[i] for i in ids], dtype=float), probabilities)


def _check_run(output: Path, parties: dict[str, str], *, epochs: int | None = None) -> float:
    """Every party's files are there and hold only its own model; returns the AUC."""
    models = {
        name: PartyModel.load(output / name / "step-1-model.json")
        for name, role in parties.items()
        if role != "arbiter"
    }
    for name, role in parties.items():
        folder = output / name
        if role == "arbiter":
            assert sorted(p.name for p in folder.iterdir()) == [
                "audit.jsonl",
                "peers.json",
                "step-1-hetero_lr.json",
            ]
            continue
        with (folder / "step-0-psi.csv").open(newline="") as handle:
            header = next(csv.reader(handle))
        model = models[name]
        assert model.role == role and model.feature_names == header[2 if role == "guest" else 1 :]
        text = (folder / "step-1-model.json").read_text()
        for other, other_model in models.items():
            if other != name:  # nobody's file holds another party's columns or weights
                assert not any(f'"{column}"' in text for column in other_model.feature_names)
                assert not any(repr(w) in text for w in other_model.weights if w)
        summary = json.loads((folder / "step-1-hetero_lr.json").read_text())
        assert summary["model_file"] == "step-1-model.json" and summary["epochs"] >= 1
        if epochs is not None:
            assert summary["epochs"] == epochs
        if role == "guest":
            assert summary["history"] and summary["final_loss"] == summary["history"][-1]["loss"]
        assert json.loads((folder / "step-2-score.json").read_text())["rows"] > 300
    guest = next(name for name, role in parties.items() if role == "guest")
    with (output / guest / "step-0-psi.csv").open(newline="") as handle:
        aligned = [row[0] for row in list(csv.reader(handle))[1:]]
    ids, probabilities = _scores(output / guest / "step-2-scores.csv")
    assert ids == aligned  # one probability per aligned row, in the aligned order
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert not list(output.rglob("*.tmp"))
    return _auc(ids, probabilities)


def _simulate_example(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns("certs", "output"))
    simulate_job(with_test_keys(load_job(folder / "job.toml")))
    return folder


def test_two_party_example_simulates_and_scores_well(tmp_path: Path) -> None:
    folder = _simulate_example(tmp_path, "hetero-lr")
    output = folder / "output"
    assert _check_run(output, {"bank-a": "guest", "bank-b": "host"}) > 0.95
    # a later job scores with the saved models (models_dir), on already aligned rows
    models = folder / "models"
    models.mkdir()
    for party in ("bank-a", "bank-b"):
        shutil.copy(output / party / "step-1-model.json", models / f"{party}.json")
        shutil.copy(output / party / "step-0-psi.csv", folder / f"{party}-aligned.csv")
    text = (folder / "job.toml").read_text().split("[[steps]]")[0]
    text = text.replace('output_dir = "output"', 'output_dir = "later"')
    text = text.replace('file = "bank-a.csv"', 'file = "bank-a-aligned.csv"')
    text = text.replace('file = "bank-b.csv"', 'file = "bank-b-aligned.csv"')
    later = folder / "score.toml"
    later.write_text(text + '[[steps]]\ntype = "score"\nmodels_dir = "models"\n')
    simulate_job(load_job(later))
    again = _scores(folder / "later" / "bank-a" / "step-0-scores.csv")
    first = _scores(output / "bank-a" / "step-2-scores.csv")
    assert again[0] == first[0] and np.allclose(again[1], first[1], rtol=0, atol=1e-12)
    # a model file in the wrong party's place is refused
    shutil.copy(models / "bank-a.json", models / "bank-b.json")
    with pytest.raises(DataError, match="is a guest's model, but 'bank-b' is a host"):
        simulate_job(load_job(later))


def test_arbiter_example_simulates_and_scores_well(tmp_path: Path) -> None:
    folder = _simulate_example(tmp_path, "hetero-lr-arbiter")
    parties = {"arbiter": "arbiter", "bank-a": "guest", "bank-b": "host", "bank-c": "host"}
    assert _check_run(folder / "output", parties) > 0.95
    arbiter = json.loads((folder / "output" / "arbiter" / "step-1-hetero_lr.json").read_text())
    assert arbiter["role"] == "arbiter" and arbiter["model_file"] is None


def test_separate_processes_over_tls(tmp_path: Path) -> None:
    """The two-party example's steps as real `vfl run` processes over mutual TLS."""
    parties = [("bank-a", "guest"), ("bank-b", "host")]
    for name, _ in parties:
        shutil.copy(EXAMPLES / "hetero-lr" / f"{name}.csv", tmp_path / f"{name}.csv")
    create_job_certificates(tmp_path / "certs", [name for name, _ in parties])
    steps = [
        "[[steps]]",
        'type = "psi"',
        "",
        "[[steps]]",
        'type = "hetero_lr"',
        "batch_size = 220",  # the label-information bound: bank-b's 4 features
        "learning_rate = 0.15",
        "max_iter = 4",  # one batch per epoch: four steps from the random start
        'class_weight = "balanced"',
        "key_length = 1024",
        "",
        "[[steps]]",
        'type = "score"',
    ]
    data = {
        "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
        "bank-b": '{ file = "bank-b.csv" }',
    }
    job_path = write_job(
        tmp_path,
        job_id="lr-e2e",
        parties=parties,
        data=data,
        steps=steps,
        timeout=60,
        allow_weak_keys=True,
    )
    processes = {name: start_party(job_path, name) for name, _ in parties}
    outputs = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        outputs[name] = stdout
    assert "trained 4 epochs" in outputs["bank-a"] and "final loss" in outputs["bank-a"]
    assert re.search(r"scored \d+ rows .*step-2-scores\.csv", outputs["bank-a"])
    assert "sent partial scores" in outputs["bank-b"]
    over_tls = _check_run(tmp_path / "output", dict(parties), epochs=4)
    # the same job in one process (another batch plan: the guest draws it at random)
    job = load_job(job_path)
    simulate_job(dataclasses.replace(job, output_dir=tmp_path / "simulated"))
    simulated = _check_run(tmp_path / "simulated", dict(parties), epochs=4)
    assert over_tls > 0.95 and simulated > 0.95


def test_the_arbiter_may_start_several_steps_ahead(tmp_path: Path) -> None:
    """The arbiter skips every step but training: its first messages wait for the others."""
    folder = tmp_path / "ahead"
    shutil.copytree(EXAMPLES / "hetero-lr-arbiter", folder, ignore=shutil.ignore_patterns("output"))
    job = with_test_keys(load_job(folder / "job.toml"))
    psi, train, score = job.steps
    assert isinstance(train, HeteroLrStep)
    steps = (psi, psi, dataclasses.replace(train, max_iter=1), score)
    reports = simulate_job(dataclasses.replace(job, steps=steps))
    assert [r["step"] for r in reports["arbiter"].results] == [2]
    assert [r["step"] for r in reports["bank-a"].results] == [0, 1, 2, 3]
    assert (folder / "output" / "bank-a" / "step-3-scores.csv").is_file()


def test_missing_model_files_are_listed(tmp_path: Path) -> None:
    steps = '[[steps]]\ntype = "score"\nmodels_dir = "models"\n'
    job = _load(tmp_path, _job_text(steps))
    (tmp_path / "a.csv").write_text("id,y,x\n1,0,0.5\n")
    (tmp_path / "b.csv").write_text("id,z\n1,1.0\n")
    with pytest.raises(JobFileError, match="missing files") as raised:
        job.check_files(tls=False)
    assert f"bank-b's model file {tmp_path.resolve() / 'models' / 'bank-b.json'}" in str(
        raised.value
    )


def test_feature_columns_choose_the_model_features(tmp_path: Path) -> None:
    from vfl.jobs import model_features
    from vfl.tables.datasets import PartyTable

    text = _job_text().replace(
        'data = { file = "b.csv" }', 'data = { file = "b.csv", feature_columns = ["z", "x"] }'
    )
    party = _load(tmp_path, text).party("bank-b")
    table = PartyTable(["1", "2"], np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), ["x", "y", "z"])
    names, matrix = model_features(party, table)
    assert names == ["z", "x"] and matrix.tolist() == [[3.0, 1.0], [6.0, 4.0]]
    with pytest.raises(DataError, match=r"feature_columns \['z'\] are not in"):
        model_features(party, dataclasses.replace(table, feature_names=["x", "y", "w"]))


@pytest.mark.parametrize("hosts", [1, 2])
def test_shared_mode_as_separate_processes_over_tls(tmp_path: Path, hosts: int) -> None:
    """The default mode as real `vfl run` processes over mutual TLS, with one and two hosts.

    The hosts split the breast example's bank-b columns; no label-information bound
    applies (no party learns a gradient), so the batches may be small.
    """
    names = ["bank-b", "bank-c"][:hosts]
    parties = [("bank-a", "guest"), *((name, "host") for name in names)]
    guest_rows = (EXAMPLES / "hetero-lr" / "bank-a.csv").read_text().splitlines()
    (tmp_path / "bank-a.csv").write_text("\n".join(guest_rows[:201]) + "\n")
    host_rows = [
        row.split(",") for row in (EXAMPLES / "hetero-lr" / "bank-b.csv").read_text().splitlines()
    ]
    for index, name in enumerate(names):  # bank-b: columns 1-2 (or all), bank-c: 3-4
        columns = [1, 2, 3, 4] if hosts == 1 else [1 + 2 * index, 2 + 2 * index]
        lines = [",".join([row[0], *(row[c] for c in columns)]) for row in host_rows[:201]]
        (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n")
    create_job_certificates(tmp_path / "certs", [name for name, _ in parties])
    steps = [
        "[[steps]]",
        'type = "psi"',
        "",
        "[[steps]]",
        'type = "hetero_lr"',  # mode = "shared", loss = "logistic": the defaults
        "batch_size = 64",
        "learning_rate = 0.5",
        "max_iter = 2",
        'convergence = "max_iter"',
        "key_length = 1024",
        "",
        "[[steps]]",
        'type = "score"',
    ]
    data = {"bank-a": '{ file = "bank-a.csv", label_column = "y" }'}
    data.update({name: f'{{ file = "{name}.csv" }}' for name in names})
    job_path = write_job(
        tmp_path,
        job_id=f"shared-e2e-{hosts}",
        parties=parties,
        data=data,
        steps=steps,
        timeout=60,
        allow_weak_keys=True,
    )
    processes = {name: start_party(job_path, name) for name, _ in parties}
    outputs = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        outputs[name] = stdout
    assert "trained 2 epochs" in outputs["bank-a"]
    output = tmp_path / "output"
    for name, _ in parties:
        summary = json.loads((output / name / "step-1-hetero_lr.json").read_text())
        assert (summary["mode"], summary["loss"], summary["epochs"]) == ("shared", "logistic", 2)
        model = PartyModel.load(output / name / "step-1-model.json")
        assert (model.mode, model.loss) == ("shared", "logistic")
    ids, probabilities = _scores(output / "bank-a" / "step-2-scores.csv")
    assert len(ids) > 50 and _auc(ids, probabilities) > 0.9  # the files overlap partly
