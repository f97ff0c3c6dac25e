"""Shared mode through the engine: the default of the estimator and of job files,
its refusals before any key is made, its models and reports, and its messages on the wire."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score, train_test_split

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrSettings
from protocols.hetero_lr.shared_party import SharedGuest, SharedHost
from protocols.messages import (
    LrSharePlain,
    LrSharePowers,
    LrShareResidual,
    LrShareSealed,
    LrShareWeights,
)
from tests.support.protocol_harness import run_roles
from vfl import HeteroLogisticRegression, PartyModel, merge_to_sklearn
from vfl.exceptions import JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import HeteroLrStep, load_job
from vfl.runtime.local import codec_wire
from vfl.steps.hetero_lr import DEFAULTS, LrParties, build_lr_role
from vfl.tables.datasets import load_builtin

PLAIN = {"backend": "plaintext", "random_state": 0}


def _breast() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    position = {customer: row for row, customer in enumerate(host.ids)}
    order = np.array([position[customer] for customer in guest.ids])
    assert guest.labels is not None
    return guest.features, guest.labels.astype(float), host.features[order]


# defaults ---------------------------------------------------------------------------------
def test_shared_mode_with_the_logistic_loss_and_20_epochs_is_the_default() -> None:
    model = HeteroLogisticRegression()
    assert (model.mode, model.loss, model.max_iter) == ("shared", None, None)
    settings = model.settings()
    assert (settings.mode, settings.loss_name, settings.max_iter) == ("shared", "logistic", 20)
    two_party = HeteroLogisticRegression(mode="two-party").settings()
    assert (two_party.loss_name, two_party.max_iter) == ("taylor", 10)
    assert HeteroLogisticRegression(max_iter=3).settings().max_iter == 3
    step = HeteroLrStep()
    assert (step.mode, step.loss, step.max_iter) == ("shared", None, None)
    assert step.settings(allow_weak_key=False) == settings
    assert DEFAULTS["mode"] == "shared"
    assert LrSettings().mode == "two-party"  # the protocol layer keeps its own default


def test_the_default_trains_within_0_005_auc_of_scikit_learn() -> None:
    """The measured default: 20 epochs of the polynomial sigmoid at learning rate 0.1."""
    Xg, y, Xh = _breast()
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
    model = HeteroLogisticRegression(**PLAIN, batch_size=64).fit(
        Xg[train], y[train], hosts=[Xh[train]]
    )
    assert model.n_iter_ <= 20 and model.party_models_["guest"].loss == "logistic"
    ours = roc_auc_score(y[test], model.predict_proba(Xg[test], hosts=[Xh[test]])[:, 1])
    X = np.hstack([Xg, Xh])
    reference = LogisticRegression(max_iter=5000).fit(X[train], y[train])
    theirs = roc_auc_score(y[test], reference.predict_proba(X[test])[:, 1])
    assert ours >= theirs - 0.005, (ours, theirs)


# the estimator: fit, predict, score, models, export ---------------------------------------
def test_an_encrypted_shared_fit_predicts_scores_exports_and_saves(tmp_path: Path) -> None:
    Xg, y, Xh = _breast()
    rows = np.r_[0:60, 300:360]  # both classes, 120 rows: 2 batches
    Xg, y, Xh = Xg[rows], y[rows], Xh[rows, :3]
    model = HeteroLogisticRegression(
        key_length=1024, allow_weak_key=True, batch_size=60, max_iter=2, random_state=0
    ).fit(Xg, y, hosts=[Xh])
    assert (model.n_iter_, model.stop_reason_) == (2, "max_iter")
    assert [entry["epoch"] for entry in model.history_] == [0, 1]
    assert model.score(Xg, y, hosts=[Xh]) > 0.9
    probabilities = model.predict_proba(Xg, hosts=[Xh])[:, 1]
    exported = merge_to_sklearn(model.party_models_["guest"], [model.party_models_["host"]])
    np.testing.assert_allclose(
        exported.predict_proba(np.hstack([Xg, Xh]))[:, 1], probabilities, rtol=1e-9
    )
    for name, saved in model.party_models_.items():
        assert (saved.mode, saved.loss, saved.key_length) == ("shared", "logistic", 1024)
        path = saved.save(tmp_path / f"{name}.json")
        assert json.loads(path.read_text())["loss"] == "logistic"
        assert PartyModel.load(path) == saved
    again = HeteroLogisticRegression.from_party_models(
        PartyModel.load(tmp_path / "guest.json"), [PartyModel.load(tmp_path / "host.json")]
    )
    np.testing.assert_array_equal(again.predict_proba(Xg, hosts=[Xh])[:, 1], probabilities)


def test_several_hosts_and_scikit_learn_tools_in_the_single_table_form() -> None:
    Xg, y, Xh = _breast()
    X = np.hstack([Xg, Xh[:, :6]])
    model = HeteroLogisticRegression(
        **PLAIN, parties={"guest": "rest", "hosts": [[10, 11, 12], [13, 14, 15]]}, batch_size=64
    )
    scores = cross_val_score(model, X, y, cv=3, scoring="roc_auc")
    assert scores.min() > 0.97
    fitted = model.fit(X, y)
    assert len(fitted.coef_hosts_) == 2 and set(fitted.party_models_) == {
        "guest",
        "host-1",
        "host-2",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"optimizer": "adam"}, 'shared mode cannot run the "adam" optimizer'),
        ({"optimizer": "adagrad"}, '"sgd", "momentum", "nesterov"'),
        ({"optimizer": "rmsprop"}, "or mode='two-party'"),
        ({"penalty": "l1", "alpha": 0.01}, "shared mode cannot apply an L1 penalty"),
        ({"convergence": "weights"}, "shared mode cannot stop on the weight change"),
        ({"label_privacy_epsilon": 1.0}, "shared mode reveals no gradient"),
        ({"mode": "two-party", "loss": "logistic"}, 'loss="logistic" needs mode="shared"'),
    ],
)
def test_what_shared_mode_refuses_is_said_before_training(
    params: dict[str, object], message: str
) -> None:
    Xg, y, Xh = _breast()
    model = HeteroLogisticRegression(**params)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=re.escape(message)):
        model.fit(Xg, y, hosts=[Xh])
    assert not hasattr(model, "party_models_")


def test_l1_without_strength_and_the_linear_optimisers_are_accepted() -> None:
    for optimizer in ("sgd", "momentum", "nesterov"):
        settings = HeteroLogisticRegression(optimizer=optimizer, penalty="l1").settings()
        assert settings.optimizer.name == optimizer


def test_shared_roles_are_built_and_an_arbiter_is_refused() -> None:
    settings = LrSettings.from_flat(mode="shared", key_length=1024, allow_weak_key=True)
    parties = LrParties("g", ("h",))
    x = np.zeros((10, 2))
    guest = build_lr_role("guest", "g", "j", parties, settings, "plaintext", features=x,
                          labels=np.r_[np.zeros(5), np.ones(5)])  # fmt: skip
    host = build_lr_role("host", "h", "j", parties, settings, "plaintext", features=x)
    assert isinstance(guest, SharedGuest) and isinstance(host, SharedHost)
    with pytest.raises(ProtocolError, match="shared mode needs no arbiter"):
        build_lr_role("arbiter", "a", "j", LrParties("g", ("h",), "a"), settings, "plaintext")


# the wire ---------------------------------------------------------------------------------
def test_every_shared_message_round_trips_through_the_codec() -> None:
    """A whole run with two hosts (partner and other), the loss on, every message encoded."""
    rng = np.random.default_rng(0)
    rows = 48
    y = (rng.random(rows) < 0.5).astype(float)
    settings = LrSettings.from_flat(
        mode="shared", batch_size=24, max_iter=2, key_length=1024, allow_weak_key=True
    )
    parties = LrParties("guest", ("host-1", "host-2"))
    roles = {
        "guest": build_lr_role(
            "guest",
            "guest",
            "j",
            parties,
            settings,
            "paillier",
            features=rng.normal(size=(rows, 2)),
            labels=y,
            sample_weight=rng.uniform(0.5, 2.0, rows),
        ),
        **{
            name: build_lr_role(
                "host",
                name,
                "j",
                parties,
                settings,
                "paillier",
                features=rng.normal(size=(rows, 2)),
            )
            for name in parties.hosts
        },
    }
    wire = codec_wire(roles, allow_weak_keys=True)
    seen: set[type] = set()

    def through(message):  # type: ignore[no-untyped-def]
        decoded = wire(message)
        assert type(decoded) is type(message)
        seen.add(type(message))
        return decoded

    run_roles(roles, wire=through)
    assert {LrSharePlain, LrShareWeights, LrShareSealed, LrSharePowers, LrShareResidual} <= seen
    results = [roles[name].result for name in ("guest", *parties.hosts)]
    assert all(r.epochs == 2 for r in results)


# job files --------------------------------------------------------------------------------
JOB = """
[job]
id = "shared"
allow_weak_keys = true
{job_extra}

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
{parties}
[[steps]]
type = "hetero_lr"
key_length = 1024
{settings}
"""
ARBITER = '\n[[parties]]\nname = "judge"\nrole = "arbiter"\naddress = "127.0.0.1:9303"\n'


def _job(folder: Path, settings: str = "", parties: str = "") -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    (folder / "a.csv").write_text(
        "id,y,x\n" + "".join(f"{i},{y[i]},{x[i, 0]:.6f}\n" for i in range(80))
    )
    (folder / "b.csv").write_text("id,z\n" + "".join(f"{i},{x[i, 1]:.6f}\n" for i in range(80)))
    path = folder / "job.toml"
    path.write_text(JOB.format(settings=settings, parties=parties, job_extra=""))
    return path


@pytest.mark.parametrize(
    ("settings", "parties", "match"),
    [
        ('optimizer = "adam"', "", 'steps[0].optimizer: shared mode cannot run the "adam"'),
        ('optimizer = "rmsprop"', "", 'or mode = "two-party"'),
        ('penalty = "l1"\nalpha = 0.1', "", "steps[0].penalty: shared mode cannot apply an L1"),
        ('convergence = "weights"', "", "steps[0].convergence: shared mode cannot stop on the"),
        ("label_privacy_epsilon = 2.0", "", "steps[0].label_privacy_epsilon: label privacy"),
        ('mode = "two-party"\nloss = "logistic"', "", 'steps[0].loss: "logistic" needs mode'),
        ('loss = "cubic"', "", "steps[0].loss: 'cubic' is not one of"),
        ("", ARBITER, 'shared mode needs no arbiter; drop it or use mode = "arbiter"'),
    ],
)
def test_a_shared_job_is_refused_at_load_time(
    tmp_path: Path, settings: str, parties: str, match: str
) -> None:
    with pytest.raises(JobFileError, match=re.escape(match)):
        load_job(_job(tmp_path, settings, parties))


def test_a_shared_job_simulates_and_says_its_mode_and_loss(tmp_path: Path) -> None:
    job = load_job(_job(tmp_path, "batch_size = 40\nmax_iter = 2"))
    simulate_job(job)
    for bank in ("bank-a", "bank-b"):
        summary = json.loads((tmp_path / "output" / bank / "step-0-hetero_lr.json").read_text())
        assert (summary["mode"], summary["loss"], summary["epochs"]) == ("shared", "logistic", 2)
        model = PartyModel.load(tmp_path / "output" / bank / "step-0-model.json")
        assert (model.mode, model.loss) == ("shared", "logistic")


def test_the_job_default_is_a_shared_step_with_20_epochs(tmp_path: Path) -> None:
    step = load_job(_job(tmp_path)).steps[0]
    assert isinstance(step, HeteroLrStep)
    settings = step.settings(allow_weak_key=True)
    assert (settings.mode, settings.loss_name, settings.max_iter) == ("shared", "logistic", 20)
