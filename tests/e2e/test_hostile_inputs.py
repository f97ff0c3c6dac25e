"""Hostile inputs at the level where each bites: a clear error and a clean abort.

Issue 7's list, for every protocol (secure sum, ECDH, RSA, KKRT and VOLE PSI, hetero LR
two-party and with an arbiter, scoring):

* **Whole jobs in one process** (:func:`run_job`): every party runs its real
  ``vfl run`` code path (job steps, :class:`~vfl.runtime.runner.Session`, wire codec) over
  in-memory transports, and one party's outgoing frames are tampered with on the
  way: garbage bytes, a wrong protocol version, an oversized frame, a truncated
  frame, a ciphertext out of range, a vector under an unknown key, a duplicated,
  replayed or out-of-order message, a batch below the minimum size or beyond the
  label-information bound, a hetero LR setup, host setup, epoch end or scoring
  request whose fields break the rules of SECURITY.md §11 (a host's gradient bits,
  the stopping rule, a missing rows digest), a key below the minimum length.  The receiver must fail with an error naming the offender, every
  other party must stop with the receiver's abort (which names the offender too),
  and nobody may hang.
* **Real processes** (:class:`FakePeer`): a `vfl run` process over mutual TLS gets
  garbage, a frame of another protocol version, an oversized message and bad data;
  it must exit with status 1 and one line ``vfl: error: ...`` naming the peer, with
  no traceback, within its timeout.
* **Data and files**: CSV cells that are missing, not numbers, not finite or
  huge; files that are not UTF-8; key and model files nested too deeply.
* **Codec and roles**: a wrong protocol version and malformed ciphertexts in frames
  of every kind; duplicated, replayed and early messages for the PSI and secure-sum
  roles (hetero LR's are in ``test_hetero_lr_hostile.py``); for KKRT-PSI every check
  of SECURITY.md §5 (base-OT points of the wrong length, invalid, of low order or
  repeated in a pair; blocks of columns out of order, replayed, out of range, of the
  wrong size or too early; host values of the wrong size, repeated or out of range;
  bad positions; a setup of another job; an RSA key; kinds it never expects), each
  refused with a ``ProtocolError`` whose message is asserted.  VOLE-PSI jobs get the
  same whole-job tampering plus its own messages both ways (OT blocks, VOLE
  corrections of the wrong size or segment, OKVS chunks duplicated, short, ahead or
  with a changed or short key, tags of the wrong size); its role-level checks are in
  ``tests/protocols/test_vole_hostile.py``.

Bugs in files this change did not own were strict ``xfail`` tests whose reason
says what to fix.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crypto.ecdh import validate_points
from crypto.exceptions import DeserializationError, InvalidPointError
from crypto.ot import RandomOtSender
from crypto.paillier import generate_paillier_keypair
from crypto.paillier.serialization import (
    _HEADER as VECTOR_HEADER,
)
from crypto.paillier.serialization import (
    _PACKING as VECTOR_PACKING,
)
from crypto.paillier.serialization import (
    private_key_from_json,
    public_key_from_json,
    public_key_to_json,
)
from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.messages import (
    PROTOCOL_VERSION,
    Abort,
    MessageKind,
    PsiDone,
    PsiGuestItems,
    PsiHostItems,
    PsiHostSetup,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiPositions,
    PsiProcessedItems,
    PsiSetup,
    SumPartial,
    SumPublicKey,
    SumResult,
)
from protocols.psi import KkrtGuest, KkrtHost, PsiGuest, PsiHost, PsiSettings
from protocols.secure_sum import SumContributor, SumKeyOwner
from tests.support.job_files import start_party, write_job
from vfl.certs import create_job_certificates
from vfl.exceptions import (
    CodecError,
    DataError,
    MessageTooLargeError,
    PeerAbortedError,
    VflError,
)
from vfl.jobs import PartyReport, simulate_job
from vfl.jobs.jobfile import JobConfig, load_job
from vfl.jobs.run import _run_steps
from vfl.runtime import codec
from vfl.runtime.transport.base import Transport
from vfl.runtime.transport.memory import MemoryNetwork
from vfl.runtime.transport.tls import TlsTransport
from vfl.tables.datasets import read_party_csv

ROOT = Path(__file__).resolve().parents[2]
KIND_OFFSET = 7  # magic (4), codec version (1), protocol version (2)
VERSION_OFFSET = 5


# ---------------------------------------------------------------------------------------
# job files for every protocol
# ---------------------------------------------------------------------------------------
ROWS = 48
LR_ROWS = 120
"""Rows of the jobs that train: two batches of at least 56 rows (``batch_size = 50``),
within the label-information bound for hosts of one standardised column (18 bits at
resolution ``2**-16``: batches of 44 rows at least, at the guest's event rate of 1/2)."""


def write_data(
    folder: Path, parties: Sequence[tuple[str, str]], rows: int = ROWS, **cells: str
) -> None:
    """One CSV per data party: ids c0..c47 (``rows`` of them; bank-c lacks the last
    eight), an ``amount`` column everyone has, two features each, labels on the guest.
    ``cells`` replaces one party's cell: ``{"bank-b": "3,z1,abc"}`` puts ``abc`` in
    row 3, column z1."""
    total = rows
    rng = np.random.default_rng(11)
    for index, (name, role) in enumerate(parties):
        if role == "arbiter":
            continue
        rows = total - 8 if name == "bank-c" else total
        columns = [f"{name[-1]}1", f"{name[-1]}2"]
        header = ["id", *(["y"] if role == "guest" else []), "amount", *columns]
        lines = [",".join(header)]
        for row in range(rows):
            values = [f"{v:.4f}" for v in rng.normal(size=3) * (index + 1)]
            label = [str((row + index) % 2)] if role == "guest" else []
            lines.append(",".join([f"c{row}", *label, *values]))
        if name in cells:
            row_text, column, value = cells[name].split(",", 2)
            row = int(row_text) + 1
            parts = lines[row].split(",")
            parts[header.index(column)] = value
            lines[row] = ",".join(parts)
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")


TWO = [("bank-a", "guest"), ("bank-b", "host")]
THREE = [("bank-a", "guest"), ("bank-b", "host"), ("bank-c", "host")]
ARBITER = [("arbiter", "arbiter"), ("bank-a", "guest"), ("bank-b", "host"), ("bank-c", "host")]

PSI = ["[[steps]]", 'type = "psi"', "chunk_size = 8", ""]
LR = [
    "[[steps]]",
    'type = "hetero_lr"',
    'mode = "two-party"',
    "batch_size = 50",
    "max_iter = 1",
    "key_length = 1024",
]
TRAINING = {"lr-two-party", "lr-arbiter", "score"}
"""The protocols whose jobs train: :data:`LR_ROWS` rows, and each host trains on one
column (``feature_columns``) to keep within the label-information bound."""

PROTOCOLS: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "secure-sum": (
        THREE,
        ["[[steps]]", 'type = "secure_sum"', 'columns = ["amount"]', "key_length = 1024"],
    ),
    "psi-ecdh": (THREE, PSI),
    "psi-two-party": (TWO, PSI),
    "psi-rsa": (THREE, [*PSI[:-1], 'method = "rsa"', "rsa_key_length = 1024", ""]),
    "psi-kkrt": (THREE, [*PSI[:-1], 'method = "kkrt"', ""]),
    "psi-vole": (THREE, [*PSI[:-1], 'method = "vole"', ""]),
    "lr-two-party": (TWO, [*PSI, *LR]),
    "lr-arbiter": (
        ARBITER,
        [*PSI, *[line for line in LR if "mode" not in line], 'mode = "arbiter"'],
    ),
    "score": (TWO, [*PSI, *LR, "", "[[steps]]", 'type = "score"']),
}


def make_job(
    folder: Path,
    protocol: str,
    *,
    timeout: float = 5.0,
    max_message_mb: float | None = None,
    cells: dict[str, str] | None = None,
    certificates: bool = False,
) -> Path:
    """Write ``folder/job.toml`` and the data of ``protocol`` (1024-bit test keys)."""
    parties, steps = PROTOCOLS[protocol]
    training = protocol in TRAINING
    write_data(folder, parties, LR_ROWS if training else ROWS, **(cells or {}))
    data = {}
    for name, role in parties:
        if role == "arbiter":
            data[name] = "{}"
            continue
        options = [f'file = "{name}.csv"']
        if role == "guest":
            options.append('label_column = "y"')
        elif training:
            options.append(f'feature_columns = ["{name[-1]}1"]')
        data[name] = "{ " + ", ".join(options) + " }"
    path = write_job(
        folder,
        job_id=f"hostile-{protocol}",
        parties=parties,
        data=data,
        steps=steps,
        timeout=timeout,
        allow_weak_keys=True,
    )
    text = path.read_text().replace("data = {}\n", "")
    if max_message_mb is not None:
        text = text.replace("[tls]", f"max_message_mb = {max_message_mb}\n\n[tls]", 1)
    path.write_text(text)
    if certificates:
        create_job_certificates(folder / "certs", [name for name, _ in parties])
    return path


# ---------------------------------------------------------------------------------------
# a whole job in one process, one party's frames tampered with
# ---------------------------------------------------------------------------------------
def frame_kind(frame: bytes) -> str | None:
    """The kind name of a codec frame (None if it is not one)."""
    if len(frame) < KIND_OFFSET + 2 or frame[:4] != codec.MAGIC:
        return None
    (kind,) = struct.unpack_from(">H", frame, KIND_OFFSET)
    try:
        return MessageKind(kind).name
    except ValueError:
        return None


def vector_fields(frame: bytes) -> list[tuple[int, int]]:
    """``(offset, length)`` of every ciphertext-vector field of a frame."""
    offset = KIND_OFFSET + 2
    for _ in range(3):  # job id, sender, receiver
        (size,) = struct.unpack_from(">H", frame, offset)
        offset += 2 + size
    _, _, count = struct.unpack_from(">IIH", frame, offset)
    offset += 10
    found = []
    for _ in range(count):
        tag, size = struct.unpack_from(">BI", frame, offset)
        offset += 5
        if tag in (codec.FieldTag.ENCRYPTED_VECTOR, codec.FieldTag.MASKED_VECTOR):
            found.append((offset, size))
        offset += size
    return found


def with_bad_ciphertext(frame: bytes) -> bytes:
    """The frame with its first vector's last ciphertext set to all ones (>= n**2)."""
    offset, size = vector_fields(frame)[0]
    vector = frame[offset : offset + size]
    count = struct.unpack_from(VECTOR_HEADER.format, vector)[6]
    bound_length = struct.unpack_from(VECTOR_HEADER.format, vector)[-1]
    body = VECTOR_HEADER.size + bound_length + VECTOR_PACKING.size
    width = (size - body) // count
    return frame[: offset + size - width] + b"\xff" * width + frame[offset + size :]


def with_unknown_key(frame: bytes) -> bytes:
    """The frame with its first vector claiming another key's fingerprint."""
    offset, _ = vector_fields(frame)[0]
    start = offset + 8  # after the vector's magic, version and kind
    return frame[:start] + bytes(16) + frame[start + 16 :]


def with_field(frame: bytes, **changes: Any) -> bytes:
    """Re-encode a frame without vectors after changing some of its fields."""
    message = codec.decode(frame, codec.Keyring(), allow_weak_keys=True)
    return codec.encode(dataclasses.replace(message, **changes))


def with_batch(frame: bytes, delta: int) -> bytes:
    """The frame relabelled as ``delta`` batches later (header counters patched)."""
    offset = KIND_OFFSET + 2
    for _ in range(3):
        (size,) = struct.unpack_from(">H", frame, offset)
        offset += 2 + size
    round_, batch = struct.unpack_from(">II", frame, offset)
    return frame[:offset] + struct.pack(">II", round_, batch + delta) + frame[offset + 8 :]


def with_bad_values(frame: bytes) -> bytes:
    """The frame with values its receiver must refuse: a ciphertext >= n**2, points
    or RSA values out of range, a row count of another size."""
    if vector_fields(frame):
        return with_bad_ciphertext(frame)
    message = codec.decode(frame, codec.Keyring(), allow_weak_keys=True)
    if hasattr(message, "items"):
        return with_field(frame, items=b"\xff" * len(message.items))
    if hasattr(message, "rows"):
        return with_field(frame, rows=message.rows + 1)
    if hasattr(message, "columns"):  # KKRT: a block of OT-extension columns one bin short
        return with_field(frame, columns=message.columns[:-64])
    if hasattr(message, "points"):  # KKRT: a low-order point among the base-OT points
        return with_field(frame, points=bytes(32) + message.points[32:])
    if hasattr(message, "point"):
        return with_field(frame, point=bytes(32))
    if hasattr(message, "cells"):  # VOLE: a chunk of OKVS cells one cell short
        return with_field(frame, cells=message.cells[:-16])
    if hasattr(message, "tree_sums"):  # VOLE: corrections with a tree sum missing
        return with_field(frame, tree_sums=message.tree_sums[:-16])
    raise AssertionError(f"no bad values for {message.kind.name}")


Tamper = Callable[[bytes, list[bytes]], list[bytes]]
"""``tamper(frame, earlier)``: the frames to send instead (``earlier``: the frames
sent before on the same link)."""

TAMPERS: dict[str, Tamper] = {
    "garbage bytes": lambda frame, earlier: [os.urandom(48)],
    "wrong protocol version": lambda frame, earlier: [
        frame[:VERSION_OFFSET]
        + (PROTOCOL_VERSION + 1).to_bytes(2, "big")
        + frame[VERSION_OFFSET + 2 :]
    ],
    "truncated frame": lambda frame, earlier: [frame[: len(frame) // 2]],
    "oversized frame": lambda frame, earlier: [frame + bytes(2**20)],
    "duplicated message": lambda frame, earlier: [frame, frame],
    "replayed message": lambda frame, earlier: [earlier[0], frame],
    "message for a later batch": lambda frame, earlier: [with_batch(frame, 1)],
    "malformed values": lambda frame, earlier: [with_bad_values(frame)],
    "vector under an unknown key": lambda frame, earlier: [with_unknown_key(frame)],
}


class TamperingTransport(Transport):
    """A party's transport whose ``which``-th frame of ``kind`` to ``peer`` is tampered."""

    def __init__(self, inner: Transport, peer: str, kind: str, tamper: Tamper, which: int = 0):
        self.inner, self.party = inner, inner.party
        self.peer, self.kind, self.tamper, self.which = peer, kind, tamper, which
        self.sent: list[bytes] = []
        self.seen = 0
        self.held: bytes | None = None
        self.tampered = False

    def connect(self, peers: Sequence[str], timeout: float) -> None:
        self.inner.connect(peers, timeout)

    def send(self, peer: str, message: bytes) -> None:
        frames = [message]
        if peer == self.peer and frame_kind(message) == self.kind and not self.tampered:
            if self.seen == self.which:
                self.tampered = True
                frames = self.tamper(message, self.sent)
            self.seen += 1
        if peer == self.peer:
            self.sent.append(message)
        for frame in frames:
            self.inner.send(peer, frame)

    def receive(self, timeout: float) -> tuple[str, bytes]:
        return self.inner.receive(timeout)

    def close(self) -> None:
        self.inner.close()


def run_job(
    job: JobConfig,
    *,
    configs: dict[str, JobConfig] | None = None,
    tamper: tuple[str, str, str, Tamper] | None = None,
    which: int = 0,
    seconds: float = 60.0,
) -> dict[str, PartyReport | BaseException]:
    """Every party of ``job`` in a thread of its own over in-memory transports.

    ``tamper = (sender, receiver, kind, tamper)`` alters the sender's first frame of
    that kind (the ``which``-th one) to the receiver; ``configs`` gives some parties
    another job file.
    Returns each party's report or error; fails if a party is still running after
    ``seconds``.
    """
    network = MemoryNetwork()
    transports: dict[str, Transport] = {}
    for party in job.parties:
        limit = job.max_message_bytes
        if tamper is not None and party.name == tamper[0]:
            limit = 2 * limit + 2**21  # the receiver, not the sender, must refuse
        transports[party.name] = network.transport(party.name, max_message_bytes=limit)
    wrapper = None
    if tamper is not None:
        sender, receiver, kind, change = tamper
        wrapper = TamperingTransport(transports[sender], receiver, kind, change, which)
        transports[sender] = wrapper
    outcomes: dict[str, PartyReport | BaseException] = {}

    def play(name: str) -> None:
        config = (configs or {}).get(name, job)
        try:
            outcomes[name] = _run_steps(
                config, config.party(name), transports[name], show_progress=False
            )
        except BaseException as error:  # the test inspects it
            outcomes[name] = error

    threads = [threading.Thread(target=play, args=(p.name,), daemon=True) for p in job.parties]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [p.name for p, t in zip(job.parties, threads, strict=True) if t.is_alive()]
    assert not hung, f"{hung} still running after {seconds:g} s: a hang"
    if wrapper is not None:
        assert wrapper.tampered, f"no {tamper[2] if tamper else ''} frame was sent"
    return outcomes


REFUSALS = (CodecError, ProtocolError, MessageTooLargeError)
"""What the party that receives a hostile frame raises."""


def names(text: str, party: str) -> bool:
    """Whether ``text`` names ``party`` (the hetero LR roles call the one guest "the guest")."""
    return party in text or (party == "bank-a" and "the guest" in text)


def check_clean_abort(
    outcomes: dict[str, PartyReport | BaseException], offender: str, receiver: str
) -> None:
    """The receiver refused, naming the offender; every other party finished its work
    before the refusal or stopped on the receiver's abort (whose reason names the
    offender); the offender may also stop on its own one-line error (its peer
    vanished, or the effect of its own hostile frame reached it first)."""
    refused = outcomes[receiver]
    assert isinstance(refused, REFUSALS), f"{receiver}: {refused!r}"
    assert names(str(refused), offender), str(refused)
    assert "\n" not in str(refused).strip()
    for name, outcome in outcomes.items():
        if name == receiver or isinstance(outcome, PartyReport):
            continue
        if isinstance(outcome, PeerAbortedError):
            assert outcome.peer == receiver and names(str(outcome), offender), str(outcome)
        else:  # the offender: its peer vanished, or it saw the effect of its own frame
            # first (a host that signed the chunk it was wrongly sent: "signature 0
            # does not verify") - either way a clean one-line error
            assert name == offender, f"{name}: {outcome!r}"
            assert isinstance(outcome, VflError | REFUSALS), f"{name}: {outcome!r}"
            assert "\n" not in str(outcome).strip()


# (protocol, offender, receiver, kind of the frame tampered with)
TARGETS = {
    "secure-sum": ("bank-b", "bank-c", "SUM_PARTIAL"),
    "psi-ecdh": ("bank-b", "bank-a", "PSI_PROCESSED_ITEMS"),
    "psi-rsa": ("bank-a", "bank-b", "PSI_GUEST_ITEMS"),
    "psi-kkrt": ("bank-a", "bank-b", "PSI_OT_COLUMNS"),
    "psi-vole": ("bank-a", "bank-b", "PSI_OKVS_CELLS"),
    "lr-two-party": ("bank-b", "bank-a", "LR_FORWARD"),
    "lr-arbiter": ("bank-c", "arbiter", "LR_MASKED"),
    "score": ("bank-a", "bank-b", "LR_SCORE_REQUEST"),
}
VECTOR_KINDS = {"SUM_PARTIAL", "LR_FORWARD", "LR_MASKED"}
MAX_MESSAGE_MB = {"psi-vole": 2}
"""The tampered jobs' message limit (1 MiB unless given): VOLE-PSI's corrections are one
message of 0.8 to 2 MiB whatever the set size (at least 400 trees, each with 128 Gilboa
corrections of 16 bytes and its level sums): 1.6 MiB for these jobs' 48 ids."""
REPLAY_TARGETS = {  # (offender, receiver, kind, which): with an earlier frame on the link
    "secure-sum": ("bank-a", "bank-b", "SUM_RESULT", 0),
    "lr-arbiter": ("bank-c", "arbiter", "LR_MASKED", 1),
}
FINAL_FRAMES = {"secure-sum": {"duplicated message", "message for a later batch"}}
CASES = [
    (protocol, tamper)
    for protocol, (_, _, kind) in TARGETS.items()
    for tamper in TAMPERS
    if tamper != "vector under an unknown key" or kind in VECTOR_KINDS
    if not (protocol == "score" and tamper in ("duplicated message", "message for a later batch"))
]


@pytest.mark.parametrize(("protocol", "tamper"), CASES, ids=[f"{p}: {t}" for p, t in CASES])
def test_a_hostile_frame_aborts_every_party_naming_the_offender(
    tmp_path: Path, protocol: str, tamper: str
) -> None:
    offender, receiver, kind = TARGETS[protocol]
    which = 0
    if tamper == "replayed message" and protocol in REPLAY_TARGETS:
        offender, receiver, kind, which = REPLAY_TARGETS[protocol]
    limit = MAX_MESSAGE_MB.get(protocol, 1)
    job = load_job(make_job(tmp_path, protocol, timeout=3, max_message_mb=limit))
    change = TAMPERS[tamper]
    if tamper == "oversized frame":  # over this job's limit
        change = lambda frame, earlier: [frame + bytes(limit << 20)]  # noqa: E731
    started = time.monotonic()
    outcomes = run_job(job, tamper=(offender, receiver, kind, change), which=which)
    check_clean_abort(outcomes, offender, receiver)
    assert time.monotonic() - started < job.timeout + 10


KKRT_CASES = [  # (offender, receiver, kind, tamper, the receiver's reason): both ways
    ("bank-b", "bank-a", "PSI_OT_RECEIVER", "malformed values", "invalid point at index 0"),
    ("bank-b", "bank-a", "PSI_OT_RECEIVER", "duplicated message", "base OTs already done"),
    ("bank-a", "bank-c", "PSI_OT_SENDER", "malformed values", "sent a bad base-OT point"),
    ("bank-a", "bank-c", "PSI_OT_SENDER", "duplicated message", "not expecting a base-OT"),
    ("bank-a", "bank-b", "PSI_OT_COLUMNS", "duplicated message", "expected block 1 of 2"),
    ("bank-a", "bank-b", "PSI_OT_COLUMNS", "malformed values", "expected 8192"),
    ("bank-c", "bank-a", "PSI_HOST_ITEMS", "duplicated message", "chunk 0 again"),
    ("bank-c", "bank-a", "PSI_HOST_ITEMS", "message for a later batch", "chunk 1 again"),
    ("bank-c", "bank-a", "PSI_HOST_ITEMS", "truncated frame", "invalid message from 'bank-c'"),
]


@pytest.mark.parametrize(
    ("offender", "receiver", "kind", "tamper", "reason"),
    KKRT_CASES,
    ids=[f"{kind}: {tamper}" for _, _, kind, tamper, _ in KKRT_CASES],
)
def test_a_hostile_kkrt_frame_aborts_every_party_naming_the_offender(
    tmp_path: Path, offender: str, receiver: str, kind: str, tamper: str, reason: str
) -> None:
    job = load_job(make_job(tmp_path, "psi-kkrt", timeout=3, max_message_mb=1))
    outcomes = run_job(job, tamper=(offender, receiver, kind, TAMPERS[tamper]))
    check_clean_abort(outcomes, offender, receiver)
    assert reason in str(outcomes[receiver]), str(outcomes[receiver])


def _decoded(frame: bytes) -> Any:
    """The message of a frame without vectors (its fields by name)."""
    return codec.decode(frame, codec.Keyring())


VOLE_TAMPERS: dict[str, Tamper] = {
    **TAMPERS,
    "a tag short": lambda frame, earlier: [with_field(frame, items=_decoded(frame).items[:-12])],
    "changed OKVS key": lambda frame, earlier: [with_field(frame, key=bytes(range(16)))],
    "level sums a level short": lambda frame, earlier: [
        with_field(frame, level_sums=_decoded(frame).level_sums[:-32])
    ],
}
"""The generic tampers and VOLE-PSI's own: one message field of the wrong size or
changed (``with_field``)."""
VOLE_CASES = [  # (offender, receiver, kind, which, tamper, the receiver's reason): both ways
    ("bank-a", "bank-b", "PSI_OT_COLUMNS", 0, "duplicated message", "expected block 1 of"),
    ("bank-a", "bank-c", "PSI_OKVS_CELLS", 0, "duplicated message", "expected chunk 1 of"),
    ("bank-a", "bank-c", "PSI_OKVS_CELLS", 0, "malformed values", "expected 128"),
    (
        "bank-a",
        "bank-b",
        "PSI_OKVS_CELLS",
        1,
        "changed OKVS key",
        "changed the OKVS key in chunk 1",
    ),
    ("bank-b", "bank-a", "PSI_VOLE_CORRECTIONS", 0, "duplicated message", "segment 0 again"),
    ("bank-c", "bank-a", "PSI_VOLE_CORRECTIONS", 0, "level sums a level short", "expected ("),
    ("bank-c", "bank-a", "PSI_HOST_ITEMS", 0, "a tag short", "expected 96"),
    ("bank-b", "bank-a", "PSI_HOST_ITEMS", 0, "truncated frame", "invalid message from 'bank-b'"),
]
"""With the generic cases on ``PsiOkvsCells`` (``TARGETS``: truncated, one cell short,
for a later batch, replayed, ...); every other VOLE check is asserted role by role in
``tests/protocols/test_vole_hostile.py``."""


@pytest.mark.parametrize(
    ("offender", "receiver", "kind", "which", "tamper", "reason"),
    VOLE_CASES,
    ids=[f"{kind}: {tamper}" for _, _, kind, _, tamper, _ in VOLE_CASES],
)
def test_a_hostile_vole_frame_aborts_every_party_naming_the_offender(
    tmp_path: Path, offender: str, receiver: str, kind: str, which: int, tamper: str, reason: str
) -> None:
    job = load_job(make_job(tmp_path, "psi-vole", timeout=3, max_message_mb=2))
    outcomes = run_job(job, tamper=(offender, receiver, kind, VOLE_TAMPERS[tamper]), which=which)
    check_clean_abort(outcomes, offender, receiver)
    assert reason in str(outcomes[receiver]), str(outcomes[receiver])


def test_a_secure_sum_message_for_another_batch_is_refused(tmp_path: Path) -> None:
    job = load_job(make_job(tmp_path, "secure-sum", timeout=3))
    outcomes = run_job(
        job, tamper=("bank-a", "bank-b", "SUM_PUBLIC_KEY", TAMPERS["message for a later batch"])
    )
    check_clean_abort(outcomes, "bank-a", "bank-b")
    assert "round 0 batch 1" in str(outcomes["bank-b"])


def test_the_sender_of_an_oversized_frame_is_told_why(tmp_path: Path) -> None:
    job = load_job(make_job(tmp_path, "secure-sum", timeout=2, max_message_mb=1))
    outcomes = run_job(job, tamper=("bank-b", "bank-c", "SUM_PARTIAL", TAMPERS["oversized frame"]))
    check_clean_abort(outcomes, "bank-b", "bank-c")
    assert isinstance(outcomes["bank-b"], PeerAbortedError), repr(outcomes["bank-b"])


def test_non_finite_partial_scores_are_refused(tmp_path: Path) -> None:
    def nan_scores(frame: bytes, earlier: list[bytes]) -> list[bytes]:
        message = codec.decode(frame, codec.Keyring())
        scores = np.array(message.scores)  # type: ignore[attr-defined]
        scores[3] = np.nan
        return [with_field(frame, scores=scores)]

    job = load_job(make_job(tmp_path, "score"))
    outcomes = run_job(job, tamper=("bank-b", "bank-a", "LR_PARTIAL_SCORES", nan_scores))
    check_clean_abort(outcomes, "bank-b", "bank-a")


def test_a_batch_below_the_guest_width_is_refused(tmp_path: Path) -> None:
    def small_batches(frame: bytes, earlier: list[bytes]) -> list[bytes]:
        return [with_field(frame, batch_size=3)]  # the guest has 3 features + intercept

    job = load_job(make_job(tmp_path, "lr-two-party"))
    outcomes = run_job(job, tamper=("bank-a", "bank-b", "LR_SETUP", small_batches))
    check_clean_abort(outcomes, "bank-a", "bank-b")
    assert "batches of 3 rows are not larger than the guest's 4" in str(outcomes["bank-b"])


LABEL_BOUND = (
    "bank-b: batches of 20 rows break the label-information bound (SECURITY.md §11): "
    "this host's exact gradient of 1 features of 18 bits"
)


def test_a_batch_plan_that_breaks_the_label_bound_is_refused(tmp_path: Path) -> None:
    # batches of 20 rows: above the guest's width, but bank-b's gradient (1 column of
    # 18 bits) could carry more than half of a batch's label bits
    def small_batches(frame: bytes, earlier: list[bytes]) -> list[bytes]:
        return [with_field(frame, batch_size=20)]

    job = load_job(make_job(tmp_path, "lr-two-party"))
    outcomes = run_job(job, tamper=("bank-a", "bank-b", "LR_SETUP", small_batches))
    refused = outcomes["bank-b"]
    assert isinstance(refused, ProtocolError), repr(refused)
    assert LABEL_BOUND in str(refused) and "use a batch_size of at least 44" in str(refused)
    assert "\n" not in str(refused).strip()
    aborted = outcomes["bank-a"]
    assert isinstance(aborted, PeerAbortedError), repr(aborted)
    assert aborted.peer == "bank-b" and "label-information bound" in str(aborted)


def test_a_job_whose_batch_size_breaks_the_label_bound_trains_nothing(tmp_path: Path) -> None:
    # the same rule when the job itself asks for batches of 20 rows: the host refuses
    # the guest's setup, and no party writes a model
    path = make_job(tmp_path, "lr-two-party")
    path.write_text(path.read_text().replace("batch_size = 50", "batch_size = 20"))
    outcomes = run_job(load_job(path))
    assert isinstance(outcomes["bank-b"], ProtocolError), repr(outcomes["bank-b"])
    assert LABEL_BOUND in str(outcomes["bank-b"])
    assert isinstance(outcomes["bank-a"], PeerAbortedError), repr(outcomes["bank-a"])
    assert not list((tmp_path / "output").rglob("step-1-*")), "a training step wrote output"


FIELD_CASES = [
    # (protocol, offender, receiver, kind, changed fields, the receiver's reason)
    ("lr-two-party", "bank-a", "bank-b", "LR_SETUP", {"rows_digest": b""}, "sent no rows digest"),
    (
        "lr-two-party",
        "bank-a",
        "bank-b",
        "LR_SETUP",
        {"convergence": "weights"},
        "the guest's convergence is 'weights', this host's is 'loss'",
    ),
    (
        "lr-arbiter",
        "bank-a",
        "bank-c",
        "LR_SETUP",
        {"early_stopping": "auc"},
        "the guest's early_stopping is 'auc', this host's is ''",
    ),
    (
        "lr-two-party",
        "bank-b",
        "bank-a",
        "LR_HOST_SETUP",
        {"gradient_bits": 0},
        "bank-b reports gradient entries of 0 bits, expected 1 to 64",
    ),
    (
        "lr-arbiter",
        "bank-c",
        "bank-a",
        "LR_HOST_SETUP",
        {"gradient_bits": 65},
        "bank-c reports gradient entries of 65 bits, expected 1 to 64",
    ),
    (
        "lr-two-party",
        "bank-b",
        "bank-a",
        "LR_HOST_SETUP",
        {"features": 2, "gradient_bits": 30},
        "batches of 60 rows break the label-information bound",
    ),
    (
        "lr-two-party",
        "bank-b",
        "bank-a",
        "LR_EPOCH_END",
        {"weight_change": 0.25},
        "bank-b sent a weight-change norm, which is sent only when training converges on weights",
    ),
    (
        "lr-arbiter",
        "bank-b",
        "bank-a",
        "LR_EPOCH_END",
        {"validation_scores": np.zeros(3)},
        "bank-b's epoch summary is malformed",
    ),
    ("score", "bank-a", "bank-b", "LR_SCORE_REQUEST", {"rows_digest": b""}, "no rows digest"),
]


@pytest.mark.parametrize(
    ("protocol", "offender", "receiver", "kind", "changes", "reason"),
    FIELD_CASES,
    ids=[f"{p}: {k} {sorted(c)}" for p, _, _, k, c, _ in FIELD_CASES],
)
def test_a_hostile_hetero_lr_field_aborts_every_party_naming_the_offender(
    tmp_path: Path,
    protocol: str,
    offender: str,
    receiver: str,
    kind: str,
    changes: dict[str, Any],
    reason: str,
) -> None:
    def change(frame: bytes, earlier: list[bytes]) -> list[bytes]:
        return [with_field(frame, **changes)]

    job = load_job(make_job(tmp_path, protocol, timeout=3))
    outcomes = run_job(job, tamper=(offender, receiver, kind, change))
    check_clean_abort(outcomes, offender, receiver)
    assert reason in str(outcomes[receiver]), str(outcomes[receiver])


@pytest.mark.parametrize(
    ("protocol", "weak", "strict", "match"),
    [
        ("secure-sum", ("bank-a",), ("bank-b", "bank-c"), "invalid public key"),
        ("psi-rsa", ("bank-b", "bank-c"), ("bank-a",), "at least 2048 bits are required"),
        ("lr-arbiter", ("arbiter",), ("bank-a", "bank-b", "bank-c"), "invalid public key"),
    ],
)
def test_a_key_below_the_minimum_length_is_refused(
    tmp_path: Path, protocol: str, weak: tuple[str, ...], strict: tuple[str, ...], match: str
) -> None:
    # the jobs of the weak parties allow 1024-bit keys, the others' jobs do not
    job = load_job(make_job(tmp_path, protocol))
    strict_job = dataclasses.replace(job, allow_weak_keys=False)
    outcomes = run_job(job, configs=dict.fromkeys(strict, strict_job))
    refusers = [name for name in strict if not isinstance(outcomes[name], PeerAbortedError)]
    assert refusers, outcomes
    for name in refusers:
        assert isinstance(outcomes[name], CodecError | ProtocolError), repr(outcomes[name])
        assert match in str(outcomes[name]), str(outcomes[name])
        assert any(party in str(outcomes[name]) for party in weak), str(outcomes[name])
    assert all(isinstance(o, VflError | ProtocolError) for o in outcomes.values()), outcomes


# ---------------------------------------------------------------------------------------
# a real `vfl run` process over mutual TLS, and a hostile peer in this process
# ---------------------------------------------------------------------------------------
def finished(process: subprocess.Popen[str], seconds: float) -> tuple[int, str, float]:
    """Wait for ``process``; its status, stderr and how long it took (fails on a hang)."""
    started = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the party did not stop within {seconds:g} s: it hangs")
    return process.returncode, stderr, time.monotonic() - started


def check_one_line_error(status: int, stderr: str, *words: str) -> str:
    """Exit status 1, no traceback, last line ``vfl: error: ...`` with every word."""
    assert status == 1, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("vfl: error: "), last
    for word in words:
        assert word in last, last
    return last


class FakePeer:
    """``party`` of a job played by this test over mutual TLS, sending what it likes."""

    def __init__(self, job: JobConfig, party: str, max_message_bytes: int = 2**24) -> None:
        me = job.party(party)
        assert me.certificate is not None and me.private_key is not None and job.ca
        self.transport = TlsTransport(
            party,
            listen=(me.host, me.port),
            peers={p.name: (p.host, p.port) for p in job.peers_of(party)},
            certificate=me.certificate,
            private_key=me.private_key,
            ca=job.ca,
            max_message_bytes=max_message_bytes,  # above the victim's: it must refuse
        )
        self.party = party
        self.peers = [p.name for p in job.peers_of(party)]

    def __enter__(self) -> FakePeer:
        self.transport.connect(self.peers, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.transport.close()

    def send(self, peer: str, frame: bytes) -> None:
        self.transport.send(peer, frame)

    def send_raw(self, peer: str, data: bytes) -> None:
        """Bytes straight onto the TLS stream, past the framing."""
        self.transport._outbound[peer].connection.sock.sendall(data)

    def abort_from(self, peer: str, seconds: float = 10.0) -> Abort | None:
        """The abort ``peer`` sends (None if it sends none before leaving)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                sender, frame = self.transport.receive(left)
            except VflError:
                return None
            message = codec.decode(frame, codec.Keyring(), allow_weak_keys=True)
            if sender == peer and isinstance(message, Abort):
                return message
        return None


def psi_setup_frame(**changes: Any) -> bytes:
    """A PSI setup from bank-a to bank-b of the ``psi-two-party`` job (step 0)."""
    fields: dict[str, Any] = {
        "job_id": "hostile-psi-two-party#0",
        "sender": "bank-a",
        "receiver": "bank-b",
        "method": "ecdh",
        "output": "both",
        "salt": bytes(32),
        "size": ROWS,
        "chunk_size": 8,
    }
    return codec.encode(PsiSetup(**(fields | changes)))


WIRE_ATTACKS: dict[str, tuple[Callable[[FakePeer], None], tuple[str, ...], bool]] = {
    # name: (what the fake bank-a does, words of bank-b's last line, whether it aborts to us)
    "garbage bytes": (
        lambda peer: peer.send("bank-b", os.urandom(64)),
        ("invalid message from 'bank-a'", "wrong magic"),
        True,
    ),
    "wrong protocol version": (
        lambda peer: peer.send(
            "bank-b",
            (frame := psi_setup_frame())[:VERSION_OFFSET]
            + (PROTOCOL_VERSION + 1).to_bytes(2, "big")
            + frame[VERSION_OFFSET + 2 :],
        ),
        ("invalid message from 'bank-a'", f"protocol version {PROTOCOL_VERSION + 1}"),
        True,
    ),
    "oversized message": (
        lambda peer: peer.send("bank-b", bytes(2**20 + 1)),
        ("'bank-a'", "more than 1048576 bytes"),
        False,
    ),
    "broken framing": (
        lambda peer: peer.send_raw("bank-b", b"\x09\x00\x00\x00\x04abcd"),
        ("'bank-a'", "unknown frame type 9"),
        False,
    ),
    "another job configuration": (
        lambda peer: peer.send("bank-b", psi_setup_frame(method="rsa")),
        ("bank-a", "method 'rsa'"),
        True,
    ),
    "a message of another job": (
        lambda peer: peer.send("bank-b", psi_setup_frame(job_id="other-job#0")),
        ("'bank-a'", "another job"),
        True,
    ),
}


@pytest.mark.parametrize("attack", sorted(WIRE_ATTACKS))
def test_a_real_party_refuses_hostile_wire_input_with_one_line(tmp_path: Path, attack: str) -> None:
    act, words, aborts = WIRE_ATTACKS[attack]
    job_path = make_job(tmp_path, "psi-two-party", timeout=10, max_message_mb=1, certificates=True)
    job = load_job(job_path)
    victim = start_party(job_path, "bank-b")
    try:
        with FakePeer(job, "bank-a") as peer:
            act(peer)
            abort = peer.abort_from("bank-b") if aborts else None
            status, stderr, seconds = finished(victim, job.timeout + 20)
    finally:
        if victim.poll() is None:
            victim.kill()
    check_one_line_error(status, stderr, *words)
    assert seconds < job.timeout + 5
    if aborts:
        assert abort is not None and "bank-a" in abort.reason, abort


def test_bad_cells_in_one_partys_csv_stop_both_real_processes(tmp_path: Path) -> None:
    job_path = make_job(
        tmp_path, "psi-two-party", timeout=10, cells={"bank-b": "4,b1,abc"}, certificates=True
    )
    processes = {name: start_party(job_path, name) for name in ("bank-a", "bank-b")}
    outcomes = {name: finished(process, 60) for name, process in processes.items()}
    check_one_line_error(*outcomes["bank-b"][:2], "bank-b.csv:6", "'b1'", "'abc'", "not a number")
    check_one_line_error(*outcomes["bank-a"][:2], "'bank-b' aborted", "bank-b.csv:6")
    assert not (tmp_path / "output" / "bank-a" / "step-0-psi.csv").exists()


def test_a_session_that_cannot_connect_closes_its_transport() -> None:
    network = MemoryNetwork()
    transport = network.transport("bank-a")
    session = make_session(transport, "bank-a", "job", ["bank-b"])  # bank-b never starts
    with pytest.raises(VflError, match="could not reach 'bank-b'"), session:
        pass
    assert transport.closed


def make_session(transport: Transport, party: str, job_id: str, peers: list[str]) -> Any:
    from vfl.runtime.runner import RunSettings, Session

    return Session(
        transport,
        party,
        job_id,
        peers,
        RunSettings(timeout=1, connect_timeout=0.2),
        show_progress=False,
    )


# ---------------------------------------------------------------------------------------
# data files: missing, non-numeric, non-finite and huge cells; files that are not text
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("", "column 'b1' holds '', not a number"),
        ("abc", "column 'b1' holds 'abc', not a number"),
        ("1,5", "5 cells, expected 4"),
        ("nan", "column 'b1' holds a non-finite value 'nan'"),
        ("-inf", "column 'b1' holds a non-finite value '-inf'"),
        ("1e309", "column 'b1' holds a non-finite value '1e309'"),
        ("0x10", "column 'b1' holds '0x10', not a number"),
        ("a\x00b", "column 'b1' holds 'a\\x00b', not a number"),
    ],
)
def test_a_bad_cell_fails_the_job_naming_file_line_and_column(
    tmp_path: Path, cell: str, message: str
) -> None:
    job = load_job(make_job(tmp_path, "psi-two-party", cells={"bank-b": f"4,b1,{cell}"}))
    with pytest.raises(DataError) as raised:
        simulate_job(job)
    assert f"bank-b.csv:6: {message}" in str(raised.value), str(raised.value)
    assert not (tmp_path / "output").exists() or not list((tmp_path / "output").rglob("*.csv"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,x\nc1,1\nc2,\xff\xfe\n", "is not UTF-8 text"),
        (b"id,x,x\nc1,1,2\n", "column(s) ['x'] appear more than once"),
        (b"id,x\nc1," + b"9" * 200_000 + b"\n", "malformed CSV"),
        (b"", "the file is empty"),
    ],
)
def test_files_that_are_not_a_clean_csv_are_data_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "party.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"party\.csv") as raised:
        read_party_csv(path)
    assert message in str(raised.value)


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffid,x\nc1,1.5\n".encode())
    table = read_party_csv(path)
    assert table.ids == ["c1"] and table.feature_names == ["x"]


HUGE = [
    ("1e300", True),  # standardising it overflows
    ("1e300", False),  # beyond the public feature bound 2**30 ...
    ("-1e308", False),  # ... which keeps products within the 1024-bit plaintext space
    ("1e15", False),  # ... and partial scores within their public bound
    ("2e9", False),  # just beyond 2**30
]


def _training_job(tmp_path: Path, value: str, standardize: bool) -> JobConfig:
    path = make_job(tmp_path, "lr-two-party", cells={"bank-a": f"5,a2,{value}"})
    text = path.read_text().replace(
        "max_iter = 1", f"max_iter = 1\nstandardize = {str(standardize).lower()}"
    )
    path.write_text(text)
    return load_job(path)


def test_a_large_standardised_feature_trains(tmp_path: Path) -> None:
    simulate_job(_training_job(tmp_path, "1e15", True))


@pytest.mark.parametrize(("value", "standardize"), HUGE)
def test_a_huge_feature_is_a_data_error_before_any_training_message(
    tmp_path: Path, value: str, standardize: bool
) -> None:
    sent: list[tuple[str, str, int]] = []
    job = _training_job(tmp_path, value, standardize)
    with pytest.raises(DataError) as raised:
        simulate_job(
            job, recorder=lambda entry: sent.append((entry.party, entry.direction, entry.step))
        )
    text = str(raised.value)
    assert "bank-a" in text and "'a2'" in text, text
    # bank-a refused before sending anything of the training step (bank-b may have)
    assert ("bank-a", "sent", 1) not in sent, "bank-a had started the training step"


# ---------------------------------------------------------------------------------------
# key and model files
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "[" * 30_000 + "]" * 30_000,  # under the 64 KiB limit on key JSON
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ],
)
def test_deeply_nested_key_json_is_refused(text: str) -> None:
    for loader in (public_key_from_json, private_key_from_json):
        with pytest.raises(DeserializationError, match=r"nested too deeply|must be an object"):
            loader(text)


def test_key_json_fields_must_be_exact() -> None:
    public_key, _ = generate_paillier_keypair(1024, allow_weak_key=True)
    document = json.loads(public_key_to_json(public_key))
    assert public_key_from_json(document, allow_weak_key=True) == public_key
    for changes, match in [
        ({"version": 1.0}, "unsupported key version"),
        ({"version": True}, "unsupported key version"),
        ({"n": "0x" + document["n"]}, "not valid hex"),
        ({"n": " " + document["n"]}, "not valid hex"),
        ({"n": document["n"][:4] + "_" + document["n"][4:]}, "not valid hex"),
        ({"n": "-" + document["n"]}, "not valid hex"),
        ({"extra": 1}, "unknown key fields"),
    ]:
        with pytest.raises(DeserializationError, match=match):
            public_key_from_json({**document, **changes}, allow_weak_key=True)
    with pytest.raises(DeserializationError, match="must be an object"):
        public_key_from_json([document])  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [b"\x80{}", b"[" * 100_000 + b"]" * 100_000])
def test_a_corrupt_model_file_is_a_data_error(tmp_path: Path, content: bytes) -> None:
    from vfl.tables.models import PartyModel

    path = tmp_path / "model.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"model\.json"):
        PartyModel.load(path)


# ---------------------------------------------------------------------------------------
# the codec: every kind, a wrong version, a malformed ciphertext
# ---------------------------------------------------------------------------------------
def _sample_frames() -> dict[str, list[bytes]]:
    from tests.protocols.test_fuzz_roles import sample_frames

    return sample_frames()


def test_every_kind_of_frame_with_another_protocol_version_is_refused() -> None:
    for frames in _sample_frames().values():
        for version in (0, PROTOCOL_VERSION + 1, 0xFFFF):
            frame = frames[0]
            patched = (
                frame[:VERSION_OFFSET] + version.to_bytes(2, "big") + frame[VERSION_OFFSET + 2 :]
            )
            with pytest.raises(CodecError, match=f"peer speaks protocol version {version},"):
                codec.decode(patched, codec.Keyring(), allow_weak_keys=True)
    assert len(_sample_frames()) == len(MessageKind)


def test_every_ciphertext_vector_field_refuses_out_of_range_ciphertexts() -> None:
    from tests.protocols.test_fuzz_roles import _keyring

    checked = set()
    for kind, frames in _sample_frames().items():
        for frame in frames:
            if not vector_fields(frame):
                continue
            codec.decode(frame, _keyring(), allow_weak_keys=True)  # the honest frame is fine
            with pytest.raises(CodecError, match=r"outside \(0, n\*\*2\)"):
                codec.decode(with_bad_ciphertext(frame), _keyring(), allow_weak_keys=True)
            with pytest.raises(CodecError, match="unknown key"):
                codec.decode(with_unknown_key(frame), _keyring(), allow_weak_keys=True)
            checked.add(kind)
    assert checked == {
        "SUM_PARTIAL",
        "LR_FORWARD",
        "LR_RESIDUAL",
        "LR_MASKED",
        "LR_CROSS",
        "LR_SHARE_WEIGHTS",
        "LR_SHARE_SEALED",
        "LR_SHARE_POWERS",
        "LR_SHARE_RESIDUAL",
        "BIN_LABELS",
        "BIN_SUMS",
    }


# ---------------------------------------------------------------------------------------
# secure-sum and PSI roles: duplicated, replayed, early and forged messages
# ---------------------------------------------------------------------------------------
def _sum_run() -> tuple[SumKeyOwner, SumContributor, SumPublicKey, SumPartial]:
    owner = SumKeyOwner(
        "guest",
        "j",
        contributors=["host"],
        values=[1.0, 2.0],
        max_abs=10.0,
        key_length=1024,
        allow_weak_key=True,
    )
    host = SumContributor(
        "host",
        "j",
        key_owner="guest",
        ring=["host"],
        values=[3.0, 4.0],
        max_abs=10.0,
        min_key_bits=1024,
    )
    (key,) = owner.start()
    (partial,) = host.receive(key)
    return owner, host, key, partial


def test_secure_sum_roles_refuse_duplicates_replays_and_forgeries() -> None:
    owner, host, key, partial = _sum_run()
    with pytest.raises(UnexpectedMessageError, match="already holding the key"):
        host.receive(key)
    with pytest.raises(ProtocolError, match="round 0 batch 1"):
        owner.receive(dataclasses.replace(partial, batch=1))
    with pytest.raises(ProtocolError, match="round 3 batch 0"):
        host.receive(dataclasses.replace(key, round=3))
    # a last contributor who sends the encryption of a value beyond max_abs
    forged = owner.public_key.encrypt_vector([1e6, 0.0])
    with pytest.raises(ProtocolError, match="host sent a sum beyond the public bound"):
        owner.receive(dataclasses.replace(partial, partial=forged))
    # ... or ciphertexts of plaintexts in the overflow band
    n = owner.public_key.n
    band = [pow(1 + n, n // 2, n * n)] * 2
    from crypto.paillier import EncryptedVector

    overflow = EncryptedVector(owner.public_key, band, partial.partial.exponent, 1)
    with pytest.raises(ProtocolError, match="does not decrypt to values within"):
        owner.receive(dataclasses.replace(partial, partial=overflow))
    (result, *_) = owner.receive(partial)
    assert isinstance(result, SumResult)
    with pytest.raises(UnexpectedMessageError):
        owner.receive(partial)  # replayed after the end
    host.receive(result)
    with pytest.raises(UnexpectedMessageError, match="finished"):
        host.receive(result)


def _psi_until(method: str, kind: type) -> tuple[dict[str, Any], list[Any], Any]:
    """A guest and a host run in FIFO order up to and including the first ``kind``;
    the roles, the messages delivered before it, and that message."""
    settings = PsiSettings(
        method=method,  # type: ignore[arg-type]
        chunk_size=2,
        rsa_key_length=1024,
        allow_weak_key=True,
    )
    roles: dict[str, Any] = {
        "guest": PsiGuest("guest", "j", hosts=["host"], ids=[b"a", b"b", b"c"], settings=settings),
        "host": PsiHost("host", "j", guest="guest", ids=[b"b", b"c", b"d"], settings=settings),
    }
    queue = [*roles["host"].start(), *roles["guest"].start()]
    delivered: list[Any] = []
    while True:
        if not queue:
            queue += next(r for r in roles.values() if r.has_work).work()
            continue
        message = queue.pop(0)
        queue += roles[message.receiver].receive(message)
        if isinstance(message, kind):
            return roles, delivered, message
        delivered.append(message)


@pytest.mark.parametrize("method", ["ecdh", "rsa"])
@pytest.mark.parametrize("kind", [PsiGuestItems, PsiProcessedItems, PsiHostItems])
def test_psi_roles_refuse_duplicated_replayed_and_early_chunks(method: str, kind: type) -> None:
    roles, earlier, message = _psi_until(method, kind)
    receiver = roles[message.receiver]
    with pytest.raises(ProtocolError, match=r"again|not awaited"):
        receiver.receive(message)  # duplicated
    with pytest.raises(ProtocolError, match=r"out of range|not awaited"):
        receiver.receive(dataclasses.replace(message, batch=7))  # early: a chunk far ahead
    setup = next(m for m in earlier if m.receiver == message.receiver)
    with pytest.raises(UnexpectedMessageError, match="already set up"):
        receiver.receive(setup)  # replayed


def test_rsa_signatures_under_another_key_are_refused() -> None:
    settings = PsiSettings(method="rsa", chunk_size=4, rsa_key_length=1024, allow_weak_key=True)
    guest = PsiGuest("guest", "j", hosts=["host"], ids=[b"a", b"b"], settings=settings)
    host = PsiHost("host", "j", guest="guest", ids=[b"b"], settings=settings)
    (host_setup,) = host.start()

    def modulus(role: PsiHost) -> int:
        return role._cipher.private_key.public_key.n  # type: ignore[union-attr]

    while True:  # a larger modulus, so that it can sign the items blinded under host's
        impostor = PsiHost("host", "j", guest="guest", ids=[b"b"], settings=settings)
        impostor.start()
        if modulus(impostor) > modulus(host):
            break
    (setup,) = guest.start()
    host.receive(setup)
    impostor.receive(setup)
    guest.receive(host_setup)
    (items,) = guest.work()
    impostor.receive(items)
    (signed,) = impostor.work()  # signed with the impostor's key, not host's
    with pytest.raises(ProtocolError, match="'host' sent bad PSI data"):
        guest.receive(signed)


# ---------------------------------------------------------------------------------------
# KKRT-PSI roles: base-OT points, OT-extension blocks, PRF values, positions, setups
# ---------------------------------------------------------------------------------------
KKRT_GUEST_IDS = [f"customer-{i:04d}".encode() for i in range(150)]  # 384 bins: 3 blocks
KKRT_HOST_IDS = [f"customer-{i:04d}".encode() for i in range(50, 250)]  # 2 chunks, 100 common
KKRT_CHUNK = 128
P25519 = 2**255 - 19


def _kkrt_roles(output: str = "both") -> dict[str, Any]:
    settings = PsiSettings(method="kkrt", output=output, chunk_size=KKRT_CHUNK)  # type: ignore[arg-type]
    return {
        "guest": KkrtGuest("guest", "j", hosts=["host"], ids=KKRT_GUEST_IDS, settings=settings),
        "host": KkrtHost("host", "j", guest="guest", ids=KKRT_HOST_IDS, settings=settings),
    }


def _kkrt_before(kind: type, index: int = 0, output: str = "both") -> tuple[dict[str, Any], Any]:
    """A guest and a host run in FIFO order (the host's messages first) up to, not
    including, the ``index``-th message of ``kind``; the roles and that message."""
    roles = _kkrt_roles(output)
    queue = [*roles["host"].start(), *roles["guest"].start()]
    seen = 0
    while True:
        if not queue:
            working = [role for role in roles.values() if role.has_work]
            assert working, f"the run ended before {kind.__name__} #{index}"
            queue += working[0].work()
            continue
        if isinstance(queue[0], kind):
            if seen == index:
                return roles, queue[0]
            seen += 1
        message = queue.pop(0)
        queue += roles[message.receiver].receive(message)


def _refused(role: Any, message: Any, *fragments: str, error: type = ProtocolError) -> None:
    """``role`` refuses ``message`` with ``error`` whose one-line text has every fragment."""
    with pytest.raises(error) as caught:
        role.receive(message)
    text = str(caught.value)
    assert "\n" not in text.strip()
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def _point_at(blob: bytes, index: int, point: bytes) -> bytes:
    return blob[: 32 * index] + point + blob[32 * (index + 1) :]


def _twist_point() -> bytes:
    """The smallest u-coordinate on the twist of curve25519 (refused as 'on the twist')."""
    for u in range(2, 100):
        point = u.to_bytes(32, "little")
        try:
            validate_points(point)
        except InvalidPointError as error:
            if "twist" in str(error):
                return point
    raise AssertionError("no twist point below 100")


def _top_bit(point: bytes) -> bytes:
    return point[:31] + bytes([point[31] | 0x80])


BAD_POINTS: dict[str, tuple[Callable[[bytes], bytes], tuple[str, ...]]] = {
    # name: (bad point from a good one, fragments of the refusal)
    "all zero (low order)": (lambda p: bytes(32), ("low-order",)),
    "u = 1 (low order)": (lambda p: (1).to_bytes(32, "little"), ("low-order",)),
    "top bit set": (_top_bit, ("top bit is set",)),
    "u >= p": (lambda p: (P25519 + 3).to_bytes(32, "little"), ("u >= 2**255 - 19",)),
    "on the twist": (lambda p: _twist_point(), ("twist",)),
}


@pytest.mark.parametrize("name", sorted(BAD_POINTS))
def test_kkrt_guest_refuses_invalid_base_ot_points(name: str) -> None:
    make, fragments = BAD_POINTS[name]
    roles, message = _kkrt_before(PsiOtReceiverPoints)
    bad = _point_at(message.points, 5, make(message.points[160:192]))
    _refused(
        roles["guest"],
        dataclasses.replace(message, points=bad),
        "guest: 'host' sent bad base-OT points",
        "invalid point at index 5",
        *fragments,
    )


@pytest.mark.parametrize(
    ("change", "size"),
    [
        (lambda p: p[:-32], 32736),
        (lambda p: p[:-1], 32767),
        (lambda p: p + p, 65536),
        (lambda p: b"", 0),
    ],
    ids=["a point short", "a byte short", "twice as many", "none"],
)
def test_kkrt_guest_refuses_base_ot_points_of_the_wrong_length(
    change: Callable[[bytes], bytes], size: int
) -> None:
    roles, message = _kkrt_before(PsiOtReceiverPoints)
    _refused(
        roles["guest"],
        dataclasses.replace(message, points=change(message.points)),
        "'host' sent bad base-OT points",
        f"{size} bytes of OT points, expected 32768",
    )


def test_kkrt_guest_refuses_an_identical_point_pair_and_a_second_set_of_points() -> None:
    roles, message = _kkrt_before(PsiOtReceiverPoints)
    points = message.points
    same = _point_at(points, 7, points[6 * 32 : 7 * 32])  # pair 3: (P6, P6)
    _refused(
        roles["guest"],
        dataclasses.replace(message, points=same),
        "'host' sent bad base-OT points",
        "the same point twice for OT 3",
    )
    roles["guest"].receive(message)
    _refused(
        roles["guest"],
        message,
        "did not expect PSI_OT_RECEIVER from host while base OTs already done",
        error=UnexpectedMessageError,
    )


def test_kkrt_guest_refuses_a_bad_host_setup() -> None:
    roles, message = _kkrt_before(PsiHostSetup)
    guest = roles["guest"]
    _refused(
        guest,
        dataclasses.replace(message, rsa_public_key=(2**1023 + 1155, 65537)),
        "'host' sent an RSA key for KKRT-PSI",
    )
    _refused(guest, dataclasses.replace(message, size=2**33), "'host' announced 8589934592 ids")
    guest.receive(message)
    _refused(guest, message, "while already set up", error=UnexpectedMessageError)


def test_kkrt_guest_refuses_host_values_of_the_wrong_size_repeated_or_out_of_range() -> None:
    roles, message = _kkrt_before(PsiHostItems)
    guest, items = roles["guest"], message.items
    assert len(items) == 48 * KKRT_CHUNK
    for wrong in (items[:-1], items + items[:48], b""):
        _refused(
            guest,
            dataclasses.replace(message, items=wrong),
            f"'host' sent {len(wrong)} bytes for its chunk 0, expected 6144",
        )
    last = 48 * (len(KKRT_HOST_IDS) - KKRT_CHUNK)
    _refused(
        guest,
        dataclasses.replace(message, batch=1),
        f"'host' sent 6144 bytes for its chunk 1, expected {last}",
    )
    for batch in (2, 2**32 - 1):  # two chunks: 0 and 1
        _refused(
            guest,
            dataclasses.replace(message, batch=batch),
            f"'host' sent host chunk {batch} again or out of range",
        )
    guest.receive(message)
    _refused(guest, message, "'host' sent host chunk 0 again or out of range")


def test_kkrt_guest_refuses_host_values_before_the_host_setup() -> None:
    roles, _ = _kkrt_before(PsiHostSetup)
    items = PsiHostItems(job_id="j", sender="host", receiver="guest", items=bytes(48 * KKRT_CHUNK))
    _refused(
        roles["guest"],
        items,
        "did not expect PSI_HOST_ITEMS from host while waiting for the host's setup",
        error=UnexpectedMessageError,
    )


def _kkrt_messages(sender: str, receiver: str) -> list[Any]:
    """One message of every PSI kind, from ``sender`` to ``receiver`` (job "j")."""
    header = {"job_id": "j", "sender": sender, "receiver": receiver}
    return [
        PsiSetup(**header, method="kkrt", output="both", salt=bytes(32), size=3, chunk_size=128),
        PsiHostSetup(**header, size=3, rsa_public_key=()),
        PsiGuestItems(**header, items=bytes(32)),
        PsiProcessedItems(**header, items=bytes(32)),
        PsiHostItems(**header, items=bytes(48)),
        PsiOtSenderPoint(**header, point=bytes(32)),
        PsiOtReceiverPoints(**header, points=bytes(32768)),
        PsiOtColumns(**header, columns=bytes(8192)),
        PsiPositions(**header, positions=np.array([0])),
        PsiDone(**header),
        SumResult(**header, totals=(1.0,), contributors=2),
    ]


def test_kkrt_guest_refuses_messages_it_never_expects() -> None:
    roles, _ = _kkrt_before(PsiHostItems)
    guest = roles["guest"]
    expected = (PsiHostSetup, PsiOtReceiverPoints, PsiHostItems)
    for message in _kkrt_messages("host", "guest"):
        if not isinstance(message, expected):
            _refused(
                guest,
                message,
                f"did not expect {message.kind.name} from host while running KKRT-PSI",
                error=UnexpectedMessageError,
            )
        _refused(
            guest,
            dataclasses.replace(message, sender="mallory"),
            "'mallory' is not a host of this PSI",
        )
    fresh = _kkrt_roles()["guest"]
    _refused(
        fresh,
        _kkrt_messages("host", "guest")[1],
        "while not started",
        error=UnexpectedMessageError,
    )


def test_kkrt_host_refuses_a_setup_of_another_job() -> None:
    roles, setup = _kkrt_before(PsiSetup)
    host = roles["host"]
    for changes, fragment in (
        ({"method": "ecdh"}, "asked for PSI method 'ecdh' but this party's job says 'kkrt'"),
        ({"method": "rsa"}, "asked for PSI method 'rsa'"),
        ({"output": "guest"}, "asked for PSI output 'guest' but this party's job says 'both'"),
        ({"output": "cardinality"}, "asked for PSI output 'cardinality'"),
        ({"chunk_size": 64}, "asked for PSI chunk_size 64 but this party's job says 128"),
        ({"salt": bytes(8)}, "sent a 8-byte salt"),
        ({"salt": bytes(65)}, "sent a 65-byte salt"),
        ({"size": 2**33}, "announced 8589934592 ids"),
    ):
        _refused(host, dataclasses.replace(setup, **changes), "host: the guest 'guest'", fragment)
    host.receive(setup)
    _refused(host, setup, "while already set up", error=UnexpectedMessageError)


@pytest.mark.parametrize("name", sorted(BAD_POINTS))
def test_kkrt_host_refuses_an_invalid_sender_point(name: str) -> None:
    make, fragments = BAD_POINTS[name]
    roles, message = _kkrt_before(PsiOtSenderPoint)
    _refused(
        roles["host"],
        dataclasses.replace(message, point=make(message.point)),
        "host: the guest 'guest' sent a bad base-OT point",
        "invalid point at index 0",
        *fragments,
    )


def test_kkrt_host_refuses_a_sender_point_of_the_wrong_length_sender_or_time() -> None:
    roles, message = _kkrt_before(PsiOtSenderPoint)
    host = roles["host"]
    for wrong in (message.point[:31], message.point + b"\x00", b"", message.point * 2):
        _refused(
            host,
            dataclasses.replace(message, point=wrong),
            "the guest 'guest' sent a bad base-OT point",
            f"the sender sent {len(wrong)} bytes for its OT point, expected 32",
        )
    _refused(host, dataclasses.replace(message, sender="mallory"), "'mallory' is not the PSI guest")
    early = _kkrt_roles()["host"]  # started, no setup yet
    early.start()
    _refused(
        early,
        message,
        "did not expect PSI_OT_SENDER from guest while not expecting a base-OT point",
        error=UnexpectedMessageError,
    )
    host.receive(message)
    _refused(host, message, "while not expecting a base-OT point", error=UnexpectedMessageError)


def test_kkrt_a_well_formed_point_of_someone_else_only_spoils_the_result() -> None:
    """The host cannot tell the guest's point from another valid one (semi-honest): its
    seeds then differ from the guest's and no value matches; nothing crashes or leaks."""
    roles, message = _kkrt_before(PsiOtSenderPoint)
    other = RandomOtSender(1).point
    queue = roles["host"].receive(dataclasses.replace(message, point=other))
    while queue or any(role.has_work for role in roles.values()):
        if not queue:
            queue += next(role for role in roles.values() if role.has_work).work()
            continue
        sent = queue.pop(0)
        queue += roles[sent.receiver].receive(sent)
    assert roles["guest"].result.size == 0 and roles["host"].result.size == 0


def test_kkrt_host_refuses_columns_before_setup_or_sender_point() -> None:
    _, block = _kkrt_before(PsiOtColumns)
    early = _kkrt_roles()["host"]
    early.start()
    waiting = "did not expect PSI_OT_COLUMNS from guest while waiting for the guest's setup"
    _refused(early, block, waiting, error=UnexpectedMessageError)
    roles, _ = _kkrt_before(PsiOtSenderPoint)  # the setup is in, the point is not
    _refused(roles["host"], block, waiting, "and base-OT point", error=UnexpectedMessageError)


def test_kkrt_host_refuses_columns_out_of_order_replayed_out_of_range_or_of_the_wrong_size() -> (
    None
):
    roles, block = _kkrt_before(PsiOtColumns)
    host = roles["host"]
    assert len(block.columns) == 64 * 128
    for batch in (1, 2, 3, 2**32 - 1):  # ahead of its turn, or beyond the 3 blocks
        _refused(
            host,
            dataclasses.replace(block, batch=batch),
            f"the guest 'guest' sent block {batch}, expected block 0 of 3",
        )
    for wrong in (block.columns[:-1], block.columns[:-64], block.columns * 2, b""):
        _refused(
            host,
            dataclasses.replace(block, columns=wrong),
            f"the guest 'guest' sent {len(wrong)} bytes in block 0, expected 8192",
        )
    host.receive(block)
    _refused(host, block, "sent block 0, expected block 1 of 3 (again, out of order")
    roles, last = _kkrt_before(PsiOtColumns, index=2)
    roles["host"].receive(last)
    _refused(roles["host"], last, "sent block 2, expected block 3 of 3", "out of range")


def test_kkrt_host_refuses_positions_before_every_block() -> None:
    roles, _ = _kkrt_before(PsiOtColumns, index=1)  # block 0 is in, 1 and 2 are not
    positions = PsiPositions(job_id="j", sender="guest", receiver="host", positions=np.array([0]))
    _refused(
        roles["host"],
        positions,
        "did not expect PSI_POSITIONS from guest while still exchanging values",
        error=UnexpectedMessageError,
    )
    done = PsiDone(job_id="j", sender="guest", receiver="host")
    _refused(roles["host"], done, "did not expect PSI_DONE", error=UnexpectedMessageError)


@pytest.mark.parametrize(
    ("positions", "fragment"),
    [
        (np.array([0, 200]), "sent a position out of range"),
        (np.array([-1]), "sent a position out of range"),
        (np.array([3, 5, 3]), "sent a position twice"),
        (np.arange(151), "sent 151 positions for at most 150 common ids"),
        (np.array([0.0, 1.0]), "sent positions that are not integers"),
        (np.array([[0, 1]]), "sent positions that are not integers"),
    ],
    ids=["beyond", "negative", "twice", "too many", "floats", "2-d"],
)
def test_kkrt_host_refuses_bad_positions(positions: np.ndarray, fragment: str) -> None:
    roles, message = _kkrt_before(PsiPositions)
    assert len(message.positions) == 100
    _refused(
        roles["host"],
        dataclasses.replace(message, positions=positions),
        f"host: the guest 'guest' {fragment}",
    )


@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_host_refuses_the_final_message_of_the_other_output(output: str) -> None:
    final = PsiPositions if output == "both" else PsiDone
    roles, message = _kkrt_before(final, output=output)
    other = (
        PsiDone(job_id="j", sender="guest", receiver="host")
        if output == "both"
        else PsiPositions(job_id="j", sender="guest", receiver="host", positions=np.array([1]))
    )
    _refused(
        roles["host"], other, f"did not expect {other.kind.name}", error=UnexpectedMessageError
    )
    roles["host"].receive(message)
    _refused(roles["host"], message, "while finished", error=UnexpectedMessageError)


def test_kkrt_host_refuses_messages_it_never_expects() -> None:
    roles, _ = _kkrt_before(PsiOtColumns)
    host = roles["host"]
    expected = (PsiSetup, PsiOtSenderPoint, PsiOtColumns, PsiPositions, PsiDone)
    for message in _kkrt_messages("guest", "host"):
        if not isinstance(message, expected):
            _refused(
                host,
                message,
                f"did not expect {message.kind.name} from guest while running KKRT-PSI",
                error=UnexpectedMessageError,
            )
        _refused(
            host, dataclasses.replace(message, sender="host-2"), "'host-2' is not the PSI guest"
        )


def _first_field_tag(frame: bytes) -> int:
    """Offset of the first payload field's tag in a codec frame."""
    offset = KIND_OFFSET + 2
    for _ in range(3):  # job id, sender, receiver
        (size,) = struct.unpack_from(">H", frame, offset)
        offset += 2 + size
    return offset + 10  # round, batch, field count


@pytest.mark.parametrize("kind", ["PSI_OT_SENDER", "PSI_OT_RECEIVER", "PSI_OT_COLUMNS"])
def test_kkrt_frames_cut_extended_or_mistyped_are_codec_errors(kind: str) -> None:
    frame = _sample_frames()[kind][0]
    field = {"PSI_OT_SENDER": "point", "PSI_OT_RECEIVER": "points", "PSI_OT_COLUMNS": "columns"}
    message = codec.decode(frame, codec.Keyring())
    size = len(getattr(message, field[kind]))
    with pytest.raises(CodecError, match=rf"truncated: {kind}\.{field[kind]} needs {size} bytes"):
        codec.decode(frame[:-1], codec.Keyring())
    with pytest.raises(CodecError, match=f"1 trailing bytes after the last field of {kind}"):
        codec.decode(frame + b"\x00", codec.Keyring())
    at = _first_field_tag(frame)
    for tag in (codec.FieldTag.INT, codec.FieldTag.STR, codec.FieldTag.ARRAY):
        mistyped = frame[:at] + bytes([tag]) + frame[at + 1 :]
        with pytest.raises(CodecError, match=rf"expected tag 5 \(BYTES\), got tag {int(tag)}"):
            codec.decode(mistyped, codec.Keyring())
