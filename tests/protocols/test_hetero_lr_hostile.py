"""Hostile and malformed messages: every hetero LR role refuses them cleanly.

Each case drives a real run (plaintext backend, or paillier where keys and
ciphertexts matter) message by message in FIFO order until the message to tamper
with is next, replaces it, and checks that the receiver raises a
:class:`~protocols.exceptions.ProtocolError` whose text names the problem — never
another exception, never a hang.  Messages are handed to ``receive`` directly: the
codec's own checks (types, known keys) are tested in ``test_codec.py``, these are
the roles' checks behind it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import signal
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crypto.paillier import PaillierPrivateKey, PaillierPublicKey
from crypto.plain import PlainVector, generate_plain_keypair
from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings, ScoreGuest, ScoreHost
from protocols.hetero_lr.leakage import (
    gradient_entry_bits,
    minimum_batch_for_labels,
    satisfies_label_bound,
)
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT
from protocols.messages import (
    Abort,
    LrCross,
    LrDecision,
    LrDecrypted,
    LrEpochEnd,
    LrForward,
    LrHostSetup,
    LrMasked,
    LrPartialScores,
    LrPublicKey,
    LrResidual,
    LrScoreRequest,
    LrSetup,
    Message,
)
from protocols.roles import Role
from vfl.tables.datasets import load_builtin

ROWS = 200  # 3 batches of 66-67 rows with batch_size 64
HOST_COLUMNS = {"host": slice(0, 1), "host-1": slice(0, 1), "host-2": slice(1, 2)}
"""Each host holds one column of breast (18 bits at resolution 2**-16): its gradient
passes the label-information bound from batches of 44 rows (47 at the labels' event
rate of 0.645, which the guest checks), so batches of 66 rows are accepted."""
PLAN_SEED = bytes(range(32))
JOB = "lr-hostile"
HOSTS = ("host-1", "host-2")
KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Fail a test that does not return within a minute instead of hanging the suite."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError("a role did not return: it hangs")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 60.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# roles and a message-by-message driver ---------------------------------------------------
@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    assert guest.ids == host.ids and guest.labels is not None
    return guest.features[:ROWS], guest.labels[:ROWS], host.features[:ROWS]


def _settings(mode: str = "two-party", **changes: Any) -> LrSettings:
    values: dict[str, Any] = {
        "mode": mode,
        "batch_size": 64,
        "max_iter": 2,
        "convergence": "max_iter",
        "key_length": 1024,
        "allow_weak_key": True,
    }
    values.update(changes)
    return LrSettings(**values)


def _guest(mode: str, backend: str, settings: LrSettings | None = None) -> LrGuest:
    X_guest, labels, _ = _data()
    return LrGuest(
        "guest",
        JOB,
        hosts=["host"] if mode == "two-party" else list(HOSTS),
        features=X_guest,
        labels=labels,
        settings=settings or _settings(mode),
        backend=backend,
        arbiter=None if mode == "two-party" else "arbiter",
        plan_seed=PLAN_SEED,
    )


def _host(name: str, mode: str, backend: str, settings: LrSettings | None = None) -> LrHost:
    return LrHost(
        name,
        JOB,
        guest="guest",
        features=_data()[2][:, HOST_COLUMNS[name]],
        settings=settings or _settings(mode),
        backend=backend,
        arbiter=None if mode == "two-party" else "arbiter",
    )


def _roles(mode: str = "two-party", backend: str = "plaintext") -> dict[str, Role]:
    roles: dict[str, Role] = {"guest": _guest(mode, backend)}
    for name in ["host"] if mode == "two-party" else HOSTS:
        roles[name] = _host(name, mode, backend)
    if mode == "arbiter":
        roles["arbiter"] = LrArbiter(
            "arbiter", JOB, guest="guest", hosts=HOSTS, settings=_settings(mode), backend=backend
        )
    return roles


def _key_owner(mode: str, party: str) -> str:
    """Who decrypts for ``party``."""
    if mode == "arbiter":
        return "arbiter"
    return "host" if party == "guest" else "guest"


class Net:
    """Deliver messages one at a time, in the order they were sent (causal order)."""

    def __init__(self, roles: dict[str, Role], queue: list[Message] | None = None) -> None:
        self.roles = roles
        self.queue: deque[Message] = deque()
        self.delivered: list[Message] = []
        if queue is None:
            for role in roles.values():
                self.queue.extend(role.start())
        else:
            self.queue.extend(queue)

    def deliver(self, message: Message) -> None:
        self.queue.extend(self.roles[message.receiver].receive(message))
        self.delivered.append(message)

    def step(self) -> None:
        self.deliver(self.queue.popleft())

    def until(self, kind: type[Message], **header: Any) -> Message:
        """Deliver until the next message matches; take it out of the queue and return it."""
        for _ in range(1000):
            assert self.queue, f"no {kind.__name__} {header} was sent"
            head = self.queue[0]
            if isinstance(head, kind) and all(getattr(head, k) == v for k, v in header.items()):
                return self.queue.popleft()
            self.step()
        raise AssertionError("the run did not settle")

    def run(self) -> None:
        for _ in range(1000):
            if not self.queue:
                return
            self.step()
        raise AssertionError("the run did not settle")


Spot = tuple[type[Message], str, str, int, int]


@functools.cache
def _snapshots(mode: str, backend: str) -> dict[Spot | str, tuple[Any, ...]]:
    """Copies of every role, the queue and the past just before each early message."""
    net = Net(_roles(mode, backend))
    snapshots: dict[Spot | str, tuple[Any, ...]] = {}
    while net.queue:
        head = net.queue[0]
        spot = (type(head), head.sender, head.receiver, head.round, head.batch)
        if spot not in snapshots and (head.round, head.batch) in {(0, 0), (0, 1), (1, 0)}:
            snapshots[spot] = copy.deepcopy((net.roles, list(net.queue), net.delivered))
        net.step()
    assert all(role.done for role in net.roles.values())
    snapshots["end"] = copy.deepcopy((net.roles, [], net.delivered))
    return snapshots


def _state(
    mode: str,
    backend: str,
    kind: type[Message],
    sender: str,
    receiver: str,
    epoch: int = 0,
    batch: int = 0,
) -> tuple[Net, Message]:
    """A fresh copy of a run just before ``kind`` from sender to receiver is delivered.

    Returns the net (that message taken out of its queue) and the message.
    """
    roles, queue, delivered = copy.deepcopy(
        _snapshots(mode, backend)[(kind, sender, receiver, epoch, batch)]
    )
    net = Net(roles, queue)
    net.delivered = delivered
    return net, net.queue.popleft()


def _finished(mode: str) -> Net:
    roles, _, delivered = copy.deepcopy(_snapshots(mode, "plaintext")["end"])
    net = Net(roles, [])
    net.delivered = delivered
    return net


def _refused(role: Role, message: Message, match: str, *, unexpected: bool = False) -> str:
    """``role.receive(message)`` raises a ProtocolError matching ``match``; its text."""
    kind = UnexpectedMessageError if unexpected else ProtocolError
    with pytest.raises(kind, match=match) as info:
        role.receive(message)
    text = str(info.value)
    assert text.startswith(role.party), text  # says who refused
    return text


def _only_protocol_errors(role: Role, message: Message) -> None:
    """Accepted, or refused with a ProtocolError naming the role; nothing else."""
    try:
        role.receive(message)
    except ProtocolError as error:
        assert str(error).startswith(role.party), str(error)


# unknown senders and unexpected kinds ---------------------------------------------------
UNKNOWN_SENDER_CASES = [
    ("two-party", LrHostSetup, "guest"),
    ("two-party", LrPublicKey, "guest"),
    ("two-party", LrForward, "guest"),
    ("two-party", LrMasked, "guest"),
    ("two-party", LrDecrypted, "guest"),
    ("two-party", LrSetup, "host"),
    ("two-party", LrPublicKey, "host"),
    ("two-party", LrResidual, "host"),
    ("two-party", LrMasked, "host"),
    ("two-party", LrDecrypted, "host"),
    ("two-party", LrDecision, "host"),
    ("arbiter", LrSetup, "arbiter"),
    ("arbiter", LrMasked, "arbiter"),
    ("arbiter", LrDecision, "arbiter"),
    ("arbiter", LrCross, "guest"),
    ("arbiter", LrEpochEnd, "guest"),
    ("arbiter", LrResidual, HOSTS[1]),
]


@pytest.mark.parametrize(("mode", "kind", "receiver"), UNKNOWN_SENDER_CASES)
def test_messages_from_unknown_senders_are_refused(mode, kind, receiver) -> None:
    net = Net(_roles(mode))
    message = net.until(kind, receiver=receiver)
    forged = dataclasses.replace(message, sender="mallory")
    _refused(
        net.roles[receiver],
        forged,
        f"did not expect {kind.KIND.name} from mallory",
        unexpected=True,
    )


WRONG_SENDER_CASES = [
    # (mode, kind, the real sender, receiver, a known party not allowed to send it)
    ("two-party", LrSetup, "guest", "host", "host"),
    ("arbiter", LrPublicKey, "arbiter", "guest", HOSTS[0]),
    ("arbiter", LrPublicKey, "arbiter", HOSTS[0], "guest"),
    ("arbiter", LrDecrypted, "arbiter", "guest", HOSTS[0]),
    ("arbiter", LrDecrypted, "arbiter", HOSTS[0], "guest"),
    ("arbiter", LrCross, HOSTS[1], "guest", HOSTS[0]),  # the first host sends no cross term
    ("arbiter", LrMasked, "guest", "arbiter", "arbiter"),
    ("arbiter", LrDecision, "guest", "arbiter", HOSTS[0]),
    ("arbiter", LrDecision, "guest", HOSTS[0], "arbiter"),
]


@pytest.mark.parametrize(("mode", "kind", "sender", "receiver", "claimed"), WRONG_SENDER_CASES)
def test_messages_from_a_party_in_the_wrong_role_are_refused(
    mode, kind, sender, receiver, claimed
) -> None:
    net = Net(_roles(mode))
    message = net.until(kind, sender=sender, receiver=receiver)
    forged = dataclasses.replace(message, sender=claimed)
    _refused(
        net.roles[receiver],
        forged,
        f"did not expect {kind.KIND.name} from {claimed}",
        unexpected=True,
    )


@functools.cache
def _samples() -> dict[type[Message], Message]:
    """One message of every kind (from finished runs, plus the scoring kinds)."""
    samples: dict[type[Message], Message] = {}
    for mode in ("two-party", "arbiter"):
        for message in _finished(mode).delivered:
            samples.setdefault(type(message), message)
    header = {"job_id": JOB, "sender": "guest", "receiver": "host"}
    samples[LrScoreRequest] = LrScoreRequest(**header, rows=ROWS)
    samples[LrPartialScores] = LrPartialScores(**header, scores=np.zeros(ROWS))
    samples[Abort] = Abort(**header, reason="stop")
    return samples


NEVER_ACCEPTED = {
    # receiver: (sender to claim, kinds it never accepts from anybody)
    "guest": ("host", (LrSetup, LrResidual, LrDecision, LrScoreRequest, LrPartialScores, Abort)),
    "host": ("guest", (LrForward, LrHostSetup, LrEpochEnd, LrCross, LrScoreRequest, Abort)),
    HOSTS[0]: ("guest", (LrForward, LrHostSetup, LrEpochEnd, LrCross, LrMasked, Abort)),
    "arbiter": ("guest", (LrForward, LrResidual, LrDecrypted, LrEpochEnd, LrHostSetup, Abort)),
}


@pytest.mark.parametrize(
    ("mode", "receiver", "kind"),
    [
        ("two-party" if receiver in ("guest", "host") else "arbiter", receiver, kind)
        for receiver, (_, kinds) in NEVER_ACCEPTED.items()
        for kind in kinds
    ],
)
@pytest.mark.parametrize("when", ["setup", "training"])
def test_unexpected_kinds_are_refused(mode, receiver, kind, when) -> None:
    if when == "setup":
        net = Net(_roles(mode))
    else:  # in the middle of the first batch
        net, _ = _state(mode, "plaintext", LrDecrypted, _key_owner(mode, "guest"), "guest")
    sender = NEVER_ACCEPTED[receiver][0]
    message = dataclasses.replace(_samples()[kind], sender=sender, receiver=receiver)
    _refused(net.roles[receiver], message, f"did not expect {kind.KIND.name}", unexpected=True)


# duplicates, replays, future batches, after the end --------------------------------------
SEQUENCED = [
    ("two-party", LrForward, "host", "guest"),
    ("two-party", LrResidual, "guest", "host"),
    ("two-party", LrMasked, "host", "guest"),
    pytest.param(
        "two-party",
        LrMasked,
        "guest",
        "host",
    ),
    ("two-party", LrDecrypted, "host", "guest"),
    ("two-party", LrDecrypted, "guest", "host"),
    ("arbiter", LrForward, HOSTS[1], "guest"),
    ("arbiter", LrResidual, "guest", HOSTS[1]),
    ("arbiter", LrCross, HOSTS[1], "guest"),
    ("arbiter", LrMasked, "guest", "arbiter"),
    ("arbiter", LrMasked, HOSTS[0], "arbiter"),
    ("arbiter", LrDecrypted, "arbiter", "guest"),
    ("arbiter", LrDecrypted, "arbiter", HOSTS[1]),
]


def _sequence_error(kind: type[Message], sender: str) -> str:
    """What a refusal of an out-of-sequence message says: who sent what, or when."""
    return rf"did not expect {kind.KIND.name} from {sender}|{sender} sent .*expected epoch \d+"


@pytest.mark.parametrize(("mode", "kind", "sender", "receiver"), SEQUENCED)
def test_duplicated_messages_are_refused(mode, kind, sender, receiver) -> None:
    net, message = _state(mode, "plaintext", kind, sender, receiver)
    net.deliver(message)
    _refused(net.roles[receiver], message, _sequence_error(kind, sender))


@pytest.mark.parametrize(("mode", "kind", "sender", "receiver"), SEQUENCED)
def test_messages_replayed_from_an_earlier_batch_are_refused(mode, kind, sender, receiver) -> None:
    net, _ = _state(mode, "plaintext", kind, sender, receiver, batch=1)
    (earlier,) = [
        m
        for m in net.delivered
        if (type(m), m.sender, m.receiver, m.round, m.batch) == (kind, sender, receiver, 0, 0)
    ]
    _refused(net.roles[receiver], earlier, _sequence_error(kind, sender))


@pytest.mark.parametrize(("mode", "kind", "sender", "receiver"), SEQUENCED)
@pytest.mark.parametrize(
    "ahead",
    [{"batch": 1}, {"batch": 2}, {"round": 1}, {"round": -1}],
    ids=["next-batch", "batch-after-next", "next-epoch", "negative-epoch"],
)
def test_messages_for_another_batch_are_refused(mode, kind, sender, receiver, ahead) -> None:
    net, message = _state(mode, "plaintext", kind, sender, receiver)
    _refused(
        net.roles[receiver], dataclasses.replace(message, **ahead), _sequence_error(kind, sender)
    )


def test_epoch_messages_replayed_from_an_earlier_epoch_are_refused() -> None:
    net, _ = _state("two-party", "plaintext", LrEpochEnd, "host", "guest", epoch=1)
    (end,) = [m for m in net.delivered if isinstance(m, LrEpochEnd)]
    _refused(
        net.roles["guest"], end, "host sent LR_EPOCH_END for epoch 0 batch 0, expected epoch 1"
    )
    net, _ = _state("two-party", "plaintext", LrForward, "host", "guest", epoch=1)
    (decision,) = [m for m in net.delivered if isinstance(m, LrDecision)]
    _refused(net.roles["host"], decision, "did not expect LR_DECISION", unexpected=True)
    net, _ = _state("arbiter", "plaintext", LrMasked, "guest", "arbiter", epoch=1)
    (decision,) = [
        m for m in net.delivered if isinstance(m, LrDecision) and m.receiver == "arbiter"
    ]
    _refused(net.roles["arbiter"], decision, "did not expect LR_DECISION", unexpected=True)


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_messages_after_the_end_are_refused(mode) -> None:
    net = _finished(mode)
    assert all(role.done for role in net.roles.values())
    for name, role in net.roles.items():
        received = [m for m in net.delivered if m.receiver == name]
        for message in (received[0], received[-1]):
            _refused(role, message, "while finished", unexpected=True)


def test_roles_that_were_not_started_refuse_everything() -> None:
    guest = _guest("two-party", "plaintext")
    message = _samples()[LrHostSetup]
    _refused(guest, message, "while not started", unexpected=True)
    arbiter = _roles("arbiter")["arbiter"]
    _refused(arbiter, _samples()[LrSetup], "while not started", unexpected=True)


# LrSetup and LrHostSetup ----------------------------------------------------------------
HOST_SETUP_CHANGES = [
    ({"rows": 199}, "rows is 199, this host's is 200"),
    ({"mode": "arbiter"}, "mode is 'arbiter'"),
    ({"key_length": 2048}, "key_length is 2048, this host's is 1024"),
    ({"validation_rows": 10}, "validation_rows is 10"),
    ({"hosts": ("someone",)}, "host list does not name this host"),
    ({"hosts": ("host", "host")}, "host list does not name this host"),
    ({"plan_seed": bytes(31)}, "setup is malformed"),
    ({"max_iter": 0}, "setup is malformed"),
    ({"batch_size": 0}, "setup is malformed"),
    ({"batch_size": -64}, "setup is malformed"),
    ({"guest_features": 0}, "setup is malformed"),
    ({"guest_features": 2**1100}, "setup is malformed"),
    # the minimum batch size: larger than the guest's gradient width ...
    ({"batch_size": 8}, "batches of 8 rows are not larger than the guest's 11"),
    ({"guest_features": 66}, "batches of 66 rows are not larger than the guest's 66"),
    # ... and within the label-information bound for this host's gradient
    (
        {"batch_size": 16},
        "batches of 16 rows break the label-information bound .*this host's exact gradient "
        "of 1 features of 18 bits .*use a batch_size of at least 44",
    ),
    # what the host sends at each epoch's end is its own settings' decision
    ({"convergence": "weights"}, "the guest's convergence is 'weights', this host's is 'max_iter'"),
    ({"convergence": "loss"}, "the guest's convergence is 'loss', this host's is 'max_iter'"),
    ({"early_stopping": "auc"}, "the guest's early_stopping is 'auc', this host's is ''"),
    ({"early_stopping": "ks"}, "the guest's early_stopping is 'ks', this host's is ''"),
    ({"rows_digest": bytes(31)}, "the guest sent a rows digest of 31 bytes"),
]


@pytest.mark.parametrize(("changes", "match"), HOST_SETUP_CHANGES)
def test_host_refuses_a_bad_setup(changes, match) -> None:
    net, setup = _state("two-party", "plaintext", LrSetup, "guest", "host")
    host = net.roles["host"]
    _refused(host, dataclasses.replace(setup, **changes), match)
    assert isinstance(host, LrHost) and host.setup is None and host.plan is None
    # nothing was sent: in particular no forward, so no gradient can follow
    assert not any(m.sender == "host" for m in [*net.queue, *net.delivered])


def test_host_refuses_a_second_setup() -> None:
    net, setup = _state("two-party", "plaintext", LrSetup, "guest", "host")
    net.deliver(setup)
    _refused(net.roles["host"], setup, "while already set up", unexpected=True)


ARBITER_SETUP_CHANGES = [
    ({"mode": "two-party"}, "mode 'two-party'.*does not match"),
    ({"hosts": (HOSTS[1], HOSTS[0])}, "hosts .*does not match"),
    ({"hosts": (HOSTS[0],)}, "hosts .*does not match"),
    ({"key_length": 2048}, "key length"),
    pytest.param(
        {"plan_seed": bytes(31)},
        "plan seed",
        id="plan_seed",
    ),
    pytest.param(
        {"batch_size": 0},
        "batch",
        id="batch_size_0",
    ),
]


@pytest.mark.parametrize(("changes", "match"), ARBITER_SETUP_CHANGES)
def test_arbiter_refuses_a_bad_setup(changes, match) -> None:
    net, setup = _state("arbiter", "plaintext", LrSetup, "guest", "arbiter")
    _refused(net.roles["arbiter"], dataclasses.replace(setup, **changes), match)


def test_arbiter_with_a_zero_batch_size_fails_with_a_protocol_error() -> None:
    net, setup = _state("arbiter", "plaintext", LrSetup, "guest", "arbiter")
    with pytest.raises(ProtocolError, match="arbiter"):
        net.deliver(dataclasses.replace(setup, batch_size=0))  # refused here, or ...
        net.run()  # ... at the latest when the arbiter decrypts the first masked values


def test_guest_refuses_a_batch_size_not_above_its_own_width() -> None:
    # 10 features + the intercept: batches of 8 rows would reveal the residuals
    guest = _guest("two-party", "plaintext", _settings(batch_size=8))
    with pytest.raises(ProtocolError, match="batches of 8 rows are not larger than the guest's 11"):
        guest.start()
    assert guest.plan is None  # nothing was sent


def test_both_sides_refuse_a_batch_plan_that_breaks_the_label_bound() -> None:
    # batches of 16 rows: enough for the guest's 11 columns, but the host's exact
    # gradient (1 feature of 18 bits) could carry 21 of a batch's 16 bits of labels
    settings = _settings(batch_size=16)
    guest, host = (
        _guest("two-party", "plaintext", settings),
        _host("host", "two-party", "plaintext"),
    )
    net = Net({"guest": guest, "host": host})
    setup = net.until(LrSetup, receiver="host")
    text = _refused(host, setup, "batches of 16 rows break the label-information bound")
    assert "this host's exact gradient of 1 features of 18 bits can carry 21 bits" in text
    assert "more than half of the 16 bits of a batch's labels" in text
    assert "use a batch_size of at least 44" in text and 'mode="shared"' in text
    assert minimum_batch_for_labels(1, 18) == 44
    assert host.setup is None and host.plan is None
    # and the guest refuses a host reporting that gradient, at the labels' event rate
    host_setup = LrHostSetup(
        job_id=JOB,
        sender="host",
        receiver="guest",
        features=1,
        rows=ROWS,
        validation_rows=0,
        gradient_bits=18,
    )
    text = _refused(guest, host_setup, "batches of 16 rows break the label-information bound")
    assert "host's exact gradient of 1 features of 18 bits" in text
    assert "at an event rate of 0.645" in text
    assert f"use a batch_size of at least {minimum_batch_for_labels(1, 18, 0.645)}" in text
    assert minimum_batch_for_labels(1, 18, 0.645) == 47
    assert not any(isinstance(m, LrForward | LrMasked) for m in [*net.queue, *net.delivered])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"features": 20, "gradient_bits": 20},  # the whole breast host: the old fixture
            "batches of 66 rows break the label-information bound .*host's exact gradient of "
            f"20 features of 20 bits .*at an event rate of 0.645.*use a batch_size of at least "
            f"{minimum_batch_for_labels(20, 20, 0.645)}",
        ),
        ({"features": 2}, "batches of 66 rows break .*host's exact gradient of 2 features of 18"),
        ({"features": 66}, "batches of 66 rows break the label-information bound"),
        ({"gradient_bits": 64}, "host's exact gradient of 1 features of 64 bits"),
        # 27 bits pass the bound at the host's event rate of 1/2, not at the labels' rate
        ({"gradient_bits": 27}, "1 features of 27 bits .*at an event rate of 0.645"),
        # the reported bits must be a bit length the protocol can produce
        ({"gradient_bits": 0}, "host reports gradient entries of 0 bits, expected 1 to 64"),
        ({"gradient_bits": 65}, "host reports gradient entries of 65 bits, expected 1 to 64"),
        ({"gradient_bits": -1}, "host reports gradient entries of -1 bits, expected 1 to 64"),
        ({"gradient_bits": -(2**63)}, "host reports gradient entries of -9223372036854775808 b"),
        ({"gradient_bits": 2**64}, "host reports gradient entries of 18446744073709551616 bits"),
        ({"rows": 199}, "host has 199 training and 0 validation rows"),
        ({"validation_rows": 5}, "host has 200 training and 5 validation rows"),
    ],
)
def test_guest_refuses_a_bad_host_setup(changes, match) -> None:
    net, host_setup = _state("two-party", "plaintext", LrHostSetup, "host", "guest")
    guest = net.roles["guest"]
    _refused(guest, dataclasses.replace(host_setup, **changes), match)
    assert isinstance(guest, LrGuest) and "host" not in guest._host_setups


@pytest.mark.parametrize(
    "features", [2**1100, 2**4000, 0, -1, 1_000_001], ids=["2**1100", "2**4000", "0", "-1", "1e6+1"]
)
def test_guest_refuses_a_host_setup_with_an_absurd_width(features: int) -> None:
    # found by this suite: a width beyond a float's range overflowed in the bound
    net, host_setup = _state("two-party", "plaintext", LrHostSetup, "host", "guest")
    _refused(net.roles["guest"], dataclasses.replace(host_setup, features=features), "host")


def test_guest_takes_a_host_setup_within_the_label_bound() -> None:
    assert satisfies_label_bound(66, 1, 26, 0.645) and satisfies_label_bound(66, 1, 27)
    assert not satisfies_label_bound(66, 1, 27, 0.645)
    for bits in (1, 18, 26):
        net, host_setup = _state("two-party", "plaintext", LrHostSetup, "host", "guest")
        net.deliver(dataclasses.replace(host_setup, gradient_bits=bits))
        assert net.roles["guest"]._host_setups["host"].gradient_bits == bits  # type: ignore[attr-defined]


def test_hosts_report_the_bits_of_their_gradient_entries() -> None:
    X_host = _data()[2]
    for mode, names in (("two-party", ["host"]), ("arbiter", list(HOSTS))):
        delivered = _finished(mode).delivered
        for name in names:
            (setup,) = [m for m in delivered if isinstance(m, LrHostSetup) and m.sender == name]
            assert setup.features == 1
            assert setup.gradient_bits == gradient_entry_bits(X_host[:, HOST_COLUMNS[name]]) == 18


def test_setups_and_keys_are_taken_once() -> None:
    net, host_setup = _state("two-party", "plaintext", LrHostSetup, "host", "guest")
    net.deliver(host_setup)
    _refused(net.roles["guest"], host_setup, "already holding that host's setup", unexpected=True)
    for sender, receiver in (("host", "guest"), ("guest", "host")):
        net, key = _state("two-party", "plaintext", LrPublicKey, sender, receiver)
        net.deliver(key)
        _refused(net.roles[receiver], key, "already holding", unexpected=True)
    net, key = _state("arbiter", "plaintext", LrPublicKey, "arbiter", HOSTS[0])
    net.deliver(key)
    _refused(net.roles[HOSTS[0]], key, "already holding that key", unexpected=True)


def test_arbiter_refuses_a_second_setup() -> None:
    net, setup = _state("arbiter", "plaintext", LrSetup, "guest", "arbiter")
    net.deliver(setup)
    _refused(net.roles["arbiter"], setup, "did not expect LR_SETUP", unexpected=True)


# keys below the minimum -------------------------------------------------------------------
def test_two_party_parties_refuse_a_weak_peer_key() -> None:
    # the guest allows weak keys and sends its 1024-bit key; the host does not
    strict = _settings(key_length=2048, allow_weak_key=False)
    guest = _guest("two-party", "paillier")
    (key,) = [m for m in guest.start() if isinstance(m, LrPublicKey)]
    assert key.public_key.bits == 1024
    host = _host("host", "two-party", "paillier", strict)
    _refused(host, key, "guest's 1024-bit key is below the 2048-bit minimum")
    # the same key is fine for a host that allows weak keys
    assert _host("host", "two-party", "paillier").receive(key) == []

    # and the other way round: a guest that does not allow weak keys (its own key is
    # generated on the plaintext backend, instantly) refuses the host's 1024-bit key
    strict_guest = _guest("two-party", "plaintext", strict)
    strict_guest.start()
    host_key = dataclasses.replace(key, sender="host", receiver="guest")
    _refused(strict_guest, host_key, "host's 1024-bit key is below the 2048-bit minimum")


def test_arbiter_mode_parties_refuse_a_weak_arbiter_key(keypair: KeyPair) -> None:
    strict = _settings("arbiter", key_length=2048, allow_weak_key=False)
    header = {"job_id": JOB, "sender": "arbiter"}
    host = _host(HOSTS[0], "arbiter", "plaintext", strict)
    key = LrPublicKey(**header, receiver=HOSTS[0], public_key=keypair[0])
    _refused(host, key, "arbiter's 1024-bit key is below the 2048-bit minimum")
    guest = _guest("arbiter", "plaintext", strict)
    guest.start()
    key = LrPublicKey(**header, receiver="guest", public_key=keypair[0])
    _refused(guest, key, "arbiter's 1024-bit key is below the 2048-bit minimum")


# vectors: key, length, exponent ------------------------------------------------------------
def _own_public(role: Role) -> Any:
    return role._own_keys[0]  # type: ignore[attr-defined]


def test_guest_refuses_malformed_forwards(keypair: KeyPair) -> None:
    net, forward = _state("two-party", "paillier", LrForward, "host", "guest")
    assert isinstance(forward, LrForward)
    guest = net.roles["guest"]
    assert isinstance(guest, LrGuest)
    rows = len(forward.quarter_scores)
    host_key, own_key = guest._key, _own_public(guest)
    cases = [
        (
            {"quarter_scores": own_key.encrypt_vector(np.zeros(rows))},
            "the scores under another key",
        ),
        ({"quarter_scores": keypair[0].encrypt_vector(np.zeros(rows))}, "under another key"),
        (
            {"quarter_scores": forward.quarter_scores[: rows - 1]},
            f"sent {rows - 1} values of the scores, expected {rows}",
        ),
        (
            {"quarter_scores": host_key.encrypt_vector(np.zeros(rows + 1))},
            f"sent {rows + 1} values of the scores",
        ),
        (
            {"quarter_scores": host_key.encrypt_vector(np.zeros(rows), precision=2.0**-16)},
            f"the scores at exponent -4, expected {ENCRYPTION_EXPONENT}",
        ),
        ({"squares": host_key.encrypt_vector(np.zeros(2))}, "2 values of the squared scores"),
        ({"squares": own_key.encrypt_vector(np.zeros(1))}, "squared scores under another key"),
        (
            {"squares": host_key.encrypt_vector(np.zeros(1), precision=2.0**-8)},
            "squared scores at exponent -2",
        ),
    ]
    for changes, match in cases:
        _refused(guest, dataclasses.replace(forward, **changes), match)
    net.deliver(forward)  # the genuine one is still fine


def test_host_refuses_malformed_residuals(keypair: KeyPair) -> None:
    net, residual = _state("two-party", "paillier", LrResidual, "guest", "host")
    assert isinstance(residual, LrResidual)
    host = net.roles["host"]
    assert isinstance(host, LrHost)
    rows = len(residual.residual)
    guest_key, own_key = host._guest_key, _own_public(host)
    cases = [
        ({"residual": own_key.encrypt_vector(np.zeros(rows))}, "the residual under another key"),
        ({"residual": keypair[0].encrypt_vector(np.zeros(rows))}, "the residual under another"),
        ({"residual": residual.residual[:-1]}, f"{rows - 1} values of the residual"),
        (
            {"residual": guest_key.encrypt_vector(np.zeros(rows), precision=2.0**-16)},
            "the residual at exponent -4",
        ),
        (
            {"weights": guest_key.encrypt_vector(np.ones(rows))},
            "row weights this mode does not use",
        ),
    ]
    for changes, match in cases:
        _refused(host, dataclasses.replace(residual, **changes), match)
    net.deliver(residual)


def test_arbiter_mode_hosts_refuse_malformed_residuals(keypair: KeyPair) -> None:
    net, residual = _state("arbiter", "paillier", LrResidual, "guest", HOSTS[0])
    assert isinstance(residual, LrResidual)
    key = residual.residual.public_key
    rows = len(residual.residual)
    first = net.roles[HOSTS[0]]
    prefix = key.encrypt_vector(np.zeros(rows))
    _refused(first, dataclasses.replace(residual, prefix=prefix), "score prefix this mode")
    _refused(
        first,
        dataclasses.replace(residual, residual=keypair[0].encrypt_vector(np.zeros(rows))),
        "the residual under another key",
    )
    net, residual = _state("arbiter", "paillier", LrResidual, "guest", HOSTS[1])
    assert isinstance(residual, LrResidual)
    second = net.roles[HOSTS[1]]
    cases = [
        ({"prefix": residual.prefix[:-1]}, f"{rows - 1} values of the score prefix"),
        (
            {"prefix": key.encrypt_vector(np.zeros(0))},
            f"0 values of the score prefix, expected {rows}",
        ),
        ({"prefix": keypair[0].encrypt_vector(np.zeros(rows))}, "score prefix under another key"),
        (
            {"residual": key.encrypt_vector(np.zeros(rows), precision=2.0**-16)},
            "the residual at exponent -4, expected -8",
        ),
        ({"weights": key.encrypt_vector(np.zeros(rows))}, "row weights this mode does not use"),
    ]
    for changes, match in cases:
        _refused(second, dataclasses.replace(residual, **changes), match)
    net.deliver(residual)


def test_guest_refuses_malformed_cross_terms(keypair: KeyPair) -> None:
    net, cross = _state("arbiter", "paillier", LrCross, HOSTS[1], "guest")
    assert isinstance(cross, LrCross)
    guest = net.roles["guest"]
    key = cross.cross.public_key
    cases = [
        (
            {"cross": key.encrypt_vector(np.zeros(2), precision=2.0**-48)},
            "2 values of the loss cross",
        ),
        (
            {"cross": key.encrypt_vector(np.zeros(1))},
            "loss cross term at exponent -8, expected -12",
        ),
        ({"cross": keypair[0].encrypt_vector(np.zeros(1))}, "loss cross term under another key"),
    ]
    for changes, match in cases:
        _refused(guest, dataclasses.replace(cross, **changes), match)
    net.deliver(cross)


def _masked(public_key: Any, count: int) -> Any:
    return public_key.encrypt_vector(np.zeros(count)).mask()[0]


def test_key_owners_refuse_malformed_masked_values(keypair: KeyPair) -> None:
    # two-party, to the host: the guest's masked gradient (<= 11 values) and loss (1)
    net, masked = _state("two-party", "paillier", LrMasked, "guest", "host")
    host = net.roles["host"]
    host_key = _own_public(host)
    cases = [
        ({"gradient": _masked(keypair[0], 1)}, "the gradient under another key"),
        ({"gradient": _masked(host_key, 12)}, "12 masked values of the gradient, at most 11"),
        ({"loss": _masked(host_key, 0)}, "the guest's masked loss is missing"),
        ({"loss": _masked(host_key, 2)}, "2 masked values of the loss, at most 1"),
        ({"loss": _masked(keypair[0], 1)}, "the loss under another key"),
    ]
    for changes, match in cases:
        _refused(host, dataclasses.replace(masked, **changes), match)
    # two-party, to the guest: the host's masked gradient (1 feature: 1 value), no loss
    net, masked = _state("two-party", "paillier", LrMasked, "host", "guest")
    guest = net.roles["guest"]
    guest_key = _own_public(guest)
    cases = [
        ({"gradient": _masked(host_key, 1)}, "the gradient under another key"),
        ({"gradient": _masked(guest_key, 2)}, "2 masked values of the gradient, at most 1"),
        ({"gradient": _masked(guest_key, 21)}, "21 masked values of the gradient, at most 1"),
        ({"loss": _masked(guest_key, 1)}, "1 masked values of a loss, at most 0"),
    ]
    for changes, match in cases:
        _refused(guest, dataclasses.replace(masked, **changes), match)
    # arbiter mode: the guest sends one loss value, a host none
    for sender, loss in (("guest", 0), ("guest", 2), (HOSTS[0], 1)):
        net, masked = _state("arbiter", "paillier", LrMasked, sender, "arbiter")
        arbiter = net.roles["arbiter"]
        key = masked.gradient.public_key
        changed = dataclasses.replace(masked, loss=_masked(key, loss))
        _refused(arbiter, changed, f"{sender}'s masked values are malformed")
        foreign = dataclasses.replace(masked, gradient=_masked(keypair[0], 1))
        _refused(arbiter, foreign, f"{sender} sent a gradient under another key")


DECRYPTED_SPOTS = [
    ("two-party", "host", "guest"),
    ("two-party", "guest", "host"),
    ("arbiter", "arbiter", "guest"),
    ("arbiter", "arbiter", HOSTS[1]),
]


@pytest.mark.parametrize("backend", ["plaintext", "paillier"])
@pytest.mark.parametrize(("mode", "sender", "receiver"), DECRYPTED_SPOTS)
def test_malformed_decryptions_are_refused(mode, sender, receiver, backend) -> None:
    net, decrypted = _state(mode, backend, LrDecrypted, sender, receiver)
    assert isinstance(decrypted, LrDecrypted)
    role = net.roles[receiver]
    values = list(decrypted.values)
    n = _masks_of(role)[0].public_key.n
    count = rf"{sender}'s decryptions are malformed \(expected \d+ decryptions, got \d+\)"
    outside = (
        rf"{sender}'s decryptions are malformed \(decryption \d+ is not an integer in \[0, n\)"
    )
    bad_values = [
        (values[:-1], count),
        ([*values, 1], count),
        ([], count),
        ([n, *values[1:]], outside),
        ([*values[:-1], n + 5], outside),
        ([-1, *values[1:]], outside),
        ([*values[:-1], -(2**1100)], outside),
    ]
    for changed, match in bad_values:
        _refused(role, dataclasses.replace(decrypted, values=tuple(changed)), match)
    net.deliver(decrypted)


def _masks_of(role: Role) -> list[Any]:
    if isinstance(role, LrGuest):
        return list(role._batch.masks)
    assert isinstance(role, LrHost)
    return [role._batch.mask]


# epoch ends and decisions --------------------------------------------------------------------
EPOCH_END_CHANGES = [
    ({"weight_change": float("nan")}, "epoch summary is malformed"),
    ({"weight_change": float("inf")}, "epoch summary is malformed"),
    ({"weight_change": -1.0}, "epoch summary is malformed"),
    ({"penalty": float("-inf")}, "epoch summary is malformed"),
    ({"penalty": -0.5}, "epoch summary is malformed"),
    ({"validation_scores": np.zeros(3)}, "epoch summary is malformed"),
    ({"validation_scores": np.zeros((0, 1))}, "epoch summary is malformed"),
]


@pytest.mark.parametrize(("changes", "match"), EPOCH_END_CHANGES)
@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_guest_refuses_a_malformed_epoch_end(mode, changes, match) -> None:
    sender = "host" if mode == "two-party" else HOSTS[1]
    net, end = _state(mode, "plaintext", LrEpochEnd, sender, "guest")
    _refused(net.roles["guest"], dataclasses.replace(end, **changes), f"{sender}'s {match}")


@pytest.mark.parametrize("weight_change", [0.5, 5e-324, 1e300])
@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_guest_refuses_a_weight_change_it_did_not_ask_for(mode, weight_change) -> None:
    # convergence = "max_iter": the host's weight-change norm is not sent (0.0), since
    # norms and validation scores epoch after epoch would reveal its validation rows
    sender = "host" if mode == "two-party" else HOSTS[1]
    net, end = _state(mode, "plaintext", LrEpochEnd, sender, "guest")
    assert isinstance(end, LrEpochEnd) and end.weight_change == 0.0
    _refused(
        net.roles["guest"],
        dataclasses.replace(end, weight_change=weight_change),
        f"{sender} sent a weight-change norm, which is sent only when training converges on "
        + re.escape('weights (convergence = "weights")'),
    )
    net.deliver(end)  # the genuine one is fine


def test_hosts_send_weight_changes_only_to_converge_on_weights() -> None:
    settings = _settings(convergence="weights", tol=1e-12)
    guest = _guest("two-party", "plaintext", settings)
    net = Net({"guest": guest, "host": _host("host", "two-party", "plaintext", settings)})
    setup = net.until(LrSetup, receiver="host")
    assert isinstance(setup, LrSetup) and setup.convergence == "weights"
    net.deliver(setup)
    end = net.until(LrEpochEnd, receiver="guest")
    assert isinstance(end, LrEpochEnd) and end.weight_change > 0.0
    for bad in (float("nan"), -end.weight_change):  # still checked when it is sent
        _refused(guest, dataclasses.replace(end, weight_change=bad), "epoch summary is malformed")
    net.deliver(end)
    net.run()
    assert guest.done and all(entry["weight_change"] > 0 for entry in guest.history)
    # without that rule, the guest's history holds no weight change at all
    plain = _finished("two-party").roles["guest"]
    assert isinstance(plain, LrGuest) and plain.settings.convergence == "max_iter"
    assert all(entry["weight_change"] is None for entry in plain.history)


VALIDATION = slice(ROWS, ROWS + 40)


def _validation_run(early_stopping: str | None) -> tuple[LrGuest, LrHost, Net]:
    """A two-party run with 40 validation rows, before the host's first epoch end."""
    guest_table, host_table = load_builtin("breast")
    changes: dict[str, Any] = {"max_iter": 3}
    if early_stopping is not None:
        changes.update(early_stopping=early_stopping, patience=5)
    settings = _settings(**changes)
    X_guest, labels, X_host = _data()
    guest = LrGuest(
        "guest",
        JOB,
        hosts=["host"],
        features=X_guest,
        labels=labels,
        settings=settings,
        backend="plaintext",
        validation=guest_table.features[VALIDATION],
        validation_labels=guest_table.labels[VALIDATION],  # type: ignore[index]
        evaluate=lambda y, p: {"auc": float(np.mean(p)), "ks": 0.5},
        plan_seed=PLAN_SEED,
    )
    host = LrHost(
        "host",
        JOB,
        guest="guest",
        features=X_host[:, HOST_COLUMNS["host"]],
        settings=settings,
        backend="plaintext",
        validation=host_table.features[VALIDATION, HOST_COLUMNS["host"]],
    )
    return guest, host, Net({"guest": guest, "host": host})


def test_guest_refuses_wrong_validation_scores() -> None:
    guest, host, net = _validation_run("auc")
    end = net.until(LrEpochEnd, receiver="guest")
    assert isinstance(end, LrEpochEnd) and end.validation_scores.shape == (40,)
    scores = end.validation_scores
    for bad in (
        scores[:-1],
        np.append(scores, 0.0),
        np.where(np.arange(40) == 3, np.nan, scores),
        np.zeros(0),
        scores.reshape(40, 1),
    ):
        _refused(
            guest, dataclasses.replace(end, validation_scores=bad), "epoch summary is malformed"
        )
    net.deliver(end)
    net.run()
    assert guest.done and host.done
    assert all(entry["validation_auc"] is not None for entry in guest.history)


def test_guest_refuses_validation_scores_without_early_stopping() -> None:
    # a validation set, but no early stopping: the host keeps its validation scores
    guest, host, net = _validation_run(None)
    end = net.until(LrEpochEnd, receiver="guest")
    assert isinstance(end, LrEpochEnd) and end.validation_scores.shape == (0,)
    genuine = host.X_validation @ host.weights  # type: ignore[operator]
    assert genuine.shape == (40,)
    for bad in (genuine, np.zeros(40), np.zeros(1)):
        _refused(
            guest,
            dataclasses.replace(end, validation_scores=bad),
            "host's epoch summary is malformed",
        )
    net.deliver(end)
    net.run()
    assert guest.done and host.done
    assert all(entry["validation_auc"] is None for entry in guest.history)


# rows digests ----------------------------------------------------------------------------------
def _ids() -> list[str]:
    return [str(customer) for customer in load_builtin("breast")[0].ids[:ROWS]]


def test_host_with_row_ids_refuses_a_setup_without_a_rows_digest() -> None:
    ids = _ids()
    guest = LrGuest(
        "guest",
        JOB,
        hosts=["host"],
        features=_data()[0],
        labels=_data()[1],
        settings=_settings(),
        backend="plaintext",
        plan_seed=PLAN_SEED,
        row_ids=ids,
    )
    host = LrHost(
        "host",
        JOB,
        guest="guest",
        features=_data()[2][:, HOST_COLUMNS["host"]],
        settings=_settings(),
        backend="plaintext",
        row_ids=ids,
    )
    net = Net({"guest": guest, "host": host})
    setup = net.until(LrSetup, receiver="host")
    assert isinstance(setup, LrSetup) and len(setup.rows_digest) == 32
    missing = "the guest sent no rows digest, but this party knows its row ids"
    _refused(host, dataclasses.replace(setup, rows_digest=b""), missing)
    _refused(host, dataclasses.replace(setup, rows_digest=setup.rows_digest[:31]), "of 31 bytes")
    _refused(
        host,
        dataclasses.replace(setup, rows_digest=bytes(32)),
        "rows are not the same customers in the same order",
    )
    assert host.setup is None
    # a guest that knows no row ids sends no digest: refused by a host that does
    blind = _guest("two-party", "plaintext")
    (blind_setup,) = [m for m in blind.start() if isinstance(m, LrSetup)]
    assert blind_setup.rows_digest == b""
    _refused(host, dataclasses.replace(blind_setup, plan_seed=setup.plan_seed), missing)
    # ... but taken by a host that knows none either
    assert _host("host", "two-party", "plaintext").receive(blind_setup)
    net.deliver(setup)  # the genuine one is fine
    net.run()
    assert guest.done and host.done


def test_score_host_with_row_ids_refuses_a_request_without_a_rows_digest() -> None:
    ids = _ids()
    X_guest, _, X_host = _data()
    guest = ScoreGuest(
        "guest",
        JOB,
        hosts=["host"],
        features=X_guest,
        weights=np.zeros(10),
        intercept=0.0,
        row_ids=ids,
    )
    host = ScoreHost(
        "host", JOB, guest="guest", features=X_host, weights=np.full(20, 0.1), row_ids=ids
    )
    (request,) = guest.start()
    assert isinstance(request, LrScoreRequest) and len(request.rows_digest) == 32
    missing = "the guest sent no rows digest, but this party knows its row ids"
    _refused(host, dataclasses.replace(request, rows_digest=b""), missing)
    _refused(host, dataclasses.replace(request, rows_digest=b"", rows_salt=b""), missing)
    _refused(
        host,
        dataclasses.replace(request, rows_digest=bytes(32)),
        "rows are not the same customers in the same order",
    )
    (blind,) = _scoring()[0].start()  # a guest without row ids
    _refused(host, blind, missing)
    (partial,) = host.receive(request)
    guest.receive(partial)
    assert guest.done and host.done


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"stop": False}, "the guest asked for more than max_iter epochs"),
        ({"best_epoch": 2}, "asked to keep epoch 2 of 2"),
        ({"best_epoch": -2}, "asked to keep epoch -2 of 2"),
        ({"round": 2}, "guest sent LR_DECISION for epoch 2 batch 0, expected epoch 1 batch 0"),
        ({"batch": 1}, "guest sent LR_DECISION for epoch 1 batch 1, expected epoch 1 batch 0"),
    ],
)
def test_host_refuses_a_bad_last_decision(changes, match) -> None:
    net, decision = _state("two-party", "plaintext", LrDecision, "guest", "host", epoch=1)
    assert isinstance(decision, LrDecision) and decision.stop  # max_iter = 2: stop after epoch 1
    _refused(net.roles["host"], dataclasses.replace(decision, **changes), match)


def test_hosts_take_the_genuine_last_decision() -> None:
    net, decision = _state("two-party", "plaintext", LrDecision, "guest", "host", epoch=1)
    net.deliver(decision)
    assert net.roles["host"].done


def test_decisions_before_the_epoch_ends_are_refused() -> None:
    _, decision = _state("two-party", "plaintext", LrDecision, "guest", "host")
    net, _ = _state("two-party", "plaintext", LrDecrypted, "guest", "host")  # mid-batch
    _refused(net.roles["host"], decision, "did not expect LR_DECISION", unexpected=True)
    _, decision = _state("arbiter", "plaintext", LrDecision, "guest", "arbiter")
    net, _ = _state("arbiter", "plaintext", LrMasked, "guest", "arbiter")
    _refused(net.roles["arbiter"], decision, "did not expect LR_DECISION", unexpected=True)


# scoring -------------------------------------------------------------------------------------
def _scoring() -> tuple[ScoreGuest, ScoreHost]:
    X_guest, _, X_host = _data()
    guest = ScoreGuest(
        "guest", JOB, hosts=["host"], features=X_guest, weights=np.zeros(10), intercept=0.0
    )
    host = ScoreHost("host", JOB, guest="guest", features=X_host, weights=np.full(20, 0.1))
    return guest, host


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        (np.zeros(ROWS - 1), f"host sent {ROWS - 1} partial scores for {ROWS} rows"),
        (np.zeros(ROWS + 1), f"host sent {ROWS + 1} partial scores"),
        (np.zeros((ROWS, 1)), f"host sent {ROWS} partial scores for {ROWS} rows"),
        (np.where(np.arange(ROWS) == 7, np.nan, 0.0), "partial scores"),
        (np.full(ROWS, np.inf), "partial scores"),
    ],
)
def test_score_guest_refuses_malformed_partial_scores(scores, match) -> None:
    guest, host = _scoring()
    (request,) = guest.start()
    (partial,) = host.receive(request)
    _refused(guest, dataclasses.replace(partial, scores=scores), match)
    guest.receive(partial)
    assert guest.done


def test_scoring_roles_refuse_out_of_place_messages() -> None:
    guest, host = _scoring()
    (request,) = guest.start()
    _refused(host, dataclasses.replace(request, rows=ROWS - 1), "the guest scores 199 rows")
    _refused(host, dataclasses.replace(request, sender="mallory"), "from mallory", unexpected=True)
    (partial,) = host.receive(request)
    _refused(host, request, "did not expect LR_SCORE_REQUEST", unexpected=True)  # finished
    _refused(guest, dataclasses.replace(partial, sender="mallory"), "from mallory", unexpected=True)
    _refused(guest, request, "did not expect LR_SCORE_REQUEST", unexpected=True)
    guest.receive(partial)
    _refused(guest, partial, "did not expect LR_PARTIAL_SCORES", unexpected=True)  # duplicate


# a dishonest key owner ------------------------------------------------------------------------
def test_guest_fails_cleanly_on_decryptions_that_unmask_to_a_huge_gradient() -> None:
    # A key owner cannot learn the masks, but it can add a constant to a decryption:
    # the guest then unmasks a huge, finite gradient.  It must stop with a
    # ProtocolError (at the latest when it next encrypts), not a crypto error.
    net, decrypted = _state("two-party", "plaintext", LrDecrypted, "host", "guest")
    guest = net.roles["guest"]
    gradient_mask, _ = _masks_of(guest)
    n = gradient_mask.public_key.n
    shifted = [(value + 2**200) % n for value in decrypted.values]
    with pytest.raises(ProtocolError, match="guest: a partial score exceeds the public bound"):
        net.deliver(dataclasses.replace(decrypted, values=tuple(shifted)))
        net.run()


# fuzz ---------------------------------------------------------------------------------------
def _header() -> st.SearchStrategy[dict[str, int]]:
    return st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {"round": st.integers(-1, 3), "batch": st.integers(-1, 3)},
        ),
    )


def _plain_vectors(keys: list[Any], length: int) -> st.SearchStrategy[PlainVector]:
    @st.composite
    def vectors(draw: st.DrawFn) -> PlainVector:
        key = draw(st.sampled_from(keys))
        size = draw(st.one_of(st.just(length), st.integers(0, length + 3)))
        mantissas = draw(st.lists(st.integers(-(2**80), 2**80), min_size=size, max_size=size))
        exponent = draw(st.sampled_from([ENCRYPTION_EXPONENT, ENCRYPTION_EXPONENT - 4, -4, 0]))
        bound = max((abs(m) for m in mantissas), default=0) + 1
        return PlainVector(key, mantissas, exponent, bound)

    return vectors()


@given(data=st.data())
def test_fuzzed_forwards_raise_only_protocol_errors(data: st.DataObject) -> None:
    net, forward = _state("two-party", "plaintext", LrForward, "host", "guest")
    guest = net.roles["guest"]
    assert isinstance(guest, LrGuest) and isinstance(forward, LrForward)
    keys = [guest._key, _own_public(guest), generate_plain_keypair(1024)[0]]
    rows = len(forward.quarter_scores)
    changes: dict[str, Any] = data.draw(_header())
    if data.draw(st.booleans()):
        changes["quarter_scores"] = data.draw(_plain_vectors(keys, rows))
    if data.draw(st.booleans()):
        changes["squares"] = data.draw(_plain_vectors(keys, 1))
    _only_protocol_errors(guest, dataclasses.replace(forward, **changes))


@given(data=st.data())
def test_fuzzed_residuals_raise_only_protocol_errors(data: st.DataObject) -> None:
    mode = data.draw(st.sampled_from(["two-party", "arbiter"]))
    receiver = "host" if mode == "two-party" else data.draw(st.sampled_from(HOSTS))
    net, residual = _state(mode, "plaintext", LrResidual, "guest", receiver)
    host = net.roles[receiver]
    assert isinstance(host, LrHost) and isinstance(residual, LrResidual)
    keys = [residual.residual.public_key, generate_plain_keypair(1024)[0]]
    if host._own_keys is not None:
        keys.append(host._own_keys[0])
    rows = len(residual.residual)
    changes: dict[str, Any] = data.draw(_header())
    for field in ("residual", "weights", "prefix"):
        if data.draw(st.booleans()):
            changes[field] = data.draw(_plain_vectors(keys, rows))
    _only_protocol_errors(host, dataclasses.replace(residual, **changes))


@given(data=st.data())
def test_fuzzed_decryptions_raise_only_protocol_errors(data: st.DataObject) -> None:
    mode, sender, receiver = data.draw(st.sampled_from(DECRYPTED_SPOTS))
    # the guest on paillier (packed gradients: forged values fail the slot checks; on
    # plaintext a forged value can unmask to a huge gradient, see the test above)
    backend = "paillier" if receiver == "guest" else "plaintext"
    net, decrypted = _state(mode, backend, LrDecrypted, sender, receiver)
    role = net.roles[receiver]
    n = _masks_of(role)[0].public_key.n
    count = len(decrypted.values)
    value = st.one_of(
        st.integers(0, n - 1),
        st.sampled_from([0, 1, n - 1, n, n + 1, -1]),
        st.integers(-(2**1100), 2**1100),
    )
    values = data.draw(
        st.one_of(
            st.lists(value, min_size=count, max_size=count),
            st.lists(value, max_size=count + 2),
        )
    )
    changes: dict[str, Any] = data.draw(_header())
    _only_protocol_errors(role, dataclasses.replace(decrypted, values=tuple(values), **changes))


@given(data=st.data())
def test_fuzzed_epoch_ends_raise_only_protocol_errors(data: st.DataObject) -> None:
    mode = data.draw(st.sampled_from(["two-party", "arbiter"]))
    sender = "host" if mode == "two-party" else data.draw(st.sampled_from(HOSTS))
    net, end = _state(mode, "plaintext", LrEpochEnd, sender, "guest")
    numbers = st.floats(allow_nan=True, allow_infinity=True)
    scores = hnp.arrays(
        dtype=st.sampled_from([np.float64, np.int64, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3),
    )
    changes: dict[str, Any] = data.draw(_header())
    for field, strategy in (
        ("weight_change", numbers),
        ("penalty", numbers),
        ("validation_scores", scores),
    ):
        if data.draw(st.booleans()):
            changes[field] = data.draw(strategy)
    _only_protocol_errors(net.roles["guest"], dataclasses.replace(end, **changes))


@given(data=st.data())
def test_fuzzed_setups_raise_only_protocol_errors(data: st.DataObject) -> None:
    mode = data.draw(st.sampled_from(["two-party", "arbiter"]))
    receiver = "host" if mode == "two-party" else data.draw(st.sampled_from(HOSTS))
    net, setup = _state(mode, "plaintext", LrSetup, "guest", receiver)
    host = net.roles[receiver]
    assert isinstance(host, LrHost) and isinstance(setup, LrSetup)
    words = st.sampled_from(["", "max_iter", "loss", "weights", "auc", "ks", "none", "AUC"])
    fields: dict[str, st.SearchStrategy[Any]] = {
        "convergence": st.one_of(words, st.text(max_size=8)),
        "early_stopping": st.one_of(words, st.text(max_size=8)),
        "rows_digest": st.one_of(st.just(b""), st.binary(min_size=30, max_size=34)),
        "batch_size": st.integers(-1, ROWS + 1),
        "guest_features": st.integers(-1, ROWS),
    }
    changes: dict[str, Any] = data.draw(_header())
    for field, strategy in fields.items():
        if data.draw(st.booleans()):
            changes[field] = data.draw(strategy)
    forged = dataclasses.replace(setup, **changes)
    try:
        host.receive(forged)
    except ProtocolError as error:
        assert str(error).startswith(host.party), str(error)
        return
    # accepted: then it matches this host's settings, and its plan passes the bound
    assert (forged.convergence, forged.early_stopping) == ("max_iter", "")
    assert len(forged.rows_digest) in (0, 32)  # this host knows no row ids to check it
    assert host.plan is not None and host.plan.smallest > forged.guest_features
    assert satisfies_label_bound(host.plan.smallest, 1, host.gradient_bits)


@given(data=st.data())
def test_fuzzed_host_setups_raise_only_protocol_errors(data: st.DataObject) -> None:
    net, host_setup = _state("two-party", "plaintext", LrHostSetup, "host", "guest")
    guest = net.roles["guest"]
    assert isinstance(guest, LrGuest) and isinstance(host_setup, LrHostSetup)
    fields: dict[str, st.SearchStrategy[int]] = {
        "features": st.one_of(st.integers(0, 80), st.integers(-(2**63), 2**64)),
        "gradient_bits": st.one_of(st.integers(-2, 70), st.integers(-(2**63), 2**64)),
        "rows": st.sampled_from([ROWS, ROWS - 1, ROWS + 1, 0, -1]),
        "validation_rows": st.sampled_from([0, 1, -1]),
    }
    changes: dict[str, Any] = data.draw(_header())
    for field, strategy in fields.items():
        if data.draw(st.booleans()):
            changes[field] = data.draw(strategy)
    forged = dataclasses.replace(host_setup, **changes)
    try:
        guest.receive(forged)
    except ProtocolError as error:
        assert str(error).startswith(guest.party), str(error)
        return
    # accepted: the reported bits are in range and the bound holds at the labels' rate
    assert 1 <= forged.gradient_bits <= 64
    assert satisfies_label_bound(66, forged.features, forged.gradient_bits, guest.event_rate)
