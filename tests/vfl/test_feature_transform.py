"""Each party's own feature transform: signed log (``log_columns``) then standardisation,
stored in its model file and reapplied at scoring."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.job_files import with_test_keys
from vfl.exceptions import DataError, JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.tables.models import (
    MODEL_FORMAT_VERSION,
    PartyModel,
    Scaling,
    merge_to_sklearn,
    signed_log,
)

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=20))
def test_signed_log_is_odd_monotone_and_zero_at_zero(values: list[float]) -> None:
    x = np.array(values)
    y = signed_log(x)
    assert np.array_equal(signed_log(-x), -y)
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order]) >= 0)
    assert np.array_equal(y == 0, x == 0)
    assert np.allclose(y, [math.copysign(math.log1p(abs(v)), v) for v in values], rtol=1e-15)


def test_scaling_logs_the_flagged_columns_then_standardises() -> None:
    x = np.array([[1.0, -9.0], [3.0, 0.0], [5.0, 99.0]])
    scaling = Scaling.fit(x, log=[False, True])
    logged = np.column_stack([x[:, 0], np.sign(x[:, 1]) * np.log1p(np.abs(x[:, 1]))])
    expected = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    assert np.allclose(scaling.transform(x), expected, rtol=0, atol=1e-15)
    assert scaling.log == (False, True)
    only_log = Scaling.fit(x, log=[True, True], standardize=False)
    assert only_log.mean == (0.0, 0.0) and only_log.scale == (1.0, 1.0)
    assert np.array_equal(only_log.transform(x), signed_log(x))
    assert Scaling.fit(x, log=[False, False]).log == ()  # no flags kept when none is set
    with pytest.raises(DataError, match="3 log flags for 2 columns"):
        Scaling.fit(x, log=[True, True, True])
    with pytest.raises(DataError, match="positive finite scales"):
        Scaling((0.0,), (0.0,))


def _model(scaling: Scaling | None) -> PartyModel:
    return PartyModel(
        party="bank-b",
        role="host",
        feature_names=["bill", "age"],
        weights=[0.5, -0.25],
        intercept=0.0,
        scaling=scaling,
        mode="two-party",
        backend="paillier",
        key_length=2048,
        peers=["bank-a"],
    )


def test_model_files_keep_the_log_flags_and_old_files_still_load(tmp_path: Path) -> None:
    scaling = Scaling.fit(np.array([[10.0, 30.0], [1000.0, 50.0]]), log=[True, False])
    model = _model(scaling)
    loaded = PartyModel.load(model.save(tmp_path / "m.json"))
    assert loaded.scaling == scaling and loaded.version == MODEL_FORMAT_VERSION == 4
    assert loaded.loss == "taylor" and loaded == model
    assert loaded.binning is None and loaded.points is None  # trained on the raw columns
    rows = np.array([[100.0, 40.0]])
    assert np.array_equal(loaded.decision_part(rows), model.decision_part(rows))
    # a version 1 file (written before log flags existed) loads, with no transform
    old = model.to_dict()
    del old["loss"]  # versions 1 and 2 do not record it (all were trained with the Taylor loss)
    del old["binning"], old["points"]  # nor do versions 1 to 3 (raw columns only)
    old.update(version=1, scaling={"mean": [1.0, 2.0], "scale": [3.0, 4.0]})
    (tmp_path / "old.json").write_text(json.dumps(old))
    old_model = PartyModel.load(tmp_path / "old.json")
    assert old_model.scaling == Scaling((1.0, 2.0), (3.0, 4.0)) and old_model.loss == "taylor"
    resaved = old_model.to_dict()  # saved again, an old file keeps its format
    assert "loss" not in resaved and PartyModel.from_dict(resaved) == old_model
    assert "binning" not in resaved and "points" not in resaved
    # a version 3 file (no binning) loads, and an old file naming a binning is refused
    three = {**model.to_dict(), "version": 3}
    del three["binning"], three["points"]
    assert PartyModel.from_dict(three) == dataclasses.replace(model, version=3)
    with pytest.raises(DataError, match=r"unknown \['binning', 'points'\]"):
        PartyModel.from_dict({**three, "binning": None, "points": None})
    # ...but a version 1 file with log flags, or flags that are not booleans, is refused
    old["scaling"] = {"mean": [1.0, 2.0], "scale": [3.0, 4.0], "log": [True, False]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(DataError, match="version 1 model file cannot hold log flags"):
        PartyModel.load(tmp_path / "old.json")
    new = model.to_dict()
    new["scaling"]["log"] = [1, 0]
    (tmp_path / "new.json").write_text(json.dumps(new))
    with pytest.raises(DataError, match="log flags are true/false"):
        PartyModel.load(tmp_path / "new.json")
    new["version"] = 5
    (tmp_path / "new.json").write_text(json.dumps(new))
    with pytest.raises(DataError, match="unsupported model format version 5"):
        PartyModel.load(tmp_path / "new.json")


def test_a_logged_model_cannot_be_merged_into_one_linear_model() -> None:
    guest = PartyModel(
        party="bank-a", role="guest", feature_names=["x"], weights=[1.0], intercept=0.1,
        scaling=None, mode="two-party", backend="paillier", key_length=2048, peers=["bank-b"],
    )  # fmt: skip
    host = _model(Scaling((0.0, 0.0), (1.0, 1.0), (True, False)))
    with pytest.raises(DataError, match="bank-b's model log-transforms some columns"):
        merge_to_sklearn(guest, [host])


JOB = """
[job]
id = "logs"
allow_weak_keys = true

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9301"
data = {{ file = "a.csv", label_column = "y"{a_extra} }}

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9302"
data = {{ file = "b.csv"{b_extra} }}

[[steps]]
type = "psi"

[[steps]]
type = "hetero_lr"
batch_size = 100  # two host features: the label-information bound needs ~95
max_iter = 2
key_length = 1024

[[steps]]
type = "score"
"""


def _write_data(folder: Path) -> None:
    rng = np.random.default_rng(5)
    n = 200
    amount = rng.lognormal(8, 2, size=n) * rng.choice([-1, 1], size=n, p=[0.1, 0.9])
    y = (rng.random(n) < 1 / (1 + np.exp(-(np.sign(amount) * np.log1p(abs(amount)) - 7)))).astype(
        int
    )
    a = ["id,y,age"] + [f"{i},{y[i]},{rng.integers(20, 70)}" for i in range(n)]
    b = ["id,amount,count"] + [f"{i},{float(amount[i])!r},{rng.integers(0, 9)}" for i in range(n)]
    (folder / "a.csv").write_text("\n".join(a) + "\n")
    (folder / "b.csv").write_text("\n".join(b) + "\n")


def test_log_columns_are_applied_in_training_and_scoring(tmp_path: Path) -> None:
    _write_data(tmp_path)
    path = tmp_path / "job.toml"
    path.write_text(JOB.format(a_extra="", b_extra=', log_columns = ["amount"]'))
    job = load_job(path)
    assert job.party("bank-b").data.log_columns == ("amount",)  # type: ignore[union-attr]
    simulate_job(with_test_keys(job))
    host = PartyModel.load(tmp_path / "output" / "bank-b" / "step-1-model.json")
    guest = PartyModel.load(tmp_path / "output" / "bank-a" / "step-1-model.json")
    assert host.scaling is not None and host.scaling.log == (True, False)
    assert guest.scaling is not None and guest.scaling.log == ()
    aligned_b = np.loadtxt(tmp_path / "output" / "bank-b" / "step-0-psi.csv", delimiter=",",
                           skiprows=1)  # fmt: skip
    logged = signed_log(aligned_b[:, 1])
    assert np.isclose(host.scaling.mean[0], logged.mean(), rtol=1e-12)
    assert np.isclose(host.scaling.scale[0], logged.std(), rtol=1e-12)
    # scores use the stored transform: they equal both models applied in plaintext
    aligned_a = np.loadtxt(tmp_path / "output" / "bank-a" / "step-0-psi.csv", delimiter=",",
                           skiprows=1)  # fmt: skip
    z = guest.decision_part(aligned_a[:, 2:]) + host.decision_part(aligned_b[:, 1:])
    scores = np.loadtxt(tmp_path / "output" / "bank-a" / "step-2-scores.csv", delimiter=",",
                        skiprows=1)  # fmt: skip
    assert np.allclose(scores[:, 1], 1 / (1 + np.exp(-z)), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("b_extra", "error", "message"),
    [
        (', log_columns = ["nope"]', DataError, r"log_columns \['nope'\] are not in"),
        (", log_columns = []", JobFileError, "non-empty list"),
        (', log_columns = ["amount", "amount"]', JobFileError, "must not repeat"),
        (', feature_columns = ["count"], log_columns = ["amount"]', JobFileError,
         r"names \['amount'\], which are not in feature_columns"),
    ],
)  # fmt: skip
def test_bad_log_columns_are_refused(
    tmp_path: Path, b_extra: str, error: type[Exception], message: str
) -> None:
    _write_data(tmp_path)
    path = tmp_path / "job.toml"
    path.write_text(JOB.format(a_extra="", b_extra=b_extra))
    with pytest.raises(error, match=message):
        simulate_job(with_test_keys(load_job(path)))
