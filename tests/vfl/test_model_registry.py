"""The model registry: versions are numbered, never overwritten, and checked when loaded;
the ``score`` step's ``model_version`` and ``models_registry`` keys."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vfl.exceptions import DataError, JobFileError
from vfl.jobs.jobfile import ScoreStep, load_job
from vfl.tables.model_registry import (
    check_version_request,
    find_version,
    list_versions,
    registry_folder,
    save_version,
)
from vfl.tables.models import PartyModel

NOW = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)


def _model(weight: float = 0.5) -> PartyModel:
    return PartyModel(
        "bank-a", "guest", ["x"], [weight], 0.1, None, "arbiter", "paillier", 1024, ["bank-b"]
    )


def test_each_save_is_a_new_numbered_version_and_none_is_overwritten(tmp_path: Path) -> None:
    folder = registry_folder(tmp_path)
    first = save_version(folder, _model(), now=NOW)
    second = save_version(folder, _model(), now=NOW)  # same content, same second
    third = save_version(folder, _model(0.7), now=NOW)
    assert [first.number, second.number, third.number] == [1, 2, 3]
    assert first.name == f"v1-20261207T180000Z-{first.sha256()[:12]}.json"
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256() == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert [v.name for v in list_versions(folder)] == [first.name, second.name, third.name]
    assert PartyModel.load(third.path).weights == [0.7]
    assert not stat.S_IMODE(os.stat(first.path).st_mode) & stat.S_IWUSR  # read-only
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [first.name, second.name, third.name]
    )  # no temporary file left


def test_find_takes_latest_a_number_or_a_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    versions = [save_version(folder, _model(w), now=NOW) for w in (0.1, 0.2, 0.3)]
    (folder / "notes.txt").write_text("not a version")  # ignored
    (folder / "v9.json").write_text("{}")  # not a version's name: ignored
    assert find_version(folder, "latest") == versions[2]
    assert find_version(folder, 2) == versions[1]
    assert find_version(folder, versions[0].name) == versions[0]
    assert find_version(folder, 1).load().weights == [0.1]


def test_an_unknown_version_is_refused_listing_the_versions_there(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    versions = [save_version(folder, _model(), now=NOW) for _ in range(2)]
    with pytest.raises(DataError, match="model version 5 is not in") as raised:
        find_version(folder, 5)
    message = str(raised.value)
    assert f"available: 1 ({versions[0].name}), 2 ({versions[1].name})" in message
    assert 'or to "latest"' in message
    with pytest.raises(DataError, match=re.escape(f"no model versions in {tmp_path / 'none'}")):
        find_version(tmp_path / "none", "latest")


def test_a_version_edited_after_it_was_saved_is_refused(tmp_path: Path) -> None:
    version = save_version(tmp_path / "models", _model(), now=NOW)
    os.chmod(version.path, stat.S_IRUSR | stat.S_IWUSR)
    version.path.write_text(version.path.read_text().replace("0.5", "0.9"))
    with pytest.raises(DataError, match="the file was changed after it was saved"):
        version.load()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("latest", None),
        (3, None),
        ("v12-20261207T180000Z-0123456789ab.json", None),
        (0, "a version number is 1 or more"),
        (True, "got a boolean"),
        ("newest", "'newest' is not \"latest\", a number or a version file name"),
        ("v1.json", "is not"),
        (1.5, "expected"),
    ],
)
def test_model_version_values(value: object, problem: str | None) -> None:
    found = check_version_request(value)
    assert found is None if problem is None else problem in (found or "")


JOB = """
[job]
id = "registry"

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9301"
data = {{ file = "a.csv", label_column = "y" }}

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9302"
data = {{ file = "b.csv" }}
{arbiter}
[[steps]]
type = "psi"

[[steps]]
type = "score"
{score}
"""
ARBITER = '\n[[parties]]\nname = "arbiter"\nrole = "arbiter"\naddress = "127.0.0.1:9303"\n'


def _load(tmp_path: Path, score: str, arbiter: str = "") -> ScoreStep:
    path = tmp_path / "job.toml"
    path.write_text(JOB.format(score=score, arbiter=arbiter))
    step = load_job(path).steps[1]
    assert isinstance(step, ScoreStep)
    return step


def test_score_keys_load(tmp_path: Path) -> None:
    step = _load(tmp_path, 'model_version = "latest"')
    assert (step.model_version, step.models_registry, step.models_dir) == ("latest", None, None)
    step = _load(tmp_path, 'model_version = 2\nmodels_registry = "train/output"')
    assert step.model_version == 2
    assert step.models_registry == (tmp_path / "train" / "output").resolve()
    assert step.registry("bank-b", tmp_path / "x") == step.models_registry / "bank-b" / "models"
    assert _load(tmp_path, 'models_registry = "out"').from_registry  # takes the latest


@pytest.mark.parametrize(
    ("score", "arbiter", "match"),
    [
        ("model_version = 0", "", "steps[1].model_version: a version number is 1 or more"),
        ('model_version = "v1.json"', "", "steps[1].model_version: 'v1.json' is not"),
        (
            'models_dir = "m"\nmodel_version = 1',
            "",
            "steps[1].model_version: models_dir holds one model per party",
        ),
        ('models_dir = "m"\nmodels_registry = "r"', "", "drop models_registry"),
        ("", "", 'set model_version = "latest"'),
        # an arbiter with nothing to score from saved models is still refused
        ("", ARBITER, "which only a hetero_lr step with mode = 'arbiter' uses"),
    ],
)
def test_bad_score_keys_are_refused(tmp_path: Path, score: str, arbiter: str, match: str) -> None:
    with pytest.raises(JobFileError, match=re.escape(match)):
        _load(tmp_path, score, arbiter)


@pytest.mark.parametrize(
    "score", ['model_version = "latest"', 'models_registry = "r"', 'models_dir = "m"']
)
def test_a_job_scoring_saved_models_may_keep_its_arbiter_idle(tmp_path: Path, score: str) -> None:
    assert _load(tmp_path, score, ARBITER).from_elsewhere


def test_a_missing_version_in_models_registry_is_listed_before_the_run(tmp_path: Path) -> None:
    step = _load(tmp_path, 'model_version = 4\nmodels_registry = "train"')
    (tmp_path / "a.csv").write_text("id,y,x\n1,0,0.5\n")
    (tmp_path / "b.csv").write_text("id,z\n1,1.0\n")
    assert step.models_registry is not None
    save_version(registry_folder(step.models_registry / "bank-a"), _model(), now=NOW)
    job = load_job(tmp_path / "job.toml")
    with pytest.raises(JobFileError, match="missing files") as raised:
        job.check_files(tls=False)
    message = str(raised.value)
    assert "bank-a's model version 4 in" in message and "versions there: 1)" in message
    assert "bank-b's model version 4 in" in message and "versions there: none)" in message
