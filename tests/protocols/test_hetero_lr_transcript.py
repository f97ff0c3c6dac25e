"""What each party sees during hetero LR training: an audit of whole transcripts.

Both modes run on the paillier backend with every message encoded and decoded by
``vfl.codec`` (``vfl.runtime.local.codec_wire``) and deliveries interleaved at
random.  The true values (each party's gradient sum per batch, the batch loss, the
hosts' partial scores) come from a replay on the plaintext backend with the same
plan seed, which computes exactly the same fixed-point values (checked below).

For every receiver we take everything it can read or decrypt and check it against
those true values (SECURITY.md §11):

* two-party: the host decrypts only the guest's masked gradient and loss, which are
  uniform residues; everything else it gets is under the guest's key;
* the guest never gets a host feature or an exact host partial score; the vectors
  it gets are under a key it does not hold, except the host's masked gradient it
  decrypts for the host (two-party), again uniform residues;
* the arbiter decrypts only masked values and gets no plaintext array at all;
* no ciphertext is sent twice, so whatever reaches a key owner was re-randomised;
* a host's epoch summary carries a weight-change norm only when training converges on
  weights and validation scores only with early stopping.

The hosts hold 3 of the breast host columns and batches have at least 160 rows, so
that every plan passes the label-information bound (SECURITY.md §11); the guest's
secret initial weights come from a fixed seed, so that the paillier run and its
plaintext replay start from the same point.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pytest

from crypto.encoding import encode_array
from crypto.exceptions import CryptoError
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PackedEncryptedVector,
    PaillierPublicKey,
    VectorMask,
)
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import gradient_entry_bits, satisfies_label_bound
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT, FACTOR_EXPONENT, TrainingParty
from protocols.messages import (
    LrCross,
    LrDecision,
    LrDecrypted,
    LrEpochEnd,
    LrForward,
    LrHostSetup,
    LrMasked,
    LrPublicKey,
    LrResidual,
    LrSetup,
    Message,
    payload_fields,
)
from protocols.roles import Role
from tests.support.auditor import conditional_field_problems
from tests.support.protocol_harness import run_roles
from vfl.evaluation import metrics
from vfl.runtime.local import codec_wire
from vfl.tables.datasets import load_builtin

ROWS = 500
BATCH_SIZE = 160
BATCHES = 3  # 500 rows in batches of at least 160
EPOCHS = 2
VALIDATION = 50  # held-out rows after the training rows
PLAN_SEED = bytes(range(32))
WEIGHTS_SEED = bytes(range(32, 64))  # the guest's secret initial weights, fixed here
JOB = "lr-audit"
HOSTS = ("host-1", "host-2")
# The breast host columns each host holds: 3 columns of 19-20 bits need batches of
# about 150 rows at the guest's event rate (minimum_batch_for_labels); the breast
# fixture's 20 columns would need 1043.
HOST_COLUMNS = {"host": [0, 1, 2], HOSTS[0]: [0, 1, 2], HOSTS[1]: [10, 11, 12]}
VECTOR_TYPES = (EncryptedVector, PackedEncryptedVector, MaskedVector)
# Interleavings used for the paillier runs.  Arbiter mode is run with a seed the
# current roles survive: some interleavings are refused (see
# test_arbiter_mode_survives_every_interleaving).
SEEDS = {"two-party": 5, "arbiter": 0}


# data, roles and the spies that record the true values --------------------------------
@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    assert guest.ids == host.ids  # aligned: row i is the same customer on both sides
    assert guest.labels is not None
    return guest.features[:ROWS], guest.labels[:ROWS], host.features[:ROWS]


def _names(mode: str) -> list[str]:
    return ["host"] if mode == "two-party" else list(HOSTS)


def _host_blocks(mode: str) -> dict[str, np.ndarray]:
    X_host = _data()[2]
    return {name: X_host[:, HOST_COLUMNS[name]] for name in _names(mode)}


def _metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return {
        "auc": metrics.roc_auc(labels, probabilities),
        "ks": metrics.ks_statistic(labels, probabilities),
    }


def _make_roles(
    mode: str, backend: str, *, validation: bool = False, **changes: Any
) -> dict[str, Role]:
    X_guest, labels, _ = _data()
    values: dict[str, Any] = {
        "mode": mode,
        "batch_size": BATCH_SIZE,
        "max_iter": EPOCHS,
        "convergence": "max_iter",
        "key_length": 1024,
        "allow_weak_key": True,
        **changes,
    }
    settings = LrSettings(**values)
    arbiter = None if mode == "two-party" else "arbiter"
    blocks = _host_blocks(mode)
    held_out: dict[str, Any] = {}
    if validation:
        guest_all = load_builtin("breast")[0]
        held_out = {
            "validation": guest_all.features[ROWS : ROWS + VALIDATION],
            "validation_labels": guest_all.labels[ROWS : ROWS + VALIDATION],  # type: ignore[index]
            "evaluate": _metrics,
        }
    roles: dict[str, Role] = {
        "guest": LrGuest(
            "guest",
            JOB,
            hosts=list(blocks),
            features=X_guest,
            labels=labels,
            settings=settings,
            backend=backend,
            arbiter=arbiter,
            plan_seed=PLAN_SEED,
            initial_weights_seed=WEIGHTS_SEED,
            **held_out,
        )
    }
    for name, block in blocks.items():
        roles[name] = LrHost(
            name,
            JOB,
            guest="guest",
            features=block,
            settings=settings,
            backend=backend,
            arbiter=arbiter,
            validation=_validation_block(mode, name) if validation else None,
        )
    if arbiter is not None:
        roles[arbiter] = LrArbiter(
            arbiter, JOB, guest="guest", hosts=list(blocks), settings=settings, backend=backend
        )
    return roles


def _validation_block(mode: str, name: str) -> np.ndarray:
    return load_builtin("breast")[1].features[ROWS : ROWS + VALIDATION, HOST_COLUMNS[name]]


def test_the_fixture_passes_the_label_information_bound() -> None:
    plan = BatchPlan(ROWS, BATCH_SIZE, PLAN_SEED)
    assert plan.batch_count == BATCHES
    # what each host checks (event rate 0.5) and the guest at its labels' rate
    event_rate = float(_data()[1].mean())
    for name, columns in HOST_COLUMNS.items():
        bits = gradient_entry_bits(_data()[2][:, columns])
        for rate in (0.5, event_rate):
            assert satisfies_label_bound(plan.smallest, len(columns), bits, rate), name
    # the breast fixture's 20 host columns would be refused
    assert not satisfies_label_bound(plan.smallest, 20, gradient_entry_bits(_data()[2]))


@dataclasses.dataclass
class Record:
    """Values a run computed, keyed by (party, epoch, batch) or (epoch, batch)."""

    gradients: dict[tuple[str, int, int], np.ndarray] = dataclasses.field(default_factory=dict)
    losses: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)
    scores: dict[tuple[str, int, int], np.ndarray] = dataclasses.field(default_factory=dict)
    masks: dict[tuple[str, int, int], list[Any]] = dataclasses.field(default_factory=dict)


def _wrap(role: Role, name: str, around: Callable[..., Any]) -> None:
    """Replace ``role.<name>`` by ``around(original, *args)`` (instance attribute)."""
    original = getattr(role, name)
    setattr(role, name, functools.partial(around, original))


def _spy(roles: dict[str, Role]) -> Record:
    """Record what every party computes: the values it must keep to itself."""
    record = Record()
    for name, role in roles.items():
        if not isinstance(role, TrainingParty):
            continue
        party: TrainingParty = role

        def update(original, gradient_sum, party=party, name=name):
            record.gradients[(name, party.epoch, party.batch)] = np.array(gradient_sum)
            return original(gradient_sum)

        _wrap(party, "_update", update)
        if isinstance(party, LrHost):
            host: LrHost = party

            def scores(original, rows=None, host=host, name=name):
                result = original(rows)
                record.scores[(name, host.epoch, host.batch)] = result.copy()
                return result

            def residual(original, message, host=host, name=name):
                replies = original(message)
                record.masks[(name, host.epoch, host.batch)] = [host._batch.mask]
                return replies

            _wrap(host, "_scores", scores)
            _wrap(host, "_take_residual", residual)
        else:
            assert isinstance(party, LrGuest)
            guest: LrGuest = party

            def send_gradient(original, guest=guest):
                replies = original()
                record.masks[("guest", guest.epoch, guest.batch)] = list(guest._batch.masks)
                return replies

            def decrypted(original, message, guest=guest):
                # the batch loss exactly as the guest unmasks it
                split = guest._batch.gradient_ciphertexts
                (loss,) = guest._batch.masks[1].unmask(list(message.values[split:]))
                record.losses[(guest.epoch, guest.batch)] = float(loss)
                return original(message)

            _wrap(guest, "_send_gradient", send_gradient)
            _wrap(guest, "_take_decrypted", decrypted)
    return record


def _codec_wire(names: Iterable[str], received: list[Message]) -> Callable[[Message], Message]:
    """Encode and decode every message as over TLS; keep what each receiver decoded."""
    through_codec = codec_wire(names, allow_weak_keys=True)

    def wire(message: Message) -> Message:
        decoded = through_codec(message)
        received.append(decoded)
        return decoded

    return wire


@dataclasses.dataclass
class Run:
    mode: str
    roles: dict[str, Role]
    received: list[Message]  # every message as its receiver decoded it, in sending order
    spied: Record  # what the paillier run computed (masks included)
    truth: Record  # the plaintext replay


def _train(mode: str) -> Run:
    roles = _make_roles(mode, "paillier")
    spied = _spy(roles)
    received: list[Message] = []
    sent = run_roles(roles, rng=random.Random(SEEDS[mode]), wire=_codec_wire(roles, received))
    assert all(role.done for role in roles.values())
    assert [m.describe() for m in sent] == [m.describe() for m in received]
    replay = _make_roles(mode, "plaintext")
    truth = _spy(replay)
    run_roles(replay, rng=random.Random(SEEDS[mode]))
    assert all(role.done for role in replay.values())
    return Run(mode, roles, received, spied, truth)


@pytest.fixture(scope="module")
def two_party() -> Run:
    return _train("two-party")


@pytest.fixture(scope="module")
def arbiter_mode() -> Run:
    return _train("arbiter")


@pytest.fixture(params=["two-party", "arbiter"])
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue("two_party" if request.param == "two-party" else "arbiter_mode")


# what a message holds ---------------------------------------------------------------
def _vectors(message: Message) -> list[tuple[str, Any]]:
    return [
        (field.name, getattr(message, field.name))
        for field in payload_fields(type(message))
        if isinstance(getattr(message, field.name), VECTOR_TYPES)
    ]


def _arrays(message: Message) -> list[np.ndarray]:
    return [
        getattr(message, field.name)
        for field in payload_fields(type(message))
        if isinstance(getattr(message, field.name), np.ndarray)
    ]


def _integers(message: Message) -> list[int]:
    """The big integers a message carries in plaintext (``LrDecrypted.values``)."""
    found: list[int] = []
    for field in payload_fields(type(message)):
        value = getattr(message, field.name)
        if isinstance(value, tuple) and all(isinstance(item, int) for item in value):
            found.extend(value)
    return found


def _to(run: Run, receiver: str) -> list[Message]:
    return [message for message in run.received if message.receiver == receiver]


def _encodings(values: Iterable[np.ndarray], exponents: Sequence[int], n: int) -> set[int]:
    """Every fixed-point mantissa of ``values`` at ``exponents``, as residues mod ``n``."""
    residues: set[int] = set()
    for array in values:
        flat = np.asarray(array, dtype=np.float64).ravel()
        for exponent in exponents:
            residues.update(mantissa % n for mantissa in encode_array(flat, exponent))
    return residues


EXPONENTS = (
    ENCRYPTION_EXPONENT,
    FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + 2 * FACTOR_EXPONENT,
)


# what masked values must look like ------------------------------------------------------
def _assert_uniform(residues: Sequence[int], n: int) -> None:
    """Residues a key owner decrypted look uniform in [0, n): nothing small, nothing alike.

    An unmasked fixed-point value is a small residue (or ``n`` minus a small one when
    negative); a uniform residue is within ``2**200`` of either end with probability
    about ``2**-823``.
    """
    assert residues
    for residue in residues:
        assert 2**200 <= residue < n - 2**200
    assert len(set(residues)) == len(residues)
    top_bytes = {residue * 256 // n for residue in residues}
    assert len(top_bytes) >= max(2, len(residues) // 2), sorted(top_bytes)


def _assert_hides(mask: Any, residues: list[int], truth: np.ndarray) -> None:
    """``residues`` are ``truth`` under ``mask`` — and are not ``truth`` without it."""
    np.testing.assert_array_equal(mask.unmask(residues), truth)
    assert isinstance(mask, VectorMask)
    naive = VectorMask(
        mask.public_key, [0] * len(residues), mask.exponent, mask.length, mask.layout
    )
    try:
        decoded = naive.unmask(residues)
    except (CryptoError, ValueError, ArithmeticError):
        return  # not even a valid encoding
    assert not np.allclose(decoded, truth)


# the replay is the truth ------------------------------------------------------------------
def test_the_plaintext_replay_computes_the_same_values(run: Run) -> None:
    assert run.spied.gradients.keys() == run.truth.gradients.keys()
    parties = 2 if run.mode == "two-party" else 3
    assert len(run.truth.gradients) == parties * EPOCHS * BATCHES
    for key, gradient in run.truth.gradients.items():
        np.testing.assert_array_equal(run.spied.gradients[key], gradient)
    assert run.spied.losses == run.truth.losses
    assert len(run.truth.losses) == EPOCHS * BATCHES
    assert run.spied.scores.keys() == run.truth.scores.keys()
    for key, scores in run.truth.scores.items():
        np.testing.assert_array_equal(run.spied.scores[key], scores)


# message kinds and counts ------------------------------------------------------------
def _expected_counts(mode: str) -> Counter[tuple[str, str, str, int, int]]:
    hosts = ["host"] if mode == "two-party" else list(HOSTS)
    key_owner = None if mode == "two-party" else "arbiter"
    expected: Counter[tuple[str, str, str, int, int]] = Counter()

    def add(kind: type[Message], sender: str, receiver: str, epoch: int = 0, batch: int = 0):
        expected[(kind.KIND.name, sender, receiver, epoch, batch)] += 1

    for host in hosts:
        add(LrSetup, "guest", host)
        add(LrHostSetup, host, "guest")
    if key_owner is None:
        add(LrPublicKey, "guest", "host")
        add(LrPublicKey, "host", "guest")
    else:
        add(LrSetup, "guest", key_owner)
        for party in ("guest", *hosts):
            add(LrPublicKey, key_owner, party)
    for epoch in range(EPOCHS):
        for batch in range(BATCHES):
            for index, host in enumerate(hosts):
                add(LrForward, host, "guest", epoch, batch)
                add(LrResidual, "guest", host, epoch, batch)
                if index > 0:
                    add(LrCross, host, "guest", epoch, batch)
            if key_owner is None:
                add(LrMasked, "guest", "host", epoch, batch)
                add(LrMasked, "host", "guest", epoch, batch)
                add(LrDecrypted, "host", "guest", epoch, batch)
                add(LrDecrypted, "guest", "host", epoch, batch)
            else:
                for party in ("guest", *hosts):
                    add(LrMasked, party, key_owner, epoch, batch)
                    add(LrDecrypted, key_owner, party, epoch, batch)
        for host in hosts:
            add(LrEpochEnd, host, "guest", epoch)
            add(LrDecision, "guest", host, epoch)
        if key_owner is not None:
            add(LrDecision, "guest", key_owner, epoch)
    return expected


def test_message_kinds_and_counts_match_the_protocol(run: Run) -> None:
    counts = Counter((m.kind.name, m.sender, m.receiver, m.round, m.batch) for m in run.received)
    assert counts == _expected_counts(run.mode)
    if run.mode == "two-party":
        per_batch = Counter(m.kind.name for m in run.received if (m.round, m.batch) == (1, 2))
        assert per_batch == {
            "LR_FORWARD": 1,
            "LR_RESIDUAL": 1,
            "LR_MASKED": 2,
            "LR_DECRYPTED": 2,
        }


# two-party: the host ------------------------------------------------------------------
def test_two_party_host_decrypts_only_the_guest_masked_gradient_and_loss(two_party: Run) -> None:
    run = two_party
    guest, host = run.roles["guest"], run.roles["host"]
    assert isinstance(guest, LrGuest) and isinstance(host, LrHost)
    assert guest._own_keys is not None and host._own_keys is not None
    host_public, host_private = host._own_keys
    guest_public = guest._own_keys[0]
    assert guest_public != host_public
    to_host = _to(run, "host")
    decryptable: list[LrMasked] = []
    for message in to_host:
        assert not _arrays(message)  # no plaintext array reaches the host
        for name, vector in _vectors(message):
            if vector.public_key == host_public:
                assert isinstance(message, LrMasked) and message.sender == "guest", (
                    message.describe(),
                    name,
                )
                if not any(message is seen for seen in decryptable):
                    decryptable.append(message)
            else:
                assert vector.public_key == guest_public, (message.describe(), name)
    assert len(decryptable) == EPOCHS * BATCHES
    others = [m for m in to_host if _vectors(m) and not any(m is seen for seen in decryptable)]
    assert others and all(isinstance(m, LrResidual) for m in others)

    residues: list[int] = []
    forbidden: set[int] = set()
    for message in decryptable:
        epoch_batch = (message.round, message.batch)
        gradient = host_private.decrypt_raw(message.gradient)
        loss = host_private.decrypt_raw(message.loss)
        assert len(loss) == 1
        gradient_mask, loss_mask = run.spied.masks[("guest", *epoch_batch)]
        true_gradient = run.truth.gradients[("guest", *epoch_batch)]
        true_loss = np.array([run.truth.losses[epoch_batch]])
        _assert_hides(gradient_mask, gradient, true_gradient)
        _assert_hides(loss_mask, loss, true_loss)
        residues += gradient + loss
        forbidden |= _encodings([true_gradient, true_loss], EXPONENTS, host_public.n)
        # the packed plaintexts themselves (what a mask of 0 would have revealed)
        forbidden |= {
            (r - m) % host_public.n for r, m in zip(gradient, gradient_mask._masks, strict=True)
        }
    _assert_uniform(residues, host_public.n)
    assert not set(residues) & forbidden


def test_two_party_host_learns_its_own_gradient_and_nothing_else(two_party: Run) -> None:
    run = two_party
    decrypted = [m for m in _to(run, "host") if isinstance(m, LrDecrypted)]
    assert len(decrypted) == EPOCHS * BATCHES
    guest_truth = [
        run.truth.gradients[("guest", e, b)] for e in range(EPOCHS) for b in range(BATCHES)
    ]
    losses = [np.array(list(run.truth.losses.values()))]
    n = run.roles["guest"]._own_keys[0].n  # type: ignore[attr-defined]
    values: list[int] = []
    for message in decrypted:
        (mask,) = run.spied.masks[("host", message.round, message.batch)]
        # its own gradient sum per batch (inherent, SECURITY.md) ...
        np.testing.assert_array_equal(
            mask.unmask(list(message.values)),
            run.truth.gradients[("host", message.round, message.batch)],
        )
        values += message.values
    # ... from uniform residues that encode none of the guest's values
    _assert_uniform(values, n)
    assert not set(values) & _encodings(guest_truth + losses, EXPONENTS, n)


# two-party and arbiter: the guest ---------------------------------------------------------
def _assert_no_host_data(run: Run, to_guest: list[Message]) -> None:
    """Nothing the guest reads in plaintext is a host feature or exact partial score."""
    blocks = _host_blocks(run.mode)
    scores = dict(run.truth.scores)
    assert len(scores) == len(blocks) * EPOCHS * BATCHES
    # LrEpochEnd.validation_scores are the host's partial scores on *validation* rows:
    # declared leakage (SECURITY.md, like scoring).  Without a validation set they are
    # empty, and no other plaintext array reaches the guest.
    for message in to_guest:
        for array in _arrays(message):
            assert isinstance(message, LrEpochEnd)
            assert array.shape == (0,)
            for block in blocks.values():
                assert not np.isin(block, array).any()
            for partial in scores.values():
                assert not np.isin(partial, array).any()
    # The big integers it gets (LrDecrypted) encode no host feature or partial score.
    integers = {value for message in to_guest for value in _integers(message)}
    assert integers
    moduli = {v.public_key.n for m in run.received for _, v in _vectors(m)}
    for n in moduli:
        forbidden = _encodings(blocks.values(), EXPONENTS, n)
        forbidden |= _encodings(scores.values(), EXPONENTS, n)
        forbidden |= _encodings([s / 4 for s in scores.values()], EXPONENTS, n)
        assert not integers & forbidden


def _assert_guest_decryptions_are_masked(run: Run, key_owner: str, n: int) -> None:
    """The guest's LrDecrypted: its own gradient and loss under uniform masks."""
    decrypted = [m for m in _to(run, "guest") if isinstance(m, LrDecrypted)]
    assert len(decrypted) == EPOCHS * BATCHES
    values: list[int] = []
    for message in decrypted:
        assert message.sender == key_owner
        epoch_batch = (message.round, message.batch)
        gradient_mask, loss_mask = run.spied.masks[("guest", *epoch_batch)]
        split = len(gradient_mask._masks)
        _assert_hides(
            gradient_mask,
            list(message.values[:split]),
            run.truth.gradients[("guest", *epoch_batch)],
        )
        _assert_hides(
            loss_mask, list(message.values[split:]), np.array([run.truth.losses[epoch_batch]])
        )
        values += message.values
    _assert_uniform(values, n)
    truths = [run.truth.gradients[key] for key in run.truth.gradients if key[0] == "guest"]
    truths.append(np.array(list(run.truth.losses.values())))
    assert not set(values) & _encodings(truths, EXPONENTS, n)


def test_two_party_guest_sees_no_host_features_or_scores(two_party: Run) -> None:
    run = two_party
    guest, host = run.roles["guest"], run.roles["host"]
    assert isinstance(guest, LrGuest) and isinstance(host, LrHost)
    guest_public, guest_private = guest._own_keys  # type: ignore[misc]
    host_public, host_private = host._own_keys  # type: ignore[misc]
    to_guest = _to(run, "guest")
    own_key_messages: list[LrMasked] = []
    for message in to_guest:
        for name, vector in _vectors(message):
            if vector.public_key == guest_public:
                # The one exception to "under a key the guest does not hold": the host's
                # masked gradient, which the guest decrypts for the host (two-party).
                assert isinstance(message, LrMasked) and message.sender == "host", name
                if not any(message is seen for seen in own_key_messages):
                    own_key_messages.append(message)
            else:
                assert vector.public_key == host_public, (message.describe(), name)
    _assert_no_host_data(run, to_guest)
    _assert_guest_decryptions_are_masked(run, "host", host_public.n)

    # What the guest decrypts for the host: uniform residues of the host's gradient.
    assert len(own_key_messages) == EPOCHS * BATCHES
    residues: list[int] = []
    for message in own_key_messages:
        assert len(message.loss) == 0
        decrypted = guest_private.decrypt_raw(message.gradient)
        (mask,) = run.spied.masks[("host", message.round, message.batch)]
        _assert_hides(mask, decrypted, run.truth.gradients[("host", message.round, message.batch)])
        residues += decrypted
    _assert_uniform(residues, guest_public.n)

    # The forwards the guest cannot decrypt really are the host's scores (so the
    # checks above looked for the right values).
    for message in to_guest:
        if isinstance(message, LrForward):
            quarter = host_private.decrypt_vector(message.quarter_scores)
            scores = run.truth.scores[("host", message.round, message.batch)]
            np.testing.assert_allclose(quarter, scores / 4, rtol=0, atol=2.0**-30)


# arbiter mode ----------------------------------------------------------------------------
def test_arbiter_mode_parties_get_only_arbiter_ciphertexts(arbiter_mode: Run) -> None:
    run = arbiter_mode
    arbiter = run.roles["arbiter"]
    assert isinstance(arbiter, LrArbiter) and arbiter._keys is not None
    arbiter_public = arbiter._keys[0]
    for name in ("guest", *HOSTS):
        assert run.roles[name]._own_keys is None  # type: ignore[attr-defined]
        for message in _to(run, name):
            for field, vector in _vectors(message):
                assert vector.public_key == arbiter_public, (message.describe(), field)
    for name in HOSTS:
        to_host = _to(run, name)
        assert not any(_arrays(message) for message in to_host)
        for message in to_host:
            if isinstance(message, LrDecrypted):
                (mask,) = run.spied.masks[(name, message.round, message.batch)]
                truth = run.truth.gradients[(name, message.round, message.batch)]
                _assert_hides(mask, list(message.values), truth)
    _assert_no_host_data(run, _to(run, "guest"))
    _assert_guest_decryptions_are_masked(run, "arbiter", arbiter_public.n)


def test_arbiter_sees_only_masked_gradients_and_loss(arbiter_mode: Run) -> None:
    run = arbiter_mode
    arbiter = run.roles["arbiter"]
    assert isinstance(arbiter, LrArbiter) and arbiter._keys is not None
    public, private = arbiter._keys
    to_arbiter = _to(run, "arbiter")
    assert {type(message) for message in to_arbiter} == {LrSetup, LrMasked, LrDecision}
    for message in to_arbiter:
        assert not _arrays(message) and not _integers(message), message.describe()
    truths = [*run.truth.gradients.values(), np.array(list(run.truth.losses.values()))]
    forbidden = _encodings(truths, EXPONENTS, public.n)
    residues: list[int] = []
    masked = [message for message in to_arbiter if isinstance(message, LrMasked)]
    assert len(masked) == 3 * EPOCHS * BATCHES
    for message in masked:
        key = (message.sender, message.round, message.batch)
        gradient = private.decrypt_raw(message.gradient)
        loss = private.decrypt_raw(message.loss)
        masks = run.spied.masks[key]
        _assert_hides(masks[0], gradient, run.truth.gradients[key])
        if message.sender == "guest":
            _assert_hides(masks[1], loss, np.array([run.truth.losses[key[1:]]]))
        else:
            assert loss == []
        forbidden |= {(r - m) % public.n for r, m in zip(gradient, masks[0]._masks, strict=True)}
        residues += gradient + loss
    _assert_uniform(residues, public.n)
    assert not set(residues) & forbidden


# re-randomisation ---------------------------------------------------------------------------
def _places(run: Run) -> dict[int, list[tuple[str, str, str, int, int, str]]]:
    places: dict[int, list[tuple[str, str, str, int, int, str]]] = defaultdict(list)
    for message in run.received:
        header = (message.round, message.batch)
        for name, vector in _vectors(message):
            for ciphertext in vector.ciphertexts:
                places[ciphertext].append(
                    (type(message).__name__, message.sender, message.receiver, *header, name)
                )
    return places


def test_no_ciphertext_is_sent_twice(run: Run) -> None:
    places = _places(run)
    assert len(places) > 500
    repeated = {c: where for c, where in places.items() if len(where) > 1}
    assert not repeated  # every party's vectors are freshly (re-)randomised per receiver

    # What reaches a key owner under its own key never appeared anywhere before.
    owners: dict[str, PaillierPublicKey] = {}
    for name, role in run.roles.items():
        keys = getattr(role, "_own_keys", None) or getattr(role, "_keys", None)
        if keys is not None:
            owners[name] = keys[0]
    assert len(owners) == (2 if run.mode == "two-party" else 1)
    sent_by: dict[str, set[int]] = defaultdict(set)
    for message in run.received:
        for _, vector in _vectors(message):
            sent_by[message.sender].update(vector.ciphertexts)
    returned = 0
    for message in run.received:
        owner_key = owners.get(message.receiver)
        for _, vector in _vectors(message):
            if vector.public_key == owner_key:
                returned += 1
                assert not set(vector.ciphertexts) & sent_by[message.receiver]
                assert all(len(places[c]) == 1 for c in vector.ciphertexts)
    assert returned


def test_arbiter_mode_residual_shares_no_ciphertext_with_the_forwards(arbiter_mode: Run) -> None:
    run = arbiter_mode
    forwarded: set[int] = set()
    residuals: dict[str, set[int]] = defaultdict(set)
    for message in run.received:
        if isinstance(message, LrForward):
            for _, vector in _vectors(message):
                forwarded.update(vector.ciphertexts)
        if isinstance(message, LrResidual):
            residuals[message.receiver].update(message.residual.ciphertexts)
            residuals[message.receiver].update(message.prefix.ciphertexts)
    assert forwarded and set(residuals) == set(HOSTS)
    for received in residuals.values():
        assert received and not received & forwarded
    crosses = {c for m in run.received if isinstance(m, LrCross) for c in m.cross.ciphertexts}
    assert crosses and not crosses & forwarded
    assert not crosses & set().union(*residuals.values())


# epoch summaries: only what the stopping rule needs ---------------------------------------
def test_epoch_ends_carry_no_scores_without_a_validation_set(run: Run) -> None:
    ends = [message for message in run.received if isinstance(message, LrEpochEnd)]
    assert len(ends) == len(_host_blocks(run.mode)) * EPOCHS
    for message in ends:
        assert message.validation_scores.shape == (0,)
        assert message.weight_change == 0.0  # convergence "max_iter": no norm is sent
    assert conditional_field_problems(run.received) == ([], 2 * len(ends))


STOPPING_RULES: dict[str, dict[str, Any]] = {
    # LrSettings' defaults: convergence on the loss, no early stopping
    "defaults": {},
    "weights-and-early-stopping": {
        "convergence": "weights",
        "tol": 1e-12,  # train every epoch
        "early_stopping": "auc",
        "patience": 5,
    },
}


def _with_validation(mode: str, rule: str) -> tuple[dict[str, Role], list[Message]]:
    """Train on the paillier backend with a validation set, every message through the
    codec; returns the roles and every message as its receiver decoded it."""
    changes = {"convergence": LrSettings.convergence, "max_iter": 3, **STOPPING_RULES[rule]}
    roles = _make_roles(mode, "paillier", validation=True, **changes)
    received: list[Message] = []
    run_roles(roles, rng=random.Random(SEEDS[mode]), wire=_codec_wire(roles, received))
    assert all(role.done for role in roles.values())
    return roles, received


@pytest.mark.parametrize("rule", list(STOPPING_RULES))
@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_epoch_ends_carry_only_what_the_stopping_rule_needs(mode: str, rule: str) -> None:
    # With a validation set, a host's validation scores X_v w (every epoch) and its
    # weight-change norms would give the guest the Gram matrix of its validation rows
    # (SECURITY.md §11): each is sent only when the job's stopping rule needs it.
    assert (LrSettings.convergence, LrSettings.early_stopping) == ("loss", None)
    roles, received = _with_validation(mode, rule)
    setups = [m for m in received if isinstance(m, LrSetup) and m.receiver in _names(mode)]
    assert len(setups) == len(_names(mode))
    ends = [m for m in received if isinstance(m, LrEpochEnd)]
    guest = roles["guest"]
    assert isinstance(guest, LrGuest) and ends
    assert len(ends) == len(_names(mode)) * len(guest.history)
    if rule == "defaults":
        assert {(m.convergence, m.early_stopping) for m in setups} == {("loss", "")}
        for message in ends:
            assert message.weight_change == 0.0
            assert message.validation_scores.shape == (0,)
            assert message.penalty >= 0.0
        for entry in guest.history:  # so the guest has neither
            assert entry["weight_change"] is None
            assert entry["validation_auc"] is None and entry["validation_ks"] is None
    else:
        assert {(m.convergence, m.early_stopping) for m in setups} == {("weights", "auc")}
        assert len(guest.history) == 3
        for message in ends:
            host = roles[message.sender]
            assert isinstance(host, LrHost) and host.X_validation is not None
            # exactly the host's squared weight change and its validation partial scores
            assert message.weight_change > 0.0
            assert message.weight_change == host.history[message.round]["weight_change"]
            assert message.validation_scores.shape == (VALIDATION,)
            np.testing.assert_array_equal(
                message.validation_scores, host.X_validation @ host.snapshots[message.round]
            )
        for entry in guest.history:
            assert entry["weight_change"] is not None and entry["weight_change"] > 0.0
            assert entry["validation_auc"] is not None and entry["validation_ks"] is not None
    # the auditor's rule (tests/support/auditor/checks_lr.py) accepts both transcripts ...
    assert conditional_field_problems(received) == ([], 2 * len(ends))
    # ... and would refuse a norm or scores sent without the rule that needs them
    if rule == "weights-and-early-stopping":
        loss_setups = [
            dataclasses.replace(m, convergence="loss", early_stopping="")
            if any(m is setup for setup in setups)
            else m
            for m in received
        ]
        problems, _ = conditional_field_problems(loss_setups)
        assert len(problems) == 2 * len(ends)


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_validation_scores_are_exactly_the_host_partial_scores(mode: str) -> None:
    # The declared leak (SECURITY.md): with early stopping, u_h on the validation rows,
    # once per epoch, and nothing else; checked on the plaintext backend (no
    # ciphertext involved).
    roles = _make_roles(mode, "plaintext", validation=True, early_stopping="auc", patience=5)
    transcript = run_roles(roles, rng=random.Random(SEEDS[mode]))
    ends = [message for message in transcript if isinstance(message, LrEpochEnd)]
    assert len(ends) == len(_names(mode)) * EPOCHS
    for message in ends:
        host = roles[message.sender]
        assert isinstance(host, LrHost) and host.X_validation is not None
        expected = host.X_validation @ host.snapshots[message.round]
        np.testing.assert_array_equal(message.validation_scores, expected)
        assert message.weight_change == 0.0  # convergence "max_iter"


# interleavings -----------------------------------------------------------------------------
def test_two_party_survives_every_interleaving() -> None:
    for seed in range(40):
        roles = _make_roles("two-party", "plaintext")
        run_roles(roles, rng=random.Random(seed))
        assert all(role.done for role in roles.values()), seed


def test_arbiter_mode_survives_every_interleaving() -> None:
    for seed in range(40):
        roles = _make_roles("arbiter", "plaintext")
        run_roles(roles, rng=random.Random(seed))
        assert all(role.done for role in roles.values()), seed
