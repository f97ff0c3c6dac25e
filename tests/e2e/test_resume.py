"""Checkpoints and ``--resume`` (issue 7): a resumed training ends with the model of the
uninterrupted run.

* sans-IO: every party's checkpoint goes through JSON; two-party and arbiter mode (two
  hosts), interrupted at several points (a party one checkpoint behind or ahead, no
  common checkpoint), resume to the uninterrupted run's final weights, exactly; the
  agreement refuses parties that do not all resume, foreign checkpoints and offers;
* files: hostile checkpoint and run-record files are refused with errors naming them;
* jobs: ``vfl simulate --resume`` skips finished steps and continues training;
* real processes: ``vfl run`` parties over mutual TLS, one SIGKILLed after a checkpoint,
  the other stops naming it, both rerun with ``--resume`` and end with the model of an
  uninterrupted training with the same batch plan.

The guest starts from secret random initial weights: sans-IO runs fix their seed, and
the job-level tests record the seed the interrupted run drew (wrapping
``secret_initial_weights``, in the test process or in the guest's ``vfl run``
process), so that the uninterrupted reference starts from the same point.  Hosts hold
2 breast host columns and batches are 100 rows, so every plan passes the
label-information bound (SECURITY.md §11).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import protocols.hetero_lr.guest as lr_guest
from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings, OptimizerSettings
from protocols.hetero_lr.state import LrCheckpoint
from protocols.messages import LrHostSetup, LrResume, Message
from protocols.roles import Role
from tests.e2e.test_jobs_e2e import ROOT
from tests.support.job_files import with_test_keys, write_job
from vfl.certs import create_job_certificates
from vfl.cli import main
from vfl.evaluation import metrics
from vfl.exceptions import DataError
from vfl.hetero_lr import class_row_weights
from vfl.jobs import simulate_job
from vfl.jobs.checkpoint import CheckpointStore, RunRecord, resume_hint
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, load_job
from vfl.steps.hetero_lr import training_inputs as _training_inputs
from vfl.steps.hetero_lr import training_labels as _training_labels
from vfl.tables.datasets import load_builtin, read_party_csv

ROWS = 200  # training rows: 2 batches of 100
BATCH_SIZE = 100
EPOCHS = 5
SEED = bytes(range(32))
WEIGHTS_SEED = bytes(range(32, 64))  # the guest's secret initial weights, fixed here
# breast host columns of 18 bits: 2 of them need batches of 96 rows at these labels'
# event rate (protocols.hetero_lr.leakage.minimum_batch_for_labels)
HOST_COLUMNS = {"host": [0, 1], "host-1": [0, 1], "host-2": [4, 5]}
JOB = "resume-1#1"
EXAMPLES = ROOT / "examples"
Saved = dict[str, list[LrCheckpoint]]


# sans-IO: roles, delivery, checkpoints ----------------------------------------------------
@functools.cache
def _data() -> tuple[np.ndarray, ...]:
    guest, host = load_builtin("breast")
    assert guest.ids == host.ids and guest.labels is not None
    labels = guest.labels.astype(float)
    return (
        guest.features[:ROWS],
        labels[:ROWS],
        host.features[:ROWS],
        guest.features[ROWS : ROWS + 60],
        labels[ROWS : ROWS + 60],
        host.features[ROWS : ROWS + 60],
    )


def _metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return {
        "auc": metrics.roc_auc(labels, probabilities),
        "ks": metrics.ks_statistic(labels, probabilities),
    }


def _settings(mode: str, **changes: Any) -> LrSettings:
    values: dict[str, Any] = {
        "mode": mode,
        "batch_size": BATCH_SIZE,
        "max_iter": EPOCHS,
        "convergence": "max_iter",
        "key_length": 1024,
        "allow_weak_key": True,
        # adam keeps moments and a step count; the decay depends on the epoch
        "optimizer": OptimizerSettings("adam", learning_rate=0.05, decay=0.5),
        **changes,
    }
    return LrSettings(**values)


def _roles(
    mode: str,
    backend: str = "plaintext",
    *,
    settings: LrSettings | None = None,
    validation: bool = False,
    plan_seed: bytes | None = SEED,
    guest_features: np.ndarray | None = None,
) -> dict[str, Role]:
    Xg, y, Xh, Vg, vy, Vh = _data()
    settings = settings or _settings(mode)
    names = ["host"] if mode == "two-party" else ["host-1", "host-2"]
    hosts = {name: (Xh[:, HOST_COLUMNS[name]], Vh[:, HOST_COLUMNS[name]]) for name in names}
    arbiter = None if mode == "two-party" else "arbiter"
    held_out: dict[str, Any] = {}
    if validation:
        held_out = {"validation": Vg, "validation_labels": vy, "evaluate": _metrics}
    roles: dict[str, Role] = {
        "guest": LrGuest(
            "guest", JOB, hosts=list(hosts), features=Xg if guest_features is None else guest_features,
            labels=y, settings=settings, backend=backend, arbiter=arbiter, plan_seed=plan_seed,
            initial_weights_seed=WEIGHTS_SEED, **held_out,
        )
    }  # fmt: skip
    for name, (X, V) in hosts.items():
        roles[name] = LrHost(
            name, JOB, guest="guest", features=X, settings=settings, backend=backend,
            arbiter=arbiter, validation=V if validation else None,
        )  # fmt: skip
    if arbiter is not None:
        roles[arbiter] = LrArbiter(
            arbiter, JOB, guest="guest", hosts=list(hosts), settings=settings, backend=backend
        )
    return roles


def _through_json(checkpoint: LrCheckpoint) -> LrCheckpoint:
    return LrCheckpoint.from_dict(json.loads(json.dumps(checkpoint.to_dict())))


def _run(
    roles: dict[str, Role],
    saved: Saved | None = None,
    *,
    seed: int = 0,
    until: Callable[[Saved], bool] | None = None,
) -> bool:
    """Deliver messages (FIFO per link, links in random order) and keep each party's
    checkpoints through JSON, its last two as on disk; stop when ``until(saved)`` (a
    crash).  Returns whether every role finished."""
    saved = {} if saved is None else saved
    rng = random.Random(seed)
    links: dict[tuple[str, str], deque[Message]] = {}

    def post(messages: list[Message]) -> None:
        for message in messages:
            links.setdefault((message.sender, message.receiver), deque()).append(message)

    for role in roles.values():
        post(role.start())
    while busy := sorted(link for link, queue in links.items() if queue):
        message = links[rng.choice(busy)].popleft()
        post(roles[message.receiver].receive(message))
        for name, role in roles.items():
            assert isinstance(role, LrGuest | LrHost | LrArbiter)
            checkpoint = role.take_checkpoint()
            if checkpoint is not None:
                saved[name] = [*saved.get(name, []), _through_json(checkpoint)][-2:]
        if until is not None and until(saved):
            return False
    return all(role.done for role in roles.values())


def _epochs(saved: Saved, party: str) -> list[int]:
    return [checkpoint.epoch for checkpoint in saved.get(party, [])]


def _resumed(
    mode: str, saved: Saved, backend: str = "plaintext", **options: Any
) -> dict[str, Role]:
    """New roles (fresh keys, and no plan seed: the guest's checkpoints give it) resumed
    from ``saved``, trained to the end."""
    roles = _roles(mode, backend, plan_seed=None, **options)
    for name, role in roles.items():
        assert isinstance(role, LrGuest | LrHost | LrArbiter)
        role.prepare_resume(saved.get(name, []))
    assert _run(roles, seed=1)
    return roles


def _assert_same_models(resumed: dict[str, Role], reference: dict[str, Role]) -> None:
    for name, role in reference.items():
        if name == "arbiter":
            assert resumed[name].done
            continue
        got, expected = resumed[name].result, role.result
        assert np.array_equal(got.weights, expected.weights), name
        assert got.intercept == expected.intercept
        assert got.history == expected.history
        assert (got.epochs, got.stop_reason, got.best_epoch) == (
            expected.epochs,
            expected.stop_reason,
            expected.best_epoch,
        )
        assert got.optimizer_state == expected.optimizer_state


EARLY_STOPPING: dict[str, Any] = {
    "early_stopping": "auc",
    "patience": 2,
    # From the guest's random start the validation AUC keeps rising for all 5 epochs
    # at a learning rate of 0.05; at 0.5 it peaks after epoch 1 and training stops
    # early after epoch 3 (what the test below needs).
    "optimizer": OptimizerSettings("adam", learning_rate=0.5, decay=0.5),
}


@functools.cache
def _uninterrupted(mode: str, validation: bool = False) -> dict[str, Role]:
    settings = _settings(mode, **(EARLY_STOPPING if validation else {}))
    roles = _roles(mode, settings=settings, validation=validation)
    assert _run(roles, seed=2)
    return roles


def _training_parties(mode: str) -> list[str]:
    return ["guest", "host"] if mode == "two-party" else ["guest", "host-1", "host-2"]


def _all_hold(epoch: int, mode: str) -> Callable[[Saved], bool]:
    return lambda saved: all(epoch in _epochs(saved, p) for p in _training_parties(mode))


INTERRUPTIONS = {
    # name: (stop when, whose latest checkpoint is lost, the epoch training goes on after)
    "everyone-after-epoch-1": (lambda mode: _all_hold(1, mode), None, 1),
    "guest-one-ahead": (lambda mode: lambda saved: 2 in _epochs(saved, "guest"), None, 1),
    "hosts-one-ahead": (lambda mode: _all_hold(2, mode), "guest", 1),
    "host-one-behind": (lambda mode: _all_hold(3, mode), "last-host", 2),
    "no-common-checkpoint": (lambda mode: lambda saved: 0 in _epochs(saved, "guest"), None, -1),
}


@pytest.mark.parametrize("interruption", list(INTERRUPTIONS))
@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_resuming_gives_the_uninterrupted_model(mode: str, interruption: str) -> None:
    until, loses, after = INTERRUPTIONS[interruption]
    saved: Saved = {}
    assert not _run(_roles(mode), saved, seed=3, until=until(mode))
    if loses is not None:  # killed after its peers' checkpoint, before writing its own
        party = _training_parties(mode)[-1] if loses == "last-host" else loses
        saved[party] = saved[party][:-1]
    resumed = _resumed(mode, saved)
    assert {role.resumed_after for role in resumed.values()} == {after}  # type: ignore[attr-defined]
    _assert_same_models(resumed, _uninterrupted(mode))


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_encrypted_resume_equals_the_plaintext_reference(mode: str) -> None:
    """Paillier keys are never checkpointed: the resumed run draws new ones, and its
    arithmetic is the plaintext backend's, so the model is exactly the reference."""
    saved: Saved = {}
    assert not _run(_roles(mode, "paillier"), saved, seed=4, until=_all_hold(2, mode))
    resumed = _resumed(mode, saved, "paillier")
    assert resumed["guest"].resumed_after == 2  # type: ignore[attr-defined]
    _assert_same_models(resumed, _uninterrupted(mode))


def test_early_stopping_state_is_restored() -> None:
    reference = _uninterrupted("two-party", validation=True)
    assert reference["guest"].result.stop_reason == "early_stopping"
    stop_epoch = reference["guest"].result.epochs - 1
    settings = _settings("two-party", **EARLY_STOPPING)
    saved: Saved = {}
    roles = _roles("two-party", settings=settings, validation=True)
    assert not _run(roles, saved, seed=5, until=_all_hold(stop_epoch - 1, "two-party"))
    guest_checkpoint = saved["guest"][-1]
    # the best epoch so far lies before the checkpoint, and one epoch did not improve on it
    assert guest_checkpoint.best_epoch < guest_checkpoint.epoch
    assert guest_checkpoint.best_value is not None and guest_checkpoint.stale_epochs == 1
    assert len(guest_checkpoint.snapshots) == guest_checkpoint.epoch + 1
    resumed = _resumed("two-party", saved, settings=settings, validation=True)
    _assert_same_models(resumed, reference)


def test_checkpoints_hold_only_the_partys_own_state() -> None:
    saved: Saved = {}
    assert _run(_roles("arbiter"), saved, seed=6)
    assert _epochs(saved, "guest") == _epochs(saved, "arbiter") == [EPOCHS - 3, EPOCHS - 2]
    for party, checkpoints in saved.items():
        for checkpoint in checkpoints:
            assert checkpoint.plan_seed == SEED
            assert LrCheckpoint.from_dict(checkpoint.to_dict()) == checkpoint
            document = checkpoint.to_dict()
            assert set(document) == {
                "version", "role", "epoch", "plan_seed", "inputs_digest", "weights",
                "optimizer", "snapshots", "history", "best_epoch", "best_value", "stale_epochs",
            }  # fmt: skip
            if party == "arbiter":
                assert document["weights"] == [] and document["history"] == []
    widths = {party: len(checkpoints[0].weights) for party, checkpoints in saved.items()}
    assert widths == {"guest": 11, "host-1": 2, "host-2": 2, "arbiter": 0}


# sans-IO: the agreement refuses what does not fit ----------------------------------------
def test_every_party_must_resume_or_none() -> None:
    saved: Saved = {}
    _run(_roles("two-party"), saved, until=_all_hold(1, "two-party"))
    roles = _roles("two-party")
    roles["guest"].prepare_resume(saved["guest"])  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match=r"^host: the guest continues an interrupted run"):
        _run(roles)
    roles = _roles("two-party")
    roles["host"].prepare_resume(saved["host"])  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match=r"^guest: host continues an interrupted run"):
        _run(roles)
    roles = _roles("arbiter")
    for name in ("guest", "host-1", "host-2"):
        roles[name].prepare_resume([])  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match=r"^arbiter: the guest continues .* --resume, or none"):
        _run(roles)


def test_checkpoints_of_other_inputs_settings_or_roles_are_refused() -> None:
    saved: Saved = {}
    _run(_roles("two-party"), saved, until=_all_hold(1, "two-party"))
    changed = _data()[0].copy()
    changed[0, 0] += 1e-9
    guest = _roles("two-party", guest_features=changed)["guest"]
    with pytest.raises(ProtocolError, match="other training data or settings"):
        guest.prepare_resume(saved["guest"])  # type: ignore[attr-defined]
    other = _roles("two-party", settings=_settings("two-party", batch_size=65))["guest"]
    with pytest.raises(ProtocolError, match="other training data or settings"):
        other.prepare_resume(saved["guest"])  # type: ignore[attr-defined]
    guest = _roles("two-party")["guest"]
    with pytest.raises(ProtocolError, match="is a host's, this party is the guest"):
        guest.prepare_resume(saved["host"])  # type: ignore[attr-defined]
    guest.start()
    with pytest.raises(ProtocolError, match=r"must be called once, before start\(\)"):
        guest.prepare_resume(saved["guest"])  # type: ignore[attr-defined]


def test_offers_of_another_training_run_are_not_used() -> None:
    """The hosts' checkpoints come from a run with another plan seed: no common
    checkpoint, so training starts afresh with the guest's seed."""
    saved: Saved = {}
    _run(_roles("two-party"), saved, until=_all_hold(1, "two-party"))
    other: Saved = {}
    _run(_roles("two-party", plan_seed=bytes(32)), other, until=_all_hold(1, "two-party"))
    resumed = _resumed("two-party", {"guest": saved["guest"], "host": other["host"]})
    assert resumed["host"].resumed_after == -1  # type: ignore[attr-defined]
    _assert_same_models(resumed, _uninterrupted("two-party"))


def test_a_resume_at_an_epoch_not_offered_is_refused() -> None:
    saved: Saved = {}
    _run(_roles("two-party"), saved, until=_all_hold(1, "two-party"))
    host = _roles("two-party")["host"]
    assert isinstance(host, LrHost)
    host.prepare_resume(saved["host"][:1])  # offers epoch 0 only
    (offer,) = host.start()
    assert isinstance(offer, LrHostSetup) and offer.resume_epochs == (0,)
    guest = _roles("two-party")["guest"]
    guest.prepare_resume(saved["guest"])  # type: ignore[attr-defined]
    setup = next(m for m in guest.start() if m.receiver == "host" and m.kind.name == "LR_SETUP")
    host.receive(setup)
    with pytest.raises(ProtocolError, match="resumes after epoch 1, which this host did not offer"):
        host.receive(LrResume(job_id=JOB, sender="guest", receiver="host", round=2))


@pytest.mark.parametrize(
    ("epochs", "seed"),
    [((0, 1, 2), SEED), ((1, 1), SEED), ((EPOCHS - 1,), SEED), ((0,), b""), ((), SEED)],
    ids=["three", "twice", "no-epoch-left", "no-seed", "seed-without-epochs"],
)
def test_malformed_offers_are_refused(epochs: tuple[int, ...], seed: bytes) -> None:
    guest = _roles("two-party")["guest"]
    guest.prepare_resume([])  # type: ignore[attr-defined]
    guest.start()
    offer = LrHostSetup(
        job_id=JOB, sender="host", receiver="guest", features=2, rows=ROWS, validation_rows=0,
        gradient_bits=18, resume=True, resume_seed=seed, resume_epochs=epochs,
    )  # fmt: skip
    with pytest.raises(ProtocolError, match="resume offer is malformed"):
        guest.receive(offer)


def test_a_fresh_host_refuses_a_resume_message() -> None:
    roles = _roles("two-party")
    setup = next(m for m in roles["guest"].start() if m.kind.name == "LR_SETUP")
    roles["host"].receive(setup)
    with pytest.raises(ProtocolError, match="did not expect LR_RESUME from guest"):
        roles["host"].receive(LrResume(job_id=JOB, sender="guest", receiver="host", round=1))


# files: hostile checkpoints and run records -------------------------------------------------
class _Job:
    """The part of a JobConfig a CheckpointStore uses."""

    job_id = "resume-files"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def party_output_dir(self, name: str) -> Path:
        return self.folder / name


RUN = "ab" * 16


@pytest.fixture(scope="module")
def guest_checkpoint() -> LrCheckpoint:
    saved: Saved = {}
    _run(_roles("two-party"), saved, until=_all_hold(1, "two-party"))
    return saved["guest"][-1]


def _edit(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document[key] = value

    return edit


def _edit_state(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document["state"][key] = value

    return edit


HOSTILE_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
        "truncated or not JSON",
    ),
    "empty": (lambda path: path.write_bytes(b""), "truncated or not JSON"),
    "pickle": (lambda path: path.write_bytes(b"\x80\x04\x95\x00cos\nsystem\n"), "not UTF-8"),
    "a-list": (lambda path: path.write_text("[1, 2]"), "expected a JSON object"),
    "duplicate-key": (
        lambda path: path.write_text(
            path.read_text().replace('"version": 1,', '"version": 1, "version": 1,', 1)
        ),
        "a key appears twice",
    ),
    "renamed": (
        lambda path: path.rename(path.with_name("step-1-epoch-3.json")),
        "step-1-epoch-3.json: holds the checkpoint of epoch 1",
    ),
}
HOSTILE_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "wrong-version": (_edit("version", 99), "checkpoint version 99 is not supported"),
    "wrong-format": (_edit("format", "vfl-model"), "not a checkpoint"),
    "other-job": (_edit("job", "someone-else"), "a checkpoint of job 'someone-else'"),
    "other-step": (_edit("step", 7), "step 7"),
    "other-party": (_edit("party", "host"), "party 'host'"),
    "other-run": (_edit("run", "cd" * 16), "another run of this job"),
    "extra-key": (_edit("model", {}), r"not a valid checkpoint \(unknown model\)"),
    "state-version": (_edit_state("version", 2), "state version 2 is not supported"),
    "nan-weight": (_edit_state("weights", [float("nan")] * 21), "weights must be finite"),
    "short-history": (_edit_state("history", []), "history must hold 2 entries"),
    "bad-optimizer": (_edit_state("optimizer", {"version": 1}), "optimizer state: missing keys"),
    "bad-seed": (_edit_state("plan_seed", "zz"), "plan_seed must be 64 lowercase hexadecimal"),
    "fewer-epochs": (_edit_state("epoch", 0), r"snapshots must hold 1 weight vectors"),
    "other-role": (_edit_state("role", "host"), "a host's checkpoint, but 'guest' is the guest"),
    "other-inputs": (
        _edit_state("inputs_digest", "0" * 64),
        "made from other training data or settings than 'guest' has now",
    ),
}


@pytest.mark.parametrize("case", [*HOSTILE_FILES, *HOSTILE_EDITS])
def test_hostile_checkpoint_files_are_refused(
    tmp_path: Path, guest_checkpoint: LrCheckpoint, case: str
) -> None:
    store = CheckpointStore(_Job(tmp_path), "guest", 1, RUN)  # type: ignore[arg-type]
    path = store.save(guest_checkpoint)
    assert path.name == f"step-1-epoch-{guest_checkpoint.epoch}.json"
    digest = guest_checkpoint.inputs_digest
    assert store.load("guest", digest) == [guest_checkpoint]
    if case in HOSTILE_FILES:
        spoil, expected = HOSTILE_FILES[case]
        spoil(path)
    else:
        edit, expected = HOSTILE_EDITS[case]
        document = json.loads(path.read_text())
        edit(document)
        path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=expected) as refused:
        store.load("guest", digest)
    assert str(refused.value).startswith(str(path.parent))


def test_only_the_last_two_checkpoints_are_kept(tmp_path: Path) -> None:
    saved: Saved = {}
    store = CheckpointStore(_Job(tmp_path), "guest", 1, RUN)  # type: ignore[arg-type]
    written: list[LrCheckpoint] = []

    def keep(saved: Saved) -> bool:
        if saved.get("guest") and saved["guest"][-1] not in written:
            written.append(saved["guest"][-1])
            store.save(written[-1])
        return False

    assert _run(_roles("two-party"), saved, until=keep)
    assert len(written) == EPOCHS - 1
    assert [path.name for _, path in store.files()] == [
        f"step-1-epoch-{EPOCHS - 3}.json",
        f"step-1-epoch-{EPOCHS - 2}.json",
    ]
    assert sorted(p.name for p in (tmp_path / "guest" / "checkpoints").iterdir()) == [
        path.name for _, path in store.files()
    ]  # nothing half-written left behind


# jobs: vfl simulate --resume ----------------------------------------------------------------
class PartyKilledError(Exception):
    """A party dies (raised in the middle of its run)."""


@contextlib.contextmanager
def _killed(party: str, epoch: int, *, before_writing: bool = False) -> Iterator[None]:
    """``party`` dies right after (or before) it writes its checkpoint of ``epoch``."""
    original = CheckpointStore.save

    def save(store: CheckpointStore, checkpoint: LrCheckpoint) -> Path:
        dies = store.party == party and checkpoint.epoch == epoch
        if dies and before_writing:
            raise PartyKilledError(party)
        path = original(store, checkpoint)
        if dies:
            (path.parent / f".{path.name}.half12ab.tmp").write_text('{"format": ')
            raise PartyKilledError(party)
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckpointStore, "save", save)
        yield


def _example_job(tmp_path: Path, example: str, **training: Any) -> JobConfig:
    folder = tmp_path / example
    shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns("output"))
    job = with_test_keys(load_job(folder / "job.toml"))
    steps = tuple(
        dataclasses.replace(step, **training) if isinstance(step, HeteroLrStep) else step
        for step in job.steps
    )
    return dataclasses.replace(job, steps=steps)


def _plan_seed(job: JobConfig) -> bytes:
    """The batch-plan seed of the guest's checkpoints of step 1."""
    folder = job.party_output_dir(job.guest.name) / "checkpoints"
    checkpoint = json.loads(max(folder.glob("step-1-epoch-*.json")).read_text())
    return bytes.fromhex(checkpoint["state"]["plan_seed"])


@contextlib.contextmanager
def _recorded_initial_weights() -> Iterator[list[bytes]]:
    """The seeds of the guest's secret initial weights, as the guest draws them here."""
    seeds: list[bytes] = []
    real = lr_guest.secret_initial_weights

    def record(features: Any, seed: bytes) -> np.ndarray:
        seeds.append(seed)
        return real(features, seed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lr_guest, "secret_initial_weights", record)
        yield seeds


def _reference(job: JobConfig, seed: bytes, weights_seed: bytes) -> dict[str, Role]:
    """The uninterrupted training of ``job``'s step 1 with batch-plan seed ``seed`` and
    the guest's initial weights from ``weights_seed``, on the plaintext backend (whose
    arithmetic is Paillier's), from the aligned rows."""
    step = job.steps[1]
    assert isinstance(step, HeteroLrStep)
    settings = step.settings(allow_weak_key=True)
    guest, hosts = job.guest, [host.name for host in job.hosts]
    arbiter = next((p.name for p in job.parties if p.role == "arbiter"), None)
    features, tables = {}, {}
    for party in (guest, *job.hosts):
        assert party.data is not None
        tables[party.name] = read_party_csv(
            job.party_output_dir(party.name) / "step-0-psi.csv",
            id_column=party.data.id_column,
            label_column=party.data.label_column,
        )
        features[party.name] = _training_inputs(step, party, tables[party.name])[1]
    labels = _training_labels(guest, tables[guest.name])
    roles: dict[str, Role] = {
        guest.name: LrGuest(
            guest.name, "reference", hosts=hosts, features=features[guest.name], labels=labels,
            settings=settings, backend="plaintext", arbiter=arbiter,
            sample_weight=class_row_weights(labels, step.class_weight), plan_seed=seed,
            initial_weights_seed=weights_seed,
        )
    }  # fmt: skip
    for host in hosts:
        roles[host] = LrHost(
            host, "reference", guest=guest.name, features=features[host], settings=settings,
            backend="plaintext", arbiter=arbiter,
        )  # fmt: skip
    if arbiter is not None:
        roles[arbiter] = LrArbiter(
            arbiter, "reference", guest=guest.name, hosts=hosts, settings=settings,
            backend="plaintext",
        )  # fmt: skip
    assert _run(roles)
    return roles


def _assert_reference_models(job: JobConfig, reference: dict[str, Role]) -> None:
    for party in (job.guest, *job.hosts):
        model = json.loads((job.party_output_dir(party.name) / "step-1-model.json").read_text())
        expected = reference[party.name].result
        assert model["weights"] == expected.weights.tolist(), party.name
        assert model["intercept"] == expected.intercept
        assert model["history"] == expected.history


@pytest.mark.parametrize(
    ("example", "killed", "before_writing", "after"),
    [("hetero-lr", "bank-a", True, 1), ("hetero-lr-arbiter", "bank-c", False, 2)],
    ids=["two-party-guest-dies-before-its-checkpoint", "arbiter-host-dies-after-it"],
)
def test_simulate_resume_continues_an_interrupted_training(
    tmp_path: Path, example: str, killed: str, before_writing: bool, after: int
) -> None:
    job = _example_job(tmp_path, example, max_iter=5, convergence="max_iter", optimizer="momentum")
    with (
        _recorded_initial_weights() as weights_seeds,
        _killed(killed, 2, before_writing=before_writing),
        pytest.raises(PartyKilledError),
    ):
        simulate_job(job)
    (weights_seed,) = weights_seeds  # the interrupted run's secret starting point
    guest = job.party_output_dir("bank-a")
    assert not (guest / "step-1-model.json").exists()
    aligned = (guest / "step-0-psi.csv").stat().st_mtime_ns
    seed = _plan_seed(job)
    reports = simulate_job(job, resume=True)
    _assert_reference_models(job, _reference(job, seed, weights_seed))
    assert (guest / "step-0-psi.csv").stat().st_mtime_ns == aligned  # PSI was not run again
    for report in reports.values():
        training = next(r for r in report.results if r["type"] == "hetero_lr")
        assert training["resumed_after_epoch"] == after
        folder = job.party_output_dir(report.party)
        assert not (folder / "checkpoints").exists()  # a finished party keeps no checkpoint
        assert not list(folder.rglob("*.tmp"))
    assert (guest / "step-2-scores.csv").is_file()


def test_a_run_without_resume_ignores_old_checkpoints(tmp_path: Path) -> None:
    job = _example_job(tmp_path, "hetero-lr", max_iter=4, convergence="max_iter")
    with _killed("bank-b", 1), pytest.raises(PartyKilledError):
        simulate_job(job)
    record = job.party_output_dir("bank-a") / "checkpoints" / "run.json"
    run = json.loads(record.read_text())["run"]
    with _killed("bank-b", 0), pytest.raises(PartyKilledError):
        simulate_job(job)  # a new run: the old checkpoints are deleted, not offered
    assert json.loads(record.read_text())["run"] != run
    folder = job.party_output_dir("bank-b") / "checkpoints"
    kept = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp"))
    assert kept == ["run.json", "step-1-epoch-0.json"]
    reports = simulate_job(job, resume=True)
    assert reports["bank-b"].results[1]["resumed_after_epoch"] == 0


def test_the_resume_hint_names_where_each_party_would_continue(tmp_path: Path) -> None:
    job = _example_job(tmp_path, "hetero-lr", max_iter=4, convergence="max_iter")
    assert resume_hint(job, "bank-b") is None  # nothing ran yet
    with _killed("bank-b", 1), pytest.raises(PartyKilledError):
        simulate_job(job)
    folder = job.party_output_dir("bank-b") / "checkpoints"
    assert resume_hint(job, "bank-b") == (
        f"checkpoints of this run are in {folder}: rerun every party with --resume to "
        "continue after epoch 1 of step 1"
    )
    simulate_job(job, resume=True)
    assert resume_hint(job, "bank-b") is None  # finished: nothing left to resume


def test_resume_is_refused_when_the_data_or_the_job_changed(tmp_path: Path) -> None:
    job = _example_job(tmp_path, "hetero-lr", max_iter=3)
    with _killed("bank-b", 0), pytest.raises(PartyKilledError):
        simulate_job(job)
    # a longer timeout, other addresses or n_jobs may change
    relaxed = dataclasses.replace(job, timeout=job.timeout + 1)
    assert RunRecord.begin(relaxed, job.party("bank-a"), resume=True).finished == [0]
    changed = dataclasses.replace(
        job,
        steps=tuple(
            dataclasses.replace(s, learning_rate=0.3) if isinstance(s, HeteroLrStep) else s
            for s in job.steps
        ),
    )
    with pytest.raises(
        DataError, match="cannot resume: the job file changed since the interrupted"
    ):
        simulate_job(changed, resume=True)
    data = job.party("bank-b").data
    assert data is not None
    data.file.write_text(data.file.read_text().replace(",0.131416,", ",0.131417,", 1))
    with pytest.raises(DataError, match="bank-b cannot resume: bank-b's data file changed"):
        simulate_job(job, resume=True)


def test_a_finished_step_with_missing_outputs_is_refused(tmp_path: Path) -> None:
    job = _example_job(tmp_path, "hetero-lr", max_iter=3)
    with _killed("bank-b", 0), pytest.raises(PartyKilledError):
        simulate_job(job)
    (job.party_output_dir("bank-b") / "step-0-psi.csv").unlink()
    with pytest.raises(DataError, match="step 0 is recorded as finished but its output"):
        simulate_job(job, resume=True)


def test_the_cli_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _example_job(tmp_path, "hetero-lr")
    text = job.path.read_text().replace("key_length = 2048", "key_length = 1024")
    text = text.replace("max_iter = 5", "max_iter = 3")
    job.path.write_text(text.replace("[job]", "[job]\nallow_weak_keys = true"))
    with _killed("bank-b", 0), pytest.raises(PartyKilledError):
        simulate_job(load_job(job.path))
    capsys.readouterr()
    assert main(["simulate", "--config", str(job.path), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "trained 3 epochs on" in printed and "resumed after epoch 0" in printed


# real processes over mutual TLS: kill, then resume ----------------------------------------
RECORDING_LAUNCHER = """
import sys
from pathlib import Path

import protocols.hetero_lr.guest as guest
from vfl.cli import main

real = guest.secret_initial_weights


def record(features, seed):
    with Path(sys.argv[1]).open("a", encoding="utf-8") as seeds:
        seeds.write(seed.hex() + "\\n")
    return real(features, seed)


guest.secret_initial_weights = record
raise SystemExit(main(sys.argv[2:]))
"""
"""``vfl run`` (the real CLI) that appends each initial-weights seed the guest draws
to the file named by its first argument: the reference run needs the same start."""


def _start(job_path: Path, party: str, logs: Path, *options: str) -> subprocess.Popen[str]:
    label = "-".join([party, *(o.strip("-") for o in options)])
    command = [
        sys.executable, "-c", RECORDING_LAUNCHER, str(logs / f"{party}.seeds"),
        "run", "--config", str(job_path), "--party", party, "--progress", "none", *options,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, text=True,
        stdout=(logs / f"{label}.out").open("w"), stderr=(logs / f"{label}.err").open("w"),
    )  # fmt: skip


TLS_PARTIES = [("bank-a", "guest"), ("bank-b", "host")]


def _tls_job(
    tmp_path: Path, job_id: str, steps: list[str], timeout: int
) -> tuple[Path, JobConfig, Path]:
    """The hetero-lr example's two banks as a job for `vfl run` processes over TLS, with
    1024-bit test keys: the job file, the loaded job and a folder for the logs."""
    for name, _ in TLS_PARTIES:
        shutil.copy(EXAMPLES / "hetero-lr" / f"{name}.csv", tmp_path / f"{name}.csv")
    create_job_certificates(tmp_path / "certs", [name for name, _ in TLS_PARTIES])
    data = {
        "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
        "bank-b": '{ file = "bank-b.csv" }',
    }
    job_path = write_job(
        tmp_path, job_id=job_id, parties=TLS_PARTIES, data=data, steps=steps, timeout=timeout,
        allow_weak_keys=True,
    )  # fmt: skip
    logs = tmp_path / "logs"
    logs.mkdir()
    return job_path, load_job(job_path), logs


def test_a_killed_party_resumes_over_tls_to_the_uninterrupted_model(tmp_path: Path) -> None:
    parties = TLS_PARTIES
    steps = [
        '[[steps]]\ntype = "psi"\n',
        # 220 rows per batch: bank-b's 4 features pass the label-information bound
        '[[steps]]\ntype = "hetero_lr"\nmode = "two-party"\nbatch_size = 220\nlearning_rate = 0.15',
        "max_iter = 8",
        'optimizer = "momentum"\nconvergence = "max_iter"\nclass_weight = "balanced"',
        "key_length = 1024\n",
        '[[steps]]\ntype = "score"',
    ]
    job_path, job, logs = _tls_job(tmp_path, "resume-e2e", steps, timeout=20)
    output = {name: job.party_output_dir(name) for name, _ in parties}

    # 1. both parties train; the host is killed once it checkpointed two epochs
    processes = {name: _start(job_path, name, logs) for name, _ in parties}
    deadline = time.monotonic() + 60
    while not (output["bank-b"] / "checkpoints" / "step-1-epoch-1.json").exists():
        assert all(p.poll() is None for p in processes.values()), "a party stopped early"
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    processes["bank-b"].send_signal(signal.SIGKILL)
    assert processes["bank-b"].wait(timeout=10) == -signal.SIGKILL
    # the guest stops at once (well within its 20 s timeout), naming the killed host
    assert processes["bank-a"].wait(timeout=job.timeout) == 1
    error = (logs / "bank-a.err").read_text()
    assert "vfl: error:" in error and "bank-b" in error.split("vfl: error:")[1]
    assert not (output["bank-a"] / "step-1-model.json").exists()  # training was interrupted
    aligned = {name: (output[name] / "step-0-psi.csv").stat().st_mtime_ns for name in output}

    # 2. both rerun with --resume: PSI is reloaded, training goes on from a checkpoint
    seed = _plan_seed(job)
    (weights_seed,) = (logs / "bank-a.seeds").read_text().split()  # the first run's start
    processes = {name: _start(job_path, name, logs, "--resume") for name, _ in parties}
    for name, process in processes.items():
        assert process.wait(timeout=120) == 0, (logs / f"{name}-resume.err").read_text()[-3000:]
    printed = (logs / "bank-a-resume.out").read_text()
    assert re.search(
        r"trained 8 epochs on \d+ rows \(max_iter, resumed after epoch [1-7]\)", printed
    )
    assert re.search(r"scored \d+ rows", printed)
    assert {
        name: (output[name] / "step-0-psi.csv").stat().st_mtime_ns for name in output
    } == aligned
    for name in output:
        summary = json.loads((output[name] / "step-1-hetero_lr.json").read_text())
        assert summary["resumed_after_epoch"] >= 1 and summary["epochs"] == 8
        assert not (output[name] / "checkpoints").exists()
        assert not list(output[name].rglob("*.tmp"))  # nothing half-written left behind

    # 3. the models are those of an uninterrupted run with the checkpoints' batch plan
    # and the interrupted run's initial weights
    _assert_reference_models(job, _reference(job, seed, bytes.fromhex(weights_seed)))


def test_sigterm_stops_a_party_like_ctrl_c_tells_its_peer_and_says_resume(
    tmp_path: Path,
) -> None:
    """``kill PID`` (SIGTERM) mid-training: exit 143, the peer is told at once (not after
    its timeout) and names why, and both say that --resume continues and from where."""
    steps = [
        '[[steps]]\ntype = "psi"\n',
        '[[steps]]\ntype = "hetero_lr"\nmode = "two-party"\nbatch_size = 220\nlearning_rate = 0.15',
        'max_iter = 40\nconvergence = "max_iter"\nkey_length = 1024\n',
    ]
    job_path, job, logs = _tls_job(tmp_path, "sigterm-e2e", steps, timeout=60)
    processes = {name: _start(job_path, name, logs) for name, _ in TLS_PARTIES}
    checkpoint = job.party_output_dir("bank-b") / "checkpoints" / "step-1-epoch-1.json"
    deadline = time.monotonic() + 60
    while not checkpoint.exists():
        assert all(p.poll() is None for p in processes.values()), "a party stopped early"
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    processes["bank-b"].send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert processes["bank-b"].wait(timeout=30) == 143
    assert processes["bank-a"].wait(timeout=30) == 1
    assert time.monotonic() - stopped < job.timeout / 2  # told, not timed out
    host, guest = ((logs / f"{name}.err").read_text() for name in ("bank-b", "bank-a"))
    assert "vfl: terminated (SIGTERM); the peers were told" in host
    assert "received SIGTERM" in guest.split("vfl: error:")[1]  # the Abort's reason
    for name, text in (("bank-b", host), ("bank-a", guest)):
        assert f"vfl: {name}: checkpoints of this run are in " in text
        assert "rerun every party with --resume to continue after epoch" in text
