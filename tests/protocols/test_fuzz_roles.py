"""Fuzzing every decoder and every protocol role with hostile input.

Two families of property-based tests, both with one rule: a hostile input is
refused with a *documented* error (:data:`ALLOWED`: ``ProtocolError`` and its
subclasses, ``CodecError``, ``CryptoError``, ``DataError``), never another
exception (``IndexError``, ``KeyError``, ``TypeError``, ``ZeroDivisionError``,
``MemoryError``, ``RecursionError``...), and nothing hangs (every example runs under
an alarm, :func:`deadline`).

* **Decoders.** :func:`vfl.codec.decode` on random bytes and on mutated frames of
  every registered message kind (taken from real protocol runs), and every crypto
  deserialiser (vectors, keys as bytes and JSON, RSA values, X25519 points), the
  CSV reader and the model-file reader.
* **Roles.** Each protocol (secure sum; ECDH, RSA, KKRT and VOLE PSI with every output
  and two hosts; hetero LR two-party and arbiter mode, on the plaintext backend and on
  Paillier through the wire codec; scoring) is run honestly once and a copy of every
  role is kept before each event.  An example starts from one of those copies, then
  plays up to three hostile actions on a chosen party: a field replaced by a
  hostile value of the same type (wrong sizes, values, keys, exponents, bounds,
  non-finite numbers), a header changed (round, batch, sender), a message
  duplicated, replayed from earlier, delivered ahead of its turn, misrouted, taken
  out of order or dropped.  The run then goes on in a random interleaving until
  nothing is in flight.

Budget: the number of examples scales with the hypothesis profile of
``tests/conftest.py`` (``settings.default.max_examples``: 40 under ``ci``, 2000
under ``HYPOTHESIS_PROFILE=long``), times a factor per test: about 8,400 cases in all
under ``ci`` (3,800 role runs, 4,600 decoder inputs; some 20 s on two cores), 50 times
as many under ``long``.  When atheris is installed, the harnesses of ``fuzz/`` also get
a short smoke run each.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import math
import random
import signal
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crypto.ecdh import EcdhKey, validate_points
from crypto.exceptions import CryptoError
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)
from crypto.paillier.serialization import (
    private_key_from_bytes,
    private_key_from_json,
    private_key_to_bytes,
    private_key_to_json,
    public_key_from_bytes,
    public_key_from_json,
    public_key_to_bytes,
    public_key_to_json,
    vector_from_bytes,
    vector_to_bytes,
)
from crypto.plain import PlainMasked, PlainPrivateKey, PlainPublicKey, PlainVector
from crypto.rsa_blind import (
    RsaBlinding,
    RsaBlindPrivateKey,
    RsaBlindPublicKey,
    generate_rsa_blind_key,
    ints_from_bytes,
)
from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings, ScoreGuest, ScoreHost
from protocols.hetero_lr.shared_party import SharedGuest, SharedHost
from protocols.messages import MESSAGE_TYPES, Abort, Message, payload_fields
from protocols.psi import PsiSettings, psi_guest, psi_host
from protocols.roles import Role
from protocols.secure_sum import SumContributor, SumKeyOwner
from vfl.exceptions import CodecError, DataError
from vfl.runtime import codec
from vfl.tables.datasets import read_party_csv
from vfl.tables.models import PartyModel

ALLOWED = (ProtocolError, CodecError, CryptoError, DataError)
"""The only exceptions a hostile input may raise."""

EXAMPLE_SECONDS = 20.0
"""A single example that runs longer than this is a hang."""

JOB = "fuzz#0"


def budget(factor: float) -> settings:
    """``factor`` times the profile's ``max_examples`` (at least one)."""
    return settings(
        max_examples=max(1, round(settings.default.max_examples * factor)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


class Hung(BaseException):
    """Raised by the alarm: the example did not return in time (not an ``Exception``,
    so no ``except Exception`` in the code under test can swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Fail with :class:`Hung` if the block runs longer than ``seconds``."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - not on Linux CI
        yield
        return

    def hung(signum: int, frame: Any) -> None:
        raise Hung(f"no answer within {seconds:g} s: it hangs")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused_cleanly(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or None if it raised an allowed error with a message."""
    with deadline():
        try:
            return call()
        except ALLOWED as error:
            assert str(error).strip(), f"{type(error).__name__} without a message"
            return None


# ---------------------------------------------------------------------------------------
# mutations of byte strings
# ---------------------------------------------------------------------------------------
BOUNDARY_U32 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]
T = TypeVar("T")


class Chooser:
    """Where the random choices come from: hypothesis draws (decoder tests, which then
    shrink to a minimal input) or a seeded generator (role tests, whose runs use
    the CSPRNG, so that every hypothesis draw happens before the run starts)."""

    def __init__(self, draw: st.DrawFn | None = None, seed: int = 0) -> None:
        self._draw = draw
        self._random = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        if self._draw is not None:
            return self._draw(st.sampled_from(options))
        return self._random.choice(options)

    def integer(self, low: int, high: int) -> int:
        if self._draw is not None:
            return self._draw(st.integers(low, high))
        return self._random.randint(low, high)

    def binary(self, low: int, high: int) -> bytes:
        if self._draw is not None:
            return self._draw(st.binary(min_size=low, max_size=high))
        return self._random.randbytes(self._random.randint(low, high))


def mutate(choose: Chooser, data: bytes, max_mutations: int = 4) -> bytes:
    """``data`` after one to ``max_mutations`` random edits (flips, sets, cuts,
    insertions, deletions, duplicated ranges, big-endian length fields set to
    boundary values)."""
    out = bytearray(data)
    edits = ["flip", "set", "truncate", "extend", "insert", "delete", "dup", "u16", "u32"]
    for _ in range(choose.integer(1, max_mutations)):
        kind = choose.choice(edits)
        size = len(out)
        where = choose.integer(0, max(size - 1, 0))
        if kind == "flip" and size:
            out[where] ^= 1 << choose.integer(0, 7)
        elif kind == "set" and size:
            out[where] = choose.choice([0, 1, 0x7F, 0x80, 0xFE, 0xFF])
        elif kind == "truncate":
            del out[where:]
        elif kind == "extend":
            out += choose.binary(1, 16)
        elif kind == "insert":
            out[where:where] = choose.binary(1, 8)
        elif kind == "delete" and size:
            del out[where : where + choose.integer(1, 8)]
        elif kind == "dup" and size:
            end = min(size, where + choose.integer(1, 64))
            out[where:where] = out[where:end]
        elif kind in ("u16", "u32") and size >= 4:
            width = 2 if kind == "u16" else 4
            where = min(where, size - width)
            value = choose.choice(BOUNDARY_U32) & ((1 << (8 * width)) - 1)
            out[where : where + width] = value.to_bytes(width, "big")
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """Hypothesis strategy: :func:`mutate` of ``data``."""
    return mutate(Chooser(draw), data)


# ---------------------------------------------------------------------------------------
# honest reference runs, with a copy of every role before each event
# ---------------------------------------------------------------------------------------
KEY_TYPES = (
    PaillierPublicKey,
    PaillierPrivateKey,
    PlainPublicKey,
    PlainPrivateKey,
    EcdhKey,
    RsaBlindPublicKey,
    RsaBlindPrivateKey,
    RsaBlinding,
    type(hashlib.blake2b()),
)
"""Immutable key objects (and RSA blinding factors, which refuse to be copied): shared, never copied, by every snapshot (the plain keys
compare by identity, so a replayed message must carry the very same key object).  KKRT's
output hash keeps a keyed BLAKE2b state that it only ever copies: shared too."""

Link = tuple[str, str]


def _find_keys(value: object, found: dict[int, object], depth: int = 0) -> None:
    if isinstance(value, KEY_TYPES):
        found[id(value)] = value
        inner = getattr(value, "public_key", None)
        if isinstance(inner, KEY_TYPES):
            found[id(inner)] = inner
        return
    if depth > 8 or isinstance(value, str | bytes | int | float | np.ndarray):
        return
    if isinstance(value, dict):
        items: list[object] = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset | deque):
        items = list(value)
        if not (items and isinstance(items[0], KEY_TYPES)):  # a list of keys: all of them
            items = items[:8]  # homogeneous containers: a few items are enough
    else:
        items = list(getattr(value, "__dict__", {}).values())
        for slot in getattr(type(value), "__slots__", ()):
            items.append(getattr(value, slot, None))
    for item in items:
        _find_keys(item, found, depth + 1)


@dataclasses.dataclass
class Reference:
    """An honest run: the messages in the order they were sent, and copies of the
    roles and of the messages in flight before each event."""

    transcript: list[Message]
    snapshots: list[tuple[int, dict[str, Role], dict[Link, deque[Message]]]]
    keys: dict[int, object]

    def restore(self, index: int) -> tuple[int, dict[str, Role], dict[Link, deque[Message]]]:
        sent, roles, in_flight = self.snapshots[index]
        memo: dict[int, Any] = dict(self.keys)
        return sent, copy.deepcopy(roles, memo), copy.deepcopy(in_flight, memo)


def _post(
    in_flight: dict[Link, deque[Message]], transcript: list[Message], messages: list[Message]
) -> None:
    for message in messages:
        transcript.append(message)
        in_flight.setdefault((message.sender, message.receiver), deque()).append(message)


def honest_run(roles: dict[str, Role], max_snapshots: int = 80) -> Reference:
    """Run ``roles`` to the end (links in turn, local work when nothing is in flight)."""
    in_flight: dict[Link, deque[Message]] = {}
    transcript: list[Message] = []
    keys: dict[int, object] = {}
    states: list[tuple[int, dict[str, Role], dict[Link, deque[Message]]]] = []
    scanned = 0
    for role in roles.values():
        _post(in_flight, transcript, role.start())
    for _ in range(100_000):
        _find_keys(roles, keys)
        for message in transcript[scanned:]:
            _find_keys(message, keys)
        scanned = len(transcript)
        memo: dict[int, Any] = dict(keys)
        states.append((len(transcript), copy.deepcopy(roles, memo), copy.deepcopy(in_flight, memo)))
        busy = sorted(link for link, queue in in_flight.items() if queue)
        if busy:
            message = in_flight[busy[0]].popleft()
            _post(in_flight, transcript, roles[message.receiver].receive(message))
            continue
        working = [name for name, role in roles.items() if role.has_work]
        if not working:
            break
        _post(in_flight, transcript, roles[working[0]].work())
    assert all(role.done for role in roles.values()), "the honest run did not finish"
    step = max(1, math.ceil(len(states) / max_snapshots))
    return Reference(transcript, states[::step], keys)


# ---------------------------------------------------------------------------------------
# protocol scenarios
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    make: Callable[[], dict[str, Role]]
    wire: bool
    """Whether hostile messages go through the wire codec (Paillier and plain data);
    the plaintext backend's vectors cannot be encoded, so its messages go straight
    to the roles."""


def _sum_roles() -> dict[str, Role]:
    ring = ["host-1", "host-2"]
    roles: dict[str, Role] = {
        "guest": SumKeyOwner(
            "guest",
            JOB,
            contributors=ring,
            values=[1.5, -2.0, 3.0],
            max_abs=100.0,
            key_length=1024,
            allow_weak_key=True,
        )
    }
    for index, name in enumerate(ring):
        roles[name] = SumContributor(
            name,
            JOB,
            key_owner="guest",
            ring=ring,
            values=[float(index), 2.0, -1.0],
            max_abs=100.0,
            min_key_bits=1024,
        )
    return roles


def _psi_roles(method: str, output: str, hosts: int = 1) -> Callable[[], dict[str, Role]]:
    def make() -> dict[str, Role]:
        settings_ = PsiSettings(
            method=method,  # type: ignore[arg-type]
            output=output,  # type: ignore[arg-type]
            chunk_size=3,
            rsa_key_length=1024,
            allow_weak_key=True,
            rsa_window=2,
        )
        names = [f"host-{j + 1}" for j in range(hosts)]
        guest_ids = [f"id-{i}".encode() for i in range(8)]
        roles: dict[str, Role] = {
            "guest": psi_guest("guest", JOB, hosts=names, ids=guest_ids, settings=settings_)
        }
        for j, name in enumerate(names):
            ids = [f"id-{i}".encode() for i in range(3 + j, 10 + j)]
            roles[name] = psi_host(name, JOB, guest="guest", ids=ids, settings=settings_)
        return roles

    return make


LR_ROWS = 144
LR_BATCH = 48
"""Three batches per epoch, each larger than the guest's width and within the
label-information bound for a host of one standard-normal column (18 bits at
resolution ``2**-16``: batches of 44 rows at least, at the labels' event rate too)."""
LR_IDS = [f"id-{i}" for i in range(LR_ROWS)]
"""Every LR party knows its row ids: setups carry a rows digest (hostile ones are
refused, an empty one too)."""


@functools.cache
def _lr_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    guest = rng.normal(size=(LR_ROWS + 6, 2))
    host = rng.normal(size=(LR_ROWS + 6, 4))
    labels = (guest[:, 0] + host[:, 0] > 0).astype(float)
    labels[:2] = [0.0, 1.0]
    return guest, host, labels, rng.uniform(0.5, 2.0, size=LR_ROWS)


def _lr_roles(mode: str, backend: str, epochs: int = 2) -> Callable[[], dict[str, Role]]:
    def make() -> dict[str, Role]:
        guest_x, host_x, labels, weights = _lr_data()
        lr_settings = LrSettings(
            mode=mode,
            batch_size=LR_BATCH,
            max_iter=epochs,
            # two-party runs converge on weights (hosts send weight-change norms),
            # arbiter runs do not (a host sends 0.0, a hostile norm is refused)
            convergence="weights" if mode == "two-party" else "max_iter",
            tol=1e-12,
            early_stopping="auc",  # hosts send validation scores
            patience=1,
            key_length=1024,
            allow_weak_key=True,
        )
        hosts = ["host"] if mode == "two-party" else ["host-1", "host-2"]
        arbiter = None if mode == "two-party" else "arbiter"
        roles: dict[str, Role] = {
            "guest": LrGuest(
                "guest",
                JOB,
                hosts=hosts,
                features=guest_x[:LR_ROWS],
                labels=labels[:LR_ROWS],
                settings=lr_settings,
                backend=backend,
                arbiter=arbiter,
                sample_weight=weights,
                validation=guest_x[LR_ROWS:],
                validation_labels=labels[LR_ROWS:],
                evaluate=lambda y, p: {"auc": float(np.mean(p)), "ks": 0.0},
                row_ids=LR_IDS,
            )
        }
        # one column per host: a wider host needs larger batches (the label bound)
        blocks = [host_x[:, :1]] if mode == "two-party" else [host_x[:, :1], host_x[:, 1:2]]
        for name, block in zip(hosts, blocks, strict=True):
            roles[name] = LrHost(
                name,
                JOB,
                guest="guest",
                features=block[:LR_ROWS],
                validation=block[LR_ROWS:],
                settings=lr_settings,
                backend=backend,
                arbiter=arbiter,
                row_ids=LR_IDS,
            )
        if arbiter is not None:
            roles[arbiter] = LrArbiter(
                arbiter, JOB, guest="guest", hosts=hosts, settings=lr_settings, backend=backend
            )
        return roles

    return make


def _shared_roles(backend: str) -> Callable[[], dict[str, Role]]:
    """Shared mode: a partner host and another host, row weights, the loss and early
    stopping (every shared message kind and purpose), one epoch."""

    def make() -> dict[str, Role]:
        guest_x, host_x, labels, weights = _lr_data()
        lr_settings = LrSettings(
            mode="shared",
            batch_size=LR_BATCH,
            max_iter=1,
            convergence="loss",
            tol=1e-12,
            early_stopping="auc",
            patience=1,
            key_length=1024,
            allow_weak_key=True,
        )
        hosts = ["host-1", "host-2"]
        roles: dict[str, Role] = {
            "guest": SharedGuest(
                "guest",
                JOB,
                hosts=hosts,
                features=guest_x[:LR_ROWS],
                labels=labels[:LR_ROWS],
                settings=lr_settings,
                backend=backend,
                sample_weight=weights,
                validation=guest_x[LR_ROWS:],
                validation_labels=labels[LR_ROWS:],
                evaluate=lambda y, p: {"auc": float(np.mean(p)), "ks": 0.0},
                row_ids=LR_IDS,
            )
        }
        for index, name in enumerate(hosts):
            block = host_x[:, index : index + 1]
            roles[name] = SharedHost(
                name,
                JOB,
                guest="guest",
                features=block[:LR_ROWS],
                validation=block[LR_ROWS:],
                settings=lr_settings,
                backend=backend,
                row_ids=LR_IDS,
            )
        return roles

    return make


SCORE_IDS = [f"id-{i}" for i in range(LR_ROWS + 6)]


def _score_roles() -> dict[str, Role]:
    guest_x, host_x, _, _ = _lr_data()
    roles: dict[str, Role] = {
        "guest": ScoreGuest(
            "guest",
            JOB,
            hosts=["host-1", "host-2"],
            features=guest_x,
            weights=[0.5, -1.0],
            intercept=0.25,
            row_ids=SCORE_IDS,
        )
    }
    for index, name in enumerate(["host-1", "host-2"]):
        block = host_x[:, 2 * index : 2 * index + 2]
        roles[name] = ScoreHost(
            name, JOB, guest="guest", features=block, weights=[0.1, 0.2], row_ids=SCORE_IDS
        )
    return roles


SCENARIOS = {
    scenario.name: scenario
    for scenario in [
        Scenario("secure-sum", _sum_roles, wire=True),
        Scenario("psi-ecdh-both", _psi_roles("ecdh", "both"), wire=True),
        Scenario("psi-ecdh-guest-2-hosts", _psi_roles("ecdh", "guest", hosts=2), wire=True),
        Scenario("psi-ecdh-cardinality", _psi_roles("ecdh", "cardinality"), wire=True),
        Scenario("psi-rsa-both-2-hosts", _psi_roles("rsa", "both", hosts=2), wire=True),
        Scenario("psi-rsa-guest", _psi_roles("rsa", "guest"), wire=True),
        Scenario("psi-kkrt-both-2-hosts", _psi_roles("kkrt", "both", hosts=2), wire=True),
        Scenario("psi-kkrt-guest", _psi_roles("kkrt", "guest"), wire=True),
        Scenario("psi-vole-both-2-hosts", _psi_roles("vole", "both", hosts=2), wire=True),
        Scenario("psi-vole-guest", _psi_roles("vole", "guest"), wire=True),
        Scenario("lr-two-party-plaintext", _lr_roles("two-party", "plaintext"), wire=False),
        Scenario("lr-arbiter-plaintext", _lr_roles("arbiter", "plaintext"), wire=False),
        Scenario("lr-two-party-paillier", _lr_roles("two-party", "paillier", 1), wire=True),
        Scenario("lr-arbiter-paillier", _lr_roles("arbiter", "paillier", 1), wire=True),
        Scenario("score", _score_roles, wire=True),
        Scenario("lr-shared-plaintext", _shared_roles("plaintext"), wire=False),
        Scenario("lr-shared-paillier", _shared_roles("paillier"), wire=True),
    ]
}


@functools.cache
def reference(name: str) -> Reference:
    return honest_run(SCENARIOS[name].make())


@functools.cache
def strangers() -> tuple[PaillierPublicKey, PaillierPublicKey, PlainPublicKey]:
    """Keys no party of any run knows: a 1024-bit and a 512-bit Paillier key, a plain key."""
    return (
        generate_paillier_keypair(1024, allow_weak_key=True)[0],
        generate_paillier_keypair(512, allow_weak_key=True)[0],
        PlainPublicKey(1024),
    )


# ---------------------------------------------------------------------------------------
# hostile values of the type a field already has
# ---------------------------------------------------------------------------------------
HUGE_INTS = [
    *[-(2**63), -1, 0, 1, 2, 3, 7, 64, 65],  # 64: the most bits a host's gradient may report
    *[2**31 - 1, 2**32, 2**63 - 1, 2**64, 10**40, 2**4000],
]
FLOATS = [math.nan, math.inf, -math.inf, -1.0, 0.0, 5e-324, 1e15, 1e300, -1e300]
STRINGS = [
    *["", "x", "two-party", "arbiter", "ecdh", "rsa", "kkrt", "vole", "both", "guest"],
    "cardinality",
    *["loss", "weights", "max_iter", "auc", "ks"],  # LrSetup's convergence, early stopping
    *["shared", "initial", "scores", "residual", "final", "sigmoid", "gradient"],  # purposes
    *["validation", "batch"],
]
NAMES = ["guest", "host", "host-1", "host-2", "arbiter", "mallory"]


def _keys_in(reference_: Reference) -> list[Any]:
    public = [k for k in reference_.keys.values() if isinstance(k, PaillierPublicKey)]
    plain = [k for k in reference_.keys.values() if isinstance(k, PlainPublicKey)]
    return public + plain + list(strangers())


def _similar(values: list[Any], kind: type) -> list[Any]:
    return [v for v in values if type(v) is kind]


def _transcript_values(reference_: Reference, kind: type, tag: codec.FieldTag) -> list[Any]:
    found = []
    for message in reference_.transcript:
        for name, field_tag in codec.field_tags(type(message)):
            value = getattr(message, name)
            if field_tag is tag and type(value) is kind:
                found.append(value)
    return found


def _mantissas(choose: Chooser, length: int, n: int) -> list[int]:
    special = [0, 1, -1, n // 3, -(n // 3), n // 2, n - 1, n, 2**2000]
    return [
        choose.choice(special) if choose.integer(0, 3) == 0 else choose.integer(-(2**40), 2**40)
        for _ in range(length)
    ]


def _hostile_plain_vector(choose: Chooser, value: PlainVector, keys: list[Any]) -> Any:
    key = choose.choice([value.public_key, *[k for k in keys if isinstance(k, PlainPublicKey)]])
    length = choose.choice([len(value), 0, max(len(value) - 1, 0), len(value) + 1, 3])
    exponent = choose.choice([value.exponent, value.exponent - 1, 0, -4, 30, -600])
    mantissas = _mantissas(choose, length, key.n)
    largest = max((abs(m) for m in mantissas), default=0)
    bound = choose.choice([value.bound, 0, 1, largest, key.n // 3])
    try:
        return PlainVector(key, mantissas, exponent, bound)
    except (CryptoError, ValueError):  # no vector can be built with that bound
        return PlainVector(key, mantissas[:1], exponent, 1)


def _hostile_encrypted_vector(choose: Chooser, value: EncryptedVector, keys: list[Any]) -> Any:
    paillier = [k for k in keys if isinstance(k, PaillierPublicKey)]
    how = choose.choice(["slice", "extend", "exponent", "bound", "key", "residues"])
    key = value.public_key
    ciphertexts = value.ciphertexts
    exponent, bound = value.exponent, value.bound
    if how == "slice":
        start = choose.integer(0, len(ciphertexts))
        ciphertexts = ciphertexts[start : start + choose.integer(0, len(ciphertexts))]
    elif how == "extend":
        ciphertexts = ciphertexts + ciphertexts[: choose.integer(1, 3)] or [1]
    elif how == "exponent":
        exponent = choose.choice([exponent - 1, exponent + 1, 0, -4, -600, 600])
    elif how == "bound":
        bound = choose.choice([0, 1, key.max_int])
    elif how == "key":
        key = choose.choice(paillier)
        size = choose.choice([len(ciphertexts), 0, 1, len(ciphertexts) + 1])
        values = [choose.integer(-(2**40), 2**40) / 7 for _ in range(size)]
        return key.encrypt_vector(np.array(values, dtype=float))
    else:  # valid ciphertexts of arbitrary plaintexts (e.g. in the overflow band)
        n2 = key.n**2
        special = [1, key.n + 1, n2 - 1, (key.n + 1) ** 2 % n2, (1 + (key.n // 2) * key.n) % n2]
        ciphertexts = [
            choose.choice(special) if choose.integer(0, 1) else choose.integer(2, 2**64)
            for _ in ciphertexts
        ]
    try:
        return EncryptedVector(key, ciphertexts, exponent, bound)
    except (CryptoError, ValueError):
        return value


def _hostile_masked(choose: Chooser, value: Any, keys: list[Any]) -> Any:
    if isinstance(value, PlainMasked):
        key = choose.choice([value.public_key, *[k for k in keys if isinstance(k, PlainPublicKey)]])
        length = choose.choice([len(value), 0, len(value) + 1, max(len(value) - 1, 0)])
        return PlainMasked(key, _mantissas(choose, length, key.n))
    paillier = [k for k in keys if isinstance(k, PaillierPublicKey)]
    key = choose.choice([value.public_key, *paillier])
    ciphertexts = (value.ciphertexts * 2)[: choose.integer(0, len(value) + 2)]
    if key != value.public_key:
        ciphertexts = [c % key.n**2 or 1 for c in ciphertexts]
    return MaskedVector(key, [mpz(c) for c in ciphertexts])


def _hostile_array(choose: Chooser, value: np.ndarray) -> np.ndarray:
    how = choose.choice(["shrink", "grow", "empty", "2d", "0d", "dtype", "poison", "huge"])
    array = np.array(value)
    if how == "shrink":
        return array[: choose.integer(0, max(len(array) - 1, 0))] if array.ndim else array
    if how == "grow":
        return np.concatenate([array.ravel(), array.ravel()[:1], [7]]).astype(array.dtype)
    if how == "empty":
        return np.zeros((0,), dtype=array.dtype)
    if how == "2d":
        return array.reshape(-1, 1)
    if how == "0d":
        return np.array(array.ravel()[0] if array.size else 0, dtype=array.dtype)
    if how == "dtype":
        return array.astype(choose.choice([np.float64, np.int64, np.uint8, np.bool_]))
    if array.dtype.kind in "iub" and how == "huge" and array.size:
        ints = array.astype(np.int64)
        ints.ravel()[0] = choose.choice([-1, 2**62, -(2**63), 2**31])
        return ints
    floats = array.astype(np.float64)
    if floats.size:
        fill = choose.choice(FLOATS) if how == "poison" else 1e300
        floats.ravel()[choose.integer(0, floats.size - 1)] = fill
    return floats


def _hostile_int_tuple(choose: Chooser, value: tuple[int, ...]) -> tuple[int, ...]:
    items = list(value)
    how = choose.choice(["cut", "extend", "replace", "empty", "rsa"])
    if how == "cut" and items:
        return tuple(items[: choose.integer(0, len(items) - 1)])
    if how == "extend":
        return (*items, *[choose.integer(0, 2**70) for _ in range(choose.integer(1, 3))])
    if how == "empty":
        return ()
    if how == "rsa":  # an RSA key (n, e) that breaks a rule
        n = items[0] if items else 15
        return choose.choice(
            [
                (n, 1),
                (n, 2),
                (n, n),
                (n + 1, 65537),
                (n * n, 65537),
                (2**1023 + 1, 65537),
                (3**700, 65537),
                (n, 2**5000),
            ]
        )
    if not items:
        return (choose.integer(0, 2**64),)
    index = choose.integer(0, len(items) - 1)
    items[index] = choose.choice([0, 1, max(items[index] - 1, 0), items[index] + 1, 2**8000])
    return tuple(items)


def hostile_value(choose: Chooser, value: Any, reference_: Reference, tag: codec.FieldTag) -> Any:
    """A value of ``value``'s type (wire tag ``tag``) that a hostile peer could send."""
    keys = _keys_in(reference_)
    others = _transcript_values(reference_, type(value), tag)
    if others and choose.integer(0, 4) == 0:  # a value of the same type from elsewhere
        return choose.choice(others)
    if tag is codec.FieldTag.BOOL:
        return not value
    if tag is codec.FieldTag.INT:
        return choose.choice([*HUGE_INTS, value - 1, value + 1, 2 * value])
    if tag is codec.FieldTag.FLOAT:
        return choose.choice([*FLOATS, value * 1e10, -value, choose.integer(-9, 9) / 7])
    if tag is codec.FieldTag.STR:
        return choose.choice([*STRINGS, value + "x", value.upper(), "é" * 3])
    if tag is codec.FieldTag.BYTES:
        return choose.choice(
            [mutate(choose, value), choose.binary(0, 64), value + value, value[:1], b""]
        )
    if tag is codec.FieldTag.ARRAY:
        return _hostile_array(choose, value)
    if tag is codec.FieldTag.PUBLIC_KEY:
        return choose.choice([k for k in keys if type(k) is type(value)])
    if isinstance(value, PlainVector):
        return _hostile_plain_vector(choose, value, keys)
    if isinstance(value, EncryptedVector):
        return _hostile_encrypted_vector(choose, value, keys)
    if isinstance(value, MaskedVector | PlainMasked):
        return _hostile_masked(choose, value, keys)
    if tag is codec.FieldTag.STR_TUPLE:
        return tuple(choose.choice(NAMES) for _ in range(choose.integer(0, 3)))
    if tag is codec.FieldTag.INT_TUPLE:
        return _hostile_int_tuple(choose, value)
    raise AssertionError(f"no hostile values for {type(value).__name__}")


def hostile_header(choose: Chooser, message: Message) -> dict[str, Any]:
    field = choose.choice(["round", "batch", "sender", "job_id"])
    if field == "sender":
        return {"sender": choose.choice(NAMES)}
    if field == "job_id":
        return {"job_id": choose.choice(["fuzz#1", "other#0", "fuzz"])}
    current = getattr(message, field)
    return {field: choose.choice([current + 1, max(current - 1, 0), 0, 2**32 - 1, 1, 2])}


# ---------------------------------------------------------------------------------------
# one fuzzed run
# ---------------------------------------------------------------------------------------
ACTIONS = (
    "field",
    "field",
    "field",
    "header",
    "duplicate",
    "replay",
    "ahead",
    "misroute",
    "swap",
    "drop",
)


class Run:
    """A run restored from a snapshot, driven message by message."""

    def __init__(self, scenario: Scenario, reference_: Reference, index: int) -> None:
        self.scenario = scenario
        self.reference = reference_
        self.sent, self.roles, self.in_flight = reference_.restore(index)
        self.keyring = codec.Keyring(
            k for k in reference_.keys.values() if isinstance(k, PaillierPublicKey)
        )
        for key in strangers()[:2]:
            self.keyring.add(key)

    def post(self, messages: list[Message]) -> None:
        for message in messages:
            self.in_flight.setdefault((message.sender, message.receiver), deque()).append(message)

    def over_the_wire(self, message: Message) -> Message:
        """What the receiver's codec makes of a hostile message (CodecError: refused)."""
        if not self.scenario.wire:
            return message
        frame = codec.encode(message)  # a value no codec can carry would be a test bug
        return codec.decode(frame, self.keyring, allow_weak_keys=True)

    def deliver(self, message: Message, *, hostile: bool) -> None:
        if hostile:
            message = self.over_the_wire(message)
        role = self.roles.get(message.receiver)
        if role is None:
            return  # the runner refuses a message for another party
        self.post(role.receive(message))

    def heads(self) -> list[Link]:
        return sorted(link for link, queue in self.in_flight.items() if queue)

    def settle(self, choose: Chooser, max_steps: int | None = None) -> None:
        """Deliver and work in a random interleaving until nothing is left to do
        (or for ``max_steps`` events)."""
        for _ in range(20_000 if max_steps is None else max_steps):
            busy = self.heads()
            working = sorted(name for name, role in self.roles.items() if role.has_work)
            choices: list[Link] = [*busy, *((name, "") for name in working)]
            if not choices:
                return
            sender, receiver = choose.choice(choices)
            if receiver == "":
                self.post(self.roles[sender].work())
            else:
                self.deliver(self.in_flight[(sender, receiver)].popleft(), hostile=False)
        if max_steps is None:
            raise AssertionError("the run never settles: a livelock")

    # hostile actions ---------------------------------------------------------------
    def act(self, choose: Chooser, action: str, target: str) -> None:
        incoming = [link for link in self.heads() if link[1] == target]
        past = self.reference.transcript[: self.sent]
        future = self.reference.transcript[self.sent :]
        if incoming and action in ("field", "header", "duplicate", "swap", "drop"):
            queue = self.in_flight[choose.choice(incoming)]
            if action == "drop":
                queue.popleft()
            elif action == "swap" and len(queue) > 1:
                queue[0], queue[1] = queue[1], queue[0]
            elif action == "duplicate":
                self.deliver(queue[0], hostile=True)
            elif action == "header":
                message = queue.popleft()
                changes = hostile_header(choose, message)
                self.deliver(dataclasses.replace(message, **changes), hostile=True)
            elif action == "field":
                message = queue.popleft()
                tags = dict(codec.field_tags(type(message)))
                if not tags:
                    changes = {"round": message.round + 1}
                else:
                    name = choose.choice(sorted(tags))
                    value = hostile_value(
                        choose, getattr(message, name), self.reference, tags[name]
                    )
                    changes = {name: value}
                self.deliver(dataclasses.replace(message, **changes), hostile=True)
            return
        pool = {"replay": past, "ahead": future}.get(action, self.reference.transcript)
        addressed = [m for m in pool if m.receiver == target]
        if action in ("replay", "ahead") and addressed:
            self.deliver(choose.choice(addressed), hostile=True)
            return
        message = choose.choice(self.reference.transcript)  # misrouted to the target
        sender = choose.choice([message.sender, *NAMES])
        if sender == target:
            sender = message.sender if message.sender != target else "mallory"
        self.deliver(dataclasses.replace(message, receiver=target, sender=sender), hostile=True)


def fuzz_roles(name: str, data: st.DataObject) -> None:
    """One example: a snapshot of ``name``'s honest run, 1-3 hostile actions, then the
    rest of the run; only documented errors may come out, and nothing may hang.

    Every hypothesis draw happens first: the roles use the CSPRNG (masks, keys,
    shuffles), so a run's course must not decide what is drawn."""
    reference_ = reference(name)
    parties = sorted(reference_.snapshots[0][1])
    index = data.draw(st.integers(0, len(reference_.snapshots) - 1), label="snapshot")
    plan = data.draw(
        st.lists(
            st.tuples(st.sampled_from(ACTIONS), st.sampled_from(parties), st.integers(0, 3)),
            min_size=1,
            max_size=3,
        ),
        label="hostile actions (action, target, honest events after it)",
    )
    choose = Chooser(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    with deadline():
        run = Run(SCENARIOS[name], reference_, index)
        try:
            for action, target, events in plan:
                run.act(choose, action, target)
                run.settle(choose, max_steps=events)
            run.settle(choose)
        except ALLOWED as error:
            assert str(error).strip(), f"{type(error).__name__} without a message"
            event(f"refused: {type(error).__name__}")
        else:
            done = sum(role.done for role in run.roles.values())
            event(f"settled: {done} of {len(run.roles)} roles done")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_honest_reference_runs_finish(name: str) -> None:
    reference_ = reference(name)
    assert reference_.transcript and len(reference_.snapshots) > 1
    # every message of an honest run survives the wire codec
    if SCENARIOS[name].wire:
        run = Run(SCENARIOS[name], reference_, 0)
        for message in reference_.transcript:
            assert type(run.over_the_wire(message)) is type(message)


ROLE_FACTORS = {
    "secure-sum": 8.0,
    "psi-ecdh-both": 8.0,
    "psi-ecdh-guest-2-hosts": 6.0,
    "psi-ecdh-cardinality": 5.0,
    "psi-rsa-both-2-hosts": 6.0,
    "psi-rsa-guest": 5.0,
    "psi-kkrt-both-2-hosts": 5.0,
    "psi-kkrt-guest": 4.0,
    "psi-vole-both-2-hosts": 1.5,
    "psi-vole-guest": 1.0,
    "lr-two-party-plaintext": 15.0,
    "lr-arbiter-plaintext": 15.0,
    "lr-two-party-paillier": 6.0,
    "lr-arbiter-paillier": 5.0,
    "score": 6.0,
    "lr-shared-plaintext": 10.0,
    "lr-shared-paillier": 3.0,
}
"""Examples per role test, times the profile's ``max_examples`` (ci: 40, long: 2000)."""


def _role_test(name: str) -> Callable[..., None]:
    @budget(ROLE_FACTORS[name])
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        fuzz_roles(name, data)

    test.__name__ = f"test_{name.replace('-', '_')}_roles_refuse_hostile_messages_cleanly"
    return test


for _name in SCENARIOS:
    _test = _role_test(_name)
    globals()[_test.__name__] = _test
del _name, _test


# ---------------------------------------------------------------------------------------
# the wire codec
# ---------------------------------------------------------------------------------------
@functools.cache
def sample_frames() -> dict[str, list[bytes]]:
    """Frames of every registered message kind, from the honest runs (wire scenarios)."""
    frames: dict[str, list[bytes]] = {}
    for name, scenario in SCENARIOS.items():
        if not scenario.wire:
            continue
        for message in reference(name).transcript:
            frames.setdefault(message.kind.name, []).append(codec.encode(message))
    abort = Abort(job_id=JOB, sender="guest", receiver="host", reason="stop: ü")
    frames["ABORT"] = [codec.encode(abort)]
    for kind, cls in MESSAGE_TYPES.items():  # kinds without payload that no run sent
        if kind.name not in frames and not payload_fields(cls):
            message = cls(job_id=JOB, sender="guest", receiver="host", round=1)
            frames[kind.name] = [codec.encode(message)]
    return frames


def _full_keyring() -> codec.Keyring:
    keyring = codec.Keyring()
    for name, scenario in SCENARIOS.items():
        if scenario.wire:
            for key in reference(name).keys.values():
                if isinstance(key, PaillierPublicKey):
                    keyring.add(key)
    return keyring


def test_frames_of_every_message_kind_are_sampled() -> None:
    kinds = {kind.name for kind in MESSAGE_TYPES}
    assert kinds <= set(sample_frames()), kinds - set(sample_frames())


def _decoded_or_refused(frame: bytes, keyring: codec.Keyring) -> None:
    def decode() -> Message:
        return codec.decode(frame, keyring, allow_weak_keys=True)

    message = refused_cleanly(decode)
    if message is not None:  # what decodes must encode again (a peer's valid message)
        assert isinstance(message, Message)
        codec.encode(message)


@budget(25)
@given(data=st.data())
def test_mutated_frames_of_every_kind_decode_or_raise_codec_errors(data: st.DataObject) -> None:
    frames = sample_frames()
    kind = data.draw(st.sampled_from(sorted(frames)))
    frame = data.draw(st.sampled_from(frames[kind]))
    if data.draw(st.integers(0, 9)) == 0:  # splice two frames
        other = data.draw(st.sampled_from([f for fs in frames.values() for f in fs]))
        cut = data.draw(st.integers(0, len(frame)))
        frame = frame[:cut] + other[data.draw(st.integers(0, len(other))) :]
    _decoded_or_refused(data.draw(mutated(frame)), _keyring())


@functools.cache
def _keyring() -> codec.Keyring:
    return _full_keyring()


@budget(25)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=400).map(lambda rest: b"VFLM\x01\x00\x01" + rest),
        st.tuples(
            st.sampled_from(sorted(int(k) for k in MESSAGE_TYPES)), st.binary(max_size=400)
        ).map(lambda pair: b"VFLM\x01\x00\x01" + struct.pack(">H", pair[0]) + pair[1]),
    )
)
def test_random_bytes_decode_or_raise_codec_errors(frame: bytes) -> None:
    _decoded_or_refused(frame, _keyring())


# ---------------------------------------------------------------------------------------
# crypto deserialisers
# ---------------------------------------------------------------------------------------
@functools.cache
def crypto_samples() -> dict[str, Any]:
    public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    vector = public_key.encrypt_vector([1.5, -2.0, 0.25, 1e6])
    masked, _ = vector.mask()
    rsa = generate_rsa_blind_key(1024, allow_weak_key=True)
    points = EcdhKey.generate().hash_and_exponentiate([b"a", b"b", b"c"], b"VFL-TEST-DST")
    return {
        "public_key": public_key,
        "private_key": private_key,
        "vectors": [vector_to_bytes(v) for v in (vector, vector.pack(), masked)],
        "public_bytes": public_key_to_bytes(public_key),
        "private_bytes": private_key_to_bytes(private_key),
        "public_json": public_key_to_json(public_key),
        "private_json": private_key_to_json(private_key),
        "rsa": rsa,
        "rsa_values": b"".join(
            v.to_bytes(rsa.public_key.byte_length, "big") for v in (2, 3, rsa.public_key.n - 1)
        ),
        "points": points,
    }


@budget(10)
@given(data=st.data())
def test_serialised_vectors_load_or_raise_crypto_errors(data: st.DataObject) -> None:
    samples = crypto_samples()
    blob = data.draw(
        st.one_of(
            st.sampled_from(samples["vectors"]).flatmap(mutated),
            st.binary(max_size=600),
        )
    )
    refused_cleanly(lambda: vector_from_bytes(blob, samples["public_key"]))
    refused_cleanly(lambda: MaskedVector.from_bytes(blob, samples["public_key"]))


@budget(10)
@given(data=st.data())
def test_serialised_keys_load_or_raise_crypto_errors(data: st.DataObject) -> None:
    samples = crypto_samples()
    public = data.draw(st.one_of(mutated(samples["public_bytes"]), st.binary(max_size=300)))
    private = data.draw(st.one_of(mutated(samples["private_bytes"]), st.binary(max_size=400)))
    weak = data.draw(st.booleans())
    refused_cleanly(lambda: public_key_from_bytes(public, allow_weak_key=weak))
    refused_cleanly(lambda: private_key_from_bytes(private, allow_weak_key=weak))


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=20),
        st.sampled_from(
            ["paillier-public-key", "paillier-private-key", "ff", "0x1f", " 1f", "1_f"]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["type", "version", "n", "p", "q", "x"]), children, max_size=6
        ),
    ),
    max_leaves=12,
)


@budget(10)
@given(data=st.data())
def test_key_json_loads_or_raises_crypto_errors(data: st.DataObject) -> None:
    samples = crypto_samples()
    text = data.draw(
        st.one_of(
            mutated(samples["public_json"].encode()),
            mutated(samples["private_json"].encode()),
            JSON_VALUES.map(json.dumps),
            st.integers(1, 70_000).map(lambda depth: "[" * depth + "]" * depth),
            st.integers(1, 70_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
        )
    )
    for loader in (public_key_from_json, private_key_from_json):
        refused_cleanly(functools.partial(loader, text, allow_weak_key=True))
        if isinstance(text, bytes | str):
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                document = json.loads(text)
                refused_cleanly(functools.partial(loader, document, allow_weak_key=True))


@budget(10)
@given(data=st.data())
def test_rsa_values_and_keys_from_a_peer_are_checked(data: st.DataObject) -> None:
    samples = crypto_samples()
    key: RsaBlindPrivateKey = samples["rsa"]
    blob = data.draw(st.one_of(mutated(samples["rsa_values"]), st.binary(max_size=400)))
    width = key.public_key.byte_length
    refused_cleanly(lambda: ints_from_bytes(blob, width, key.public_key.n))
    n = data.draw(
        st.one_of(
            st.integers(-(2**2100), 2**2100),
            st.sampled_from(
                [key.public_key.n, key.public_key.n + 2, key.public_key.n**2, 2**1024 + 1]
            ),
        )
    )
    e = data.draw(st.one_of(st.integers(-5, 2**70), st.sampled_from([65537, 3, 1, 2, n])))
    refused_cleanly(lambda: RsaBlindPublicKey(n, e))
    signatures = refused_cleanly(lambda: ints_from_bytes(blob, width, key.public_key.n))
    if signatures:
        _, blinding = key.public_key.blind([b"x"] * len(signatures), bytes(32))
        refused_cleanly(lambda: key.public_key.unblind_tags(signatures, blinding, bytes(32)))
        refused_cleanly(lambda: key.sign(signatures))


@budget(10)
@given(data=st.data())
def test_points_from_a_peer_are_validated(data: st.DataObject) -> None:
    samples = crypto_samples()
    points = data.draw(st.one_of(mutated(samples["points"]), st.binary(max_size=200)))
    refused_cleanly(lambda: validate_points(points))
    refused_cleanly(lambda: EcdhKey.generate().exponentiate(points))
    refused_cleanly(lambda: EcdhKey.from_bytes(points[:32]))


# ---------------------------------------------------------------------------------------
# files a party reads: CSV data and model files
# ---------------------------------------------------------------------------------------
CSV_CELLS = st.one_of(
    st.sampled_from(
        ["", " ", "1", "0", "-0", "1e300", "1e309", "nan", "inf", "-inf", "0x1", "1,5", "\ufeff1"]
    ),
    st.text(alphabet='0123456789.eE+-, "\n\rabc\x00é', max_size=6),
)


@budget(10)
@given(
    header=st.lists(st.sampled_from(["id", "y", "x", "x", "z", "", "é"]), max_size=5),
    rows=st.lists(st.lists(CSV_CELLS, max_size=6), max_size=6),
    raw=st.binary(max_size=64),
    label=st.sampled_from([None, "y"]),
    dedupe=st.booleans(),
)
def test_csv_files_load_or_raise_data_errors(
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    raw: bytes,
    label: str | None,
    dedupe: bool,
) -> None:
    path = tmp_path_factory.mktemp("csv") / "party.csv"
    text = "\n".join(",".join(row) for row in [header, *rows])
    path.write_bytes(text.encode("utf-8") + raw if raw and raw[0] % 2 else text.encode("utf-8"))
    table = refused_cleanly(lambda: read_party_csv(path, label_column=label, dedupe=dedupe))
    if table is not None:
        assert np.isfinite(table.features).all() and len(table.ids) == len(set(table.ids))


@functools.cache
def _model_text() -> str:
    from vfl.tables.models import Scaling

    model = PartyModel(
        party="bank-a",
        role="guest",
        feature_names=["x1", "x2"],
        weights=[0.5, -1.0],
        intercept=0.25,
        scaling=Scaling((0.0, 1.0), (1.0, 2.0), (False, True)),
        mode="two-party",
        backend="paillier",
        key_length=2048,
        peers=["bank-b"],
        history=[],
        epochs=1,
        stop_reason="max_iter",
    )
    return json.dumps(model.to_dict())


@budget(5)
@given(data=st.data())
def test_model_files_load_or_raise_data_errors(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    blob = data.draw(
        st.one_of(
            mutated(_model_text().encode()),
            JSON_VALUES.map(lambda value: json.dumps(value).encode()),
            st.builds(
                lambda document, key, value: json.dumps({**document, key: value}).encode(),
                st.just(json.loads(_model_text())),
                st.sampled_from(sorted(json.loads(_model_text()))),
                JSON_VALUES,
            ),
        )
    )
    # Invalid UTF-8 and JSON nested thousands deep still escape as UnicodeDecodeError and
    # RecursionError: strict xfail tests in test_hostile_inputs.py; valid text here.
    path = tmp_path_factory.mktemp("model") / "model.json"
    path.write_text(blob.decode("utf-8", "replace"), encoding="utf-8")
    refused_cleanly(lambda: PartyModel.load(path))


# ---------------------------------------------------------------------------------------
# the atheris harnesses of fuzz/ (when atheris is installed)
# ---------------------------------------------------------------------------------------
FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


@pytest.mark.parametrize("harness", ["codec", "crypto", "csv"])
def test_atheris_harnesses_run(tmp_path: Path, harness: str) -> None:
    pytest.importorskip("atheris")
    result = subprocess.run(
        [sys.executable, str(FUZZ / f"fuzz_{harness}.py"), str(tmp_path), "-runs=300"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 300 runs" in result.stderr


# ---------------------------------------------------------------------------------------
# the binning exchange (protocols.binning.exchange), registered like the scenarios above
# ---------------------------------------------------------------------------------------
def _binning_roles(weighted: bool) -> Callable[[], dict[str, Role]]:
    """Two hosts of two features each, label chunks of 10 rows (12 with 3 rows to a
    ciphertext: two full chunks); one variant has row weights, the other label noise
    (between them, every field of every message)."""

    def make() -> dict[str, Role]:
        from protocols.binning.exchange import BinningGuest, BinningHost, LabelNoise

        rng = np.random.default_rng(7)
        rows = 24
        labels = rng.integers(0, 2, size=rows)
        hosts = ["host-1", "host-2"]
        roles: dict[str, Role] = {
            "guest": BinningGuest(
                "guest",
                JOB,
                hosts=hosts,
                labels=labels,
                weights=rng.uniform(0.5, 3.0, size=rows) if weighted else None,
                key_length=1024,
                allow_weak_key=True,
                min_bin_rows=2,
                noise=None if weighted else LabelNoise(epsilon=4.0),
                chunk_rows=10,
            )
        }
        for name in hosts:  # every bin of 3 bins holds 8 rows
            codes = np.column_stack([rng.permutation(np.arange(rows) % 3) for _ in range(2)])
            roles[name] = BinningHost(
                name,
                JOB,
                guest="guest",
                codes=codes,
                n_bins=[3, 3],
                min_bin_rows=2,
                min_key_bits=1024,
            )
        return roles

    return make


BINNING_SCENARIOS = [
    Scenario("binning-noise", _binning_roles(weighted=False), wire=True),
    Scenario("binning-weighted", _binning_roles(weighted=True), wire=True),
]
for _scenario in BINNING_SCENARIOS:
    SCENARIOS[_scenario.name] = _scenario  # sample_frames() samples their frames too
    ROLE_FACTORS[_scenario.name] = 4.0
    _test = _role_test(_scenario.name)
    globals()[_test.__name__] = _test
del _scenario, _test


@pytest.mark.parametrize("name", [scenario.name for scenario in BINNING_SCENARIOS])
def test_honest_binning_runs_finish(name: str) -> None:
    test_honest_reference_runs_finish(name)
