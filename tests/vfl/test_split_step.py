"""The ``split`` step: its keys, defaults and errors, and the law of its split function."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import write_job
from vfl.exceptions import JobFileError
from vfl.jobs.jobfile import load_job
from vfl.steps import SplitStep, step_type
from vfl.steps.split import holdout_mask

PARTIES = [("bank-a", "guest"), ("bank-b", "host")]
DATA = {"bank-a": '{ file = "a.csv", label_column = "y" }', "bank-b": '{ file = "b.csv" }'}


def _load(tmp_path: Path, *split: str, before: tuple[str, ...] = ('type = "psi"',)) -> object:
    (tmp_path / "a.csv").write_text("id,y,x\nc1,0,1.0\nc2,1,2.0\n")
    (tmp_path / "b.csv").write_text("id,z\nc1,1.0\nc2,2.0\n")
    steps = ["[[steps]]", *before, "", "[[steps]]", 'type = "split"', *split]
    path = write_job(tmp_path, job_id="split-1", parties=PARTIES, data=DATA, steps=steps)
    return load_job(path)


def test_a_split_step_loads_with_its_defaults(tmp_path: Path) -> None:
    job = _load(tmp_path, "holdout = 0.3")
    step = job.steps[1]  # type: ignore[attr-defined]
    assert step == SplitStep(holdout=0.3, salt=None)
    assert step.salt_for("split-1") == "split-1"  # the default salt: the job id
    assert step_type("split").output_files == ("holdout_file",)


def test_a_split_step_takes_a_salt(tmp_path: Path) -> None:
    job = _load(tmp_path, "holdout = 0.25", 'salt = "2026-q4"')
    step = job.steps[1]  # type: ignore[attr-defined]
    assert step == SplitStep(holdout=0.25, salt="2026-q4") and step.salt_for("x") == "2026-q4"


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ((), "missing key 'holdout'"),
        (("holdout = 0",), r"holdout: must be a share in \(0, 0.9\]"),
        (("holdout = 0.95",), r"holdout: must be a share in \(0, 0.9\]"),
        (("holdout = -0.1",), "holdout: must be a share"),
        (("holdout = nan",), "holdout: must be a share"),
        (('holdout = "0.3"',), "holdout: expected an integer or a number, got str"),
        (("holdout = true",), "holdout: expected .* got a boolean"),
        (("holdout = 0.3", 'salt = " "'), "salt: must not be empty"),
        (("holdout = 0.3", "salt = 7"), "salt: expected a string"),
        (("holdout = 0.3", "seed = 7"), "unknown key.*'seed'"),
    ],
)
def test_a_split_step_refuses_bad_keys(
    tmp_path: Path, lines: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(JobFileError, match=problem):
        _load(tmp_path, *lines)


def test_a_split_step_needs_aligned_rows(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match=r"steps\[1\] \(split\): needs the rows aligned"):
        _load(tmp_path, "holdout = 0.3", before=('type = "psi"', 'output = "guest"'))


def test_the_split_is_the_salted_hmac_of_each_id() -> None:
    ids = [f"customer-{i}" for i in range(200)]
    expected = [
        int.from_bytes(hmac.new(b"salt", i.encode(), hashlib.sha256).digest()[:8], "big") / 2**64
        < 0.3
        for i in ids
    ]
    assert holdout_mask(ids, "salt", 0.3).tolist() == expected


def test_the_same_ids_split_alike_in_any_order() -> None:
    rng = np.random.default_rng(3)
    ids = [f"c{i}" for i in range(2000)]
    mask = dict(zip(ids, holdout_mask(ids, "s", 0.4).tolist(), strict=True))
    shuffled = [ids[i] for i in rng.permutation(len(ids))]
    again = holdout_mask(shuffled, "s", 0.4).tolist()
    assert again == [mask[i] for i in shuffled]
    part = shuffled[:300]  # a subset (another party's rows) splits its ids alike
    assert holdout_mask(part, "s", 0.4).tolist() == [mask[i] for i in part]


def test_the_held_out_share_is_close_to_holdout_and_the_salt_changes_the_split() -> None:
    ids = [f"id{i:05d}" for i in range(10_000)]
    for holdout in (0.1, 0.3, 0.9):
        share = holdout_mask(ids, "job-7", holdout).mean()
        assert abs(share - holdout) < 0.02, holdout  # ~4.6 standard deviations at most
    a, b = holdout_mask(ids, "job-7", 0.3), holdout_mask(ids, "job-8", 0.3)
    assert 0.3 < np.mean(a != b) < 0.5  # independent splits differ on ~42 % of ids
    nested = holdout_mask(ids, "job-7", 0.1)
    assert not (nested & ~a).any()  # a smaller holdout keeps a subset of the rows
    assert holdout_mask([], "job-7", 0.3).shape == (0,)
