"""Job files' ``binning`` and ``scorecard`` steps: their keys, defaults and clear refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from protocols.binning.scorecard import PointsScale
from vfl.exceptions import JobFileError
from vfl.jobs.jobfile import load_job
from vfl.steps import BinningStep, ScorecardStep, step_type

HEAD = """
[job]
id = "credit-1"
allow_weak_keys = true

[tls]
ca = "certs/ca.crt"

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9101"
data = { file = "a.csv", id_column = "id", label_column = "y" }

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9102"
data = { file = "b.csv" }

[[steps]]
type = "psi"
"""
PIPELINE = """
[[steps]]
type = "binning"
{binning}

[[steps]]
type = "hetero_lr"
key_length = 1024

[[steps]]
type = "scorecard"
{scorecard}

[[steps]]
type = "score"
"""


def _job(tmp_path: Path, binning: str = "", scorecard: str = "", *, head: str = HEAD) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(head + PIPELINE.format(binning=binning, scorecard=scorecard))
    return path


def _steps(
    tmp_path: Path, binning: str = "", scorecard: str = ""
) -> tuple[BinningStep, ScorecardStep]:
    job = load_job(_job(tmp_path, binning, scorecard))
    assert [step.type for step in job.steps] == [
        "psi",
        "binning",
        "hetero_lr",
        "scorecard",
        "score",
    ]
    binned, card = job.steps[1], job.steps[3]
    assert isinstance(binned, BinningStep) and isinstance(card, ScorecardStep)
    return binned, card


def test_the_pipeline_loads_with_the_defaults(tmp_path: Path) -> None:
    binning, scorecard = _steps(tmp_path)
    assert binning == BinningStep(
        method="optimal",
        n_bins=10,
        min_bin_share=0.05,
        min_bin_rows=None,
        rare_share=0.01,
        categorical=(),
        min_iv=0.02,
        top_k=None,
        max_abs_corr=None,
        max_vif=None,
        noise_epsilon=None,
        noise_delta=1e-5,
        key_length=2048,
        n_jobs=None,
    )
    settings = binning.settings("bank-a")
    assert settings.method == "optimal" and settings.n_bins == 10 and settings.min_iv == 0.02
    assert settings.categorical == () and settings.min_bin_rows >= 1  # the protocol's default
    assert scorecard == ScorecardStep(600.0, 20.0, 50.0, None, None)
    scale = scorecard.scale()
    assert scale.factor == pytest.approx(20 / math.log(2))
    assert scale.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))


def test_every_key_is_read(tmp_path: Path) -> None:
    binning, scorecard = _steps(
        tmp_path,
        """method = "quantile"
n_bins = 8
min_bin_share = 0.1
min_bin_rows = 20
rare_share = 0.02
categorical = { bank-a = ["region", "job"], bank-b = ["channel"] }
min_iv = 0.05
top_k = 3
max_abs_corr = 0.8
max_vif = 5
noise_epsilon = 2.0
noise_delta = 1e-6
key_length = 1024
n_jobs = 2""",
        "offset = 500\nfactor = 20",
    )
    assert binning == BinningStep(
        method="quantile",
        n_bins=8,
        min_bin_share=0.1,
        min_bin_rows=20,
        rare_share=0.02,
        categorical=(("bank-a", ("region", "job")), ("bank-b", ("channel",))),
        min_iv=0.05,
        top_k=3,
        max_abs_corr=0.8,
        max_vif=5.0,
        noise_epsilon=2.0,
        noise_delta=1e-6,
        key_length=1024,
        n_jobs=2,
    )
    assert binning.categorical_of("bank-a") == ("region", "job")
    assert binning.categorical_of("bank-c") == ()
    settings = binning.settings("bank-b")
    assert (settings.categorical, settings.min_bin_rows, settings.top_k) == (("channel",), 20, 3)
    assert (settings.noise_epsilon, settings.noise_delta) == (2.0, 1e-6)
    assert scorecard.scale() == PointsScale.from_offset_factor(500.0, 20.0)
    assert scorecard.scale().offset == pytest.approx(500.0)
    # the party's categorical columns are read as text (R1: the runner asks the step type)
    job = load_job(tmp_path / "job.toml")
    kind = step_type("binning")
    assert kind.raw_cells(job.steps[1], job.party("bank-a")) == ("region", "job")


def test_the_banks_scorecard_form(tmp_path: Path) -> None:
    _, scorecard = _steps(tmp_path, scorecard="base_score = 650\npdo = 40\nbase_odds = 19")
    scale = scorecard.scale()
    assert scale == PointsScale(base_score=650.0, pdo=40.0, base_odds=19.0)
    assert scale.offset + scale.factor * math.log(19) == pytest.approx(650.0)  # at odds 19:1
    assert scale.factor * math.log(2) == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("binning", "message"),
    [
        ('method = "best"', "method: 'best' is not one of optimal, quantile, equal_width"),
        ("n_bins = 1", "n_bins: must be an integer >= 2"),
        ("n_bins = 2.5", "n_bins: expected an integer, got float"),
        ("min_bin_share = 0.7", r"min_bin_share: must be a number in \[0, 0.5\]"),
        ("min_bin_rows = 0", "min_bin_rows: must be an integer >= 1"),
        ("rare_share = -0.1", "rare_share: must be a number in"),
        ("min_iv = -1", "min_iv: must be a number in"),
        ("top_k = 0", "top_k: must be an integer >= 1"),
        ("max_abs_corr = 1.5", r"max_abs_corr: must be a number in \(0, 1\]"),
        ("max_vif = 1", r"max_vif: must be a number in \(1, inf\)"),
        ("noise_epsilon = 0", "noise_epsilon: must be a number in"),
        ("noise_delta = 1e-3", "noise_delta: is used only with noise_epsilon"),
        ("key_length = 256", "key_length"),
        ("n_jobs = 0", "n_jobs: must not be 0"),
        ('categorical = ["region"]', "categorical: expected a table, got list"),
        ('categorical = { bank-a = "region" }', "categorical: bank-a: expected a list"),
        ("categorical = { bank-a = [] }", "categorical: bank-a: must be a non-empty list"),
        ('categorical = { bank-a = ["r", "r"] }', "categorical: bank-a: must not repeat"),
        (
            'categorical = { bank-z = ["r"] }',
            r"steps\[1\] \(binning\): categorical names \['bank-z'\], which are not",
        ),
        ("colour = 1", r"steps\[1\]: unknown key\(s\) 'colour'"),
    ],
)
def test_bad_binning_keys_are_refused(tmp_path: Path, binning: str, message: str) -> None:
    with pytest.raises(JobFileError, match=message) as refused:
        load_job(_job(tmp_path, binning))
    assert str(tmp_path / "job.toml") in str(refused.value)


@pytest.mark.parametrize(
    ("scorecard", "message"),
    [
        ("pdo = 0", "pdo: must be a positive number"),
        ("base_odds = -2", "base_odds: must be a positive number"),
        ("base_score = nan", "base_score: must be a finite number"),
        ("offset = 500", "factor: is needed with offset"),
        ("factor = 20", "offset: is needed with factor"),
        ("offset = 500\nfactor = 20\npdo = 20", "give either base_score/pdo/base_odds or"),
        ("offset = 500\nfactor = -1", "factor: must be a positive number"),
        ("points = 3", r"unknown key\(s\) 'points'"),
    ],
)
def test_bad_scorecard_keys_are_refused(tmp_path: Path, scorecard: str, message: str) -> None:
    with pytest.raises(JobFileError, match=message):
        load_job(_job(tmp_path, scorecard=scorecard))


def test_the_steps_check_their_place_in_the_job(tmp_path: Path) -> None:
    # a scorecard needs a model; a score step after a binning step needs a new model
    path = tmp_path / "job.toml"
    path.write_text(HEAD + '[[steps]]\ntype = "binning"\n\n[[steps]]\ntype = "scorecard"\n')
    with pytest.raises(JobFileError, match=r"steps\[2\] \(scorecard\): no model to turn into"):
        load_job(path)
    path.write_text(
        HEAD + '[[steps]]\ntype = "hetero_lr"\n\n[[steps]]\ntype = "binning"\n\n'
        '[[steps]]\ntype = "score"\n'
    )
    with pytest.raises(JobFileError, match=r"steps\[3\] \(score\): no model to score with"):
        load_job(path)
    # the guest's labels, and aligned rows
    path.write_text(HEAD.replace(', label_column = "y"', "") + '[[steps]]\ntype = "binning"\n')
    with pytest.raises(JobFileError, match=r"has no data\.label_column, which the binning step"):
        load_job(path)
    path.write_text(
        HEAD.replace('type = "psi"', 'type = "psi"\noutput = "guest"')
        + '[[steps]]\ntype = "binning"\n'
    )
    with pytest.raises(JobFileError, match="needs the rows aligned on every party"):
        load_job(path)
