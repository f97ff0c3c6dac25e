"""Model versions in real jobs: every training run saves a new version and overwrites
none; a scoring job takes the latest or a named one, and refuses an unknown one listing
those there are; one job file (with its arbiter, idle while scoring) trains and scores."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_jobs_e2e import ROOT
from tests.support.job_files import with_test_keys
from vfl.exceptions import DataError, JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, load_job
from vfl.tables.model_registry import list_versions

BANKS = ("bank-a", "bank-b", "bank-c")


def _train_job(folder: Path) -> JobConfig:
    """The arbiter example, 1024-bit keys, one epoch: psi, hetero_lr (arbiter), score."""
    job = with_test_keys(load_job(folder / "job.toml"))
    psi, train, score = job.steps
    assert isinstance(train, HeteroLrStep)
    return dataclasses.replace(job, steps=(psi, dataclasses.replace(train, max_iter=1), score))


def _score_job(folder: Path, score_keys: str, *, name: str = "score.toml") -> JobConfig:
    """The same job file's parties and output_dir (the arbiter too), steps psi and score."""
    text = (folder / "job.toml").read_text().split("[[steps]]")[0]
    text += f'[[steps]]\ntype = "psi"\n\n[[steps]]\ntype = "score"\n{score_keys}\n'
    (folder / name).write_text(text)
    return with_test_keys(load_job(folder / name))


def _summary(folder: Path, party: str, name: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(
        (folder / "output" / party / name).read_text(encoding="utf-8")
    )
    return document


def _scores(path: Path) -> np.ndarray:
    """The probabilities by id (the PSI's agreed row order differs between runs)."""
    rows = sorted(line.split(",")[:2] for line in path.read_text().splitlines()[1:])
    return np.array([float(probability) for _, probability in rows])


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arbiter example trained (and scored) twice in the same output folder."""
    folder = tmp_path_factory.mktemp("versions") / "hetero-lr-arbiter"
    shutil.copytree(
        ROOT / "examples" / "hetero-lr-arbiter",
        folder,
        ignore=shutil.ignore_patterns("certs", "output"),
    )
    job = _train_job(folder)
    simulate_job(job)
    first = {b: {v.name: v.path.read_bytes() for v in list_versions(_registry(folder, b))}
             for b in BANKS}  # fmt: skip
    shutil.copy(folder / "output" / "bank-a" / "step-2-scores.csv", folder / "first-scores.csv")
    simulate_job(job)
    (folder / "first-versions.json").write_text(
        json.dumps({b: {n: c.decode() for n, c in first[b].items()} for b in BANKS})
    )
    return folder


def _registry(folder: Path, party: str) -> Path:
    return folder / "output" / party / "models"


def test_each_training_run_saves_a_new_version_and_overwrites_none(trained_twice: Path) -> None:
    folder = trained_twice
    first = json.loads((folder / "first-versions.json").read_text())
    for bank in BANKS:
        versions = list_versions(_registry(folder, bank))
        assert [v.number for v in versions] == [1, 2]
        (name, content), = first[bank].items()  # fmt: skip
        assert versions[0].name == name and versions[0].path.read_text() == content
        summary = _summary(folder, bank, "step-1-hetero_lr.json")
        assert summary["model_version"] == 2
        assert summary["model_version_file"] == f"models/{versions[1].name}"
        assert summary["model_sha256"] == versions[1].sha256()
        # step-1-model.json is still written, with the latest version's content
        latest = (folder / "output" / bank / "step-1-model.json").read_bytes()
        assert latest == versions[1].path.read_bytes()
    assert not (folder / "output" / "arbiter" / "models").exists()  # the arbiter has no model
    arbiter = _summary(folder, "arbiter", "step-1-hetero_lr.json")
    assert arbiter["model_version"] is None


def test_score_with_the_latest_and_a_named_version(trained_twice: Path) -> None:
    folder = trained_twice
    reports = simulate_job(_score_job(folder, "model_version = 1", name="score-v1.toml"))
    assert not reports["arbiter"].results  # idle in both steps, and no error
    guest = _summary(folder, "bank-a", "step-1-score.json")
    first = list_versions(_registry(folder, "bank-a"))[0]
    assert guest["model"] == "from the model registry"
    assert guest["model_version"] == {
        "number": 1,
        "file": str(first.path),
        "sha256": first.sha256(),
    }
    host = _summary(folder, "bank-c", "step-1-score.json")
    assert isinstance(host["model_version"], dict) and host["model_version"]["number"] == 1
    # version 1 is the first run's model: the same scores as the first run's score step
    again = _scores(folder / "output" / "bank-a" / "step-1-scores.csv")
    assert np.allclose(again, _scores(folder / "first-scores.csv"), rtol=0, atol=1e-12)

    simulate_job(_score_job(folder, 'model_version = "latest"', name="score-latest.toml"))
    guest = _summary(folder, "bank-a", "step-1-score.json")
    assert isinstance(guest["model_version"], dict) and guest["model_version"]["number"] == 2
    latest = _scores(folder / "output" / "bank-a" / "step-1-scores.csv")
    assert np.allclose(
        latest, _scores(folder / "output" / "bank-a" / "step-2-scores.csv"), rtol=0, atol=1e-12
    )
    assert not np.allclose(latest, again)  # the two versions are two models


def test_an_unknown_version_is_refused_listing_the_available_ones(trained_twice: Path) -> None:
    folder = trained_twice
    with pytest.raises(DataError, match="score step: model version 3 is not in") as raised:
        simulate_job(_score_job(folder, "model_version = 3", name="score-v3.toml"))
    party = re.match(r"party '([a-z-]+)'", str(raised.value))
    assert party is not None and party[1] in BANKS  # whichever bank looked first
    names = [v.name for v in list_versions(_registry(folder, party[1]))]
    assert f"available: 1 ({names[0]}), 2 ({names[1]})" in str(raised.value)


def test_another_job_scores_from_the_training_jobs_registry(trained_twice: Path) -> None:
    folder = trained_twice
    keys = 'models_registry = "output"\nmodel_version = 2'
    job = _score_job(folder, keys, name="elsewhere.toml")
    job = dataclasses.replace(job, output_dir=folder / "elsewhere")
    simulate_job(job)
    guest = json.loads((folder / "elsewhere" / "bank-a" / "step-1-score.json").read_text())
    assert guest["model_version"]["number"] == 2
    assert not (folder / "elsewhere" / "bank-a" / "models").exists()
    # a version that is not there is listed before any connection
    missing = _score_job(folder, 'models_registry = "output"\nmodel_version = 9', name="m.toml")
    with pytest.raises(JobFileError, match=re.escape("bank-b's model version 9 in")):
        simulate_job(missing)
