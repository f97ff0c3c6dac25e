"""What crosses the wire in PSI: nothing a receiver could test a guessed id against.

Every message of a run is recorded.  For each receiver we build every value it
*could* compute for a guessed id on its own: the id's bytes, common hashes of it,
the group element ``H(id)`` and ``H(id)`` raised to the receiver's own secret, the
RSA full-domain hash and the receiver's own signature tag; for KKRT the id's code
word ``C(id)``, every PRF value ``F(j, id)`` a host can evaluate with its secret, and
the guest's ``t`` rows and PRF values ``H(j, t[j])``; for VOLE the id's OKVS value
``H(x)`` and digest, the guest's OKVS cells ``P``, its tags and each host's ``Delta``.
No such value may appear in
anything the receiver got.  The guesses are every id of every party (the worst
case: the receiver guesses exactly right).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from typing import Any

import numpy as np
import pytest

from crypto.ecdh import POINT_BYTES, ecdh_dst, validate_points
from crypto.hash_to_curve import hash_to_x25519
from crypto.okvs import DENSE_COLUMNS, okvs_size
from crypto.ot import BASE_POINT
from crypto.ot_extension import CODE_BYTES, OUTPUT_BYTES, item_hashes
from crypto.rsa_blind import ints_to_bytes
from crypto.vole import MIN_NOISE_WEIGHT
from protocols.messages import (
    Message,
    MessageKind,
    PsiGuestItems,
    PsiHostItems,
    PsiHostSetup,
    PsiOkvsCells,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiPositions,
    PsiProcessedItems,
    PsiSetup,
    PsiVoleCorrections,
    payload_fields,
)
from protocols.psi import (
    KkrtGuest,
    KkrtHost,
    PsiSettings,
    VoleGuest,
    VoleHost,
    kkrt_guest,
    vole_items,
)
from protocols.psi.kkrt_guest import block_bins
from tests.support.protocol_harness import run_roles
from tests.support.psi_helpers import JOB, make_roles, overlapping_sets

RSA = {"method": "rsa", "rsa_key_length": 1024, "allow_weak_key": True}


def _chunks(blob: bytes, width: int) -> set[bytes]:
    return {blob[i : i + width] for i in range(0, len(blob), width)}


def _plain_forms(ids: list[bytes]) -> set[bytes]:
    forms = set()
    for value in ids:
        forms |= {
            value,
            hashlib.sha256(value).digest(),
            hashlib.sha512(value).digest()[:32],
            hashlib.sha512(value).digest()[32:],
        }
    return forms


def _payload_values(messages, width: int) -> set[bytes]:
    values: set[bytes] = set()
    for message in messages:
        if isinstance(message, PsiGuestItems | PsiHostItems | PsiProcessedItems):
            values |= _chunks(message.items, width)
    return values


def _payload_bytes(messages) -> bytes:
    return b"".join(
        m.items for m in messages if isinstance(m, PsiGuestItems | PsiHostItems | PsiProcessedItems)
    )


@pytest.mark.parametrize("output", ["both", "guest", "cardinality"])
def test_ecdh_no_receiver_can_test_a_guess(output):
    guest_ids, (host_ids,) = overlapping_sets([60, 50], common=20, seed=11)
    roles = make_roles(guest_ids, [host_ids], PsiSettings(output=output, chunk_size=16))
    transcript = run_roles(roles)
    guest, host = roles["guest"], roles["host-1"]
    dst = ecdh_dst(guest._salt)
    guesses = guest_ids + host_ids
    points = b"".join(hash_to_x25519(value, dst) for value in guesses)
    guest_key = guest._links["host-1"].cipher._key
    host_key = host._cipher._key
    testable = {
        "guest": _plain_forms(guesses)
        | _chunks(points, POINT_BYTES)
        | _chunks(guest_key.exponentiate(points), POINT_BYTES),
        "host-1": _plain_forms(guesses)
        | _chunks(points, POINT_BYTES)
        | _chunks(host_key.exponentiate(points), POINT_BYTES),
    }
    for receiver, forms in testable.items():
        received = [m for m in transcript if m.receiver == receiver]
        assert received
        assert not (_payload_values(received, POINT_BYTES) & forms)
        everything = _payload_bytes(received)
        for form in _plain_forms(guesses):  # not even misaligned
            assert form not in everything


def test_rsa_no_receiver_can_test_a_guess():
    guest_ids, (host_ids,) = overlapping_sets([40, 30], common=10, seed=12)
    roles = make_roles(guest_ids, [host_ids], PsiSettings(chunk_size=8, **RSA))
    transcript = run_roles(roles)
    guest, host = roles["guest"], roles["host-1"]
    guesses = guest_ids + host_ids
    public_key = host._cipher.private_key.public_key
    width = public_key.byte_length
    fdh = public_key.full_domain_hash(guesses, guest._salt)
    fdh_forms = _chunks(ints_to_bytes(fdh, width), width)
    # the host can compute FDH and its own signatures of any guess
    signed = host._cipher.private_key.sign(fdh)
    host_forms = fdh_forms | _chunks(ints_to_bytes(signed, width), width)
    to_host = [m for m in transcript if m.receiver == "host-1"]
    assert not (_payload_values(to_host, width) & host_forms)
    # the guest can compute FDH; the host's tags are of signatures it cannot make
    to_guest = [m for m in transcript if m.receiver == "guest"]
    assert not (_payload_values(to_guest, width) & fdh_forms)
    assert not (_payload_values(to_guest, 32) & _plain_forms(guesses))
    # blind signatures are not the plain signatures of the guest's ids
    assert not (_payload_values(to_guest, width) & _chunks(ints_to_bytes(signed, width), width))


def _host_view(transcript, receiver="host-1"):
    return [
        (m.kind, m.batch, len(getattr(m, "items", b"")), getattr(m, "size", None))
        for m in transcript
        if m.receiver == receiver
    ]


@pytest.mark.parametrize("output", ["guest", "cardinality"])
def test_host_learns_only_the_set_sizes(output):
    """The host's view has the same shape whether every id or none is common."""
    views = []
    for common in (0, 24, 40):
        guest_ids, host_ids = overlapping_sets([40, 40], common=common, seed=13)
        roles = make_roles(guest_ids, host_ids, PsiSettings(output=output, chunk_size=16))
        transcript = run_roles(roles)
        kinds = {m.kind for m in transcript if m.receiver == "host-1"}
        assert kinds == {MessageKind.PSI_SETUP, MessageKind.PSI_GUEST_ITEMS, MessageKind.PSI_DONE}
        assert roles["host-1"].result.rows is None
        assert roles["host-1"].result.size is None
        views.append(_host_view(transcript))
    assert views[0] == views[1] == views[2]


def test_cardinality_guest_cannot_map_values_back_to_rows():
    """In cardinality mode the host re-shuffles over the whole set, across chunks."""
    guest_ids, host_ids = overlapping_sets([64, 64], common=64, seed=14)
    roles = make_roles(guest_ids, host_ids, PsiSettings(output="cardinality", chunk_size=8))
    transcript = run_roles(roles)
    guest, host = roles["guest"], roles["host-1"]
    assert guest.result.size == 64 and guest.result.rows is None
    link = guest._links["host-1"]
    sent = [guest_ids[row] for row in link.order.tolist()]
    in_sent_order = host._cipher._key.exponentiate(
        link.cipher._key.hash_and_exponentiate(sent, ecdh_dst(guest._salt))
    )
    processed = b"".join(m.items for m in transcript if isinstance(m, PsiProcessedItems))
    assert _chunks(processed, 32) == _chunks(in_sent_order, 32)  # the same values ...
    in_place = sum(
        processed[i * 32 : (i + 1) * 32] == in_sent_order[i * 32 : (i + 1) * 32] for i in range(64)
    )
    assert in_place < 8  # ... in another order (a uniform shuffle keeps about one in place)


# KKRT-PSI (OPRF from OT extension) ---------------------------------------------------------
KKRT_FINAL = {"both": MessageKind.PSI_POSITIONS, "guest": MessageKind.PSI_DONE}


def _kkrt_roles(guest_ids, host_ids, **settings):
    settings_ = PsiSettings(method="kkrt", **settings)
    hosts = [f"host-{j + 1}" for j in range(len(host_ids))]
    roles = {"guest": KkrtGuest("guest", JOB, hosts=hosts, ids=guest_ids, settings=settings_)}
    for name, ids in zip(hosts, host_ids, strict=True):
        roles[name] = KkrtHost(name, JOB, guest="guest", ids=ids, settings=settings_)
    return roles


def _bins(size: int) -> int:
    """The protocol's number of bins: ceil(1.27 n) + 128, rounded up to 128."""
    return -(-(math.ceil(1.27 * size) + 128) // 128) * 128


def _payload(message) -> bytes:
    """Every byte of a message's payload (bytes fields, and positions as int64)."""
    parts = []
    for field in payload_fields(type(message)):
        value = getattr(message, field.name)
        if isinstance(value, bytes):
            parts.append(value)
        elif isinstance(value, np.ndarray):
            parts.append(value.astype(np.int64).tobytes())
    return b"".join(parts)


def _payload_size(message) -> int | None:
    for name in ("point", "points", "columns", "items"):
        value = getattr(message, name, None)
        if isinstance(value, bytes):
            return len(value)
    return None


class KkrtSecrets:
    """What each party of a finished KKRT run can compute, from its own state.

    ``t_values[host]``: the guest's ``H(j, t[j])`` with that host for every bin ``j``
    (its own PRF value when bin ``j`` holds one of its ids); ``t_rows``: the guest's
    ``t`` rows; ``evaluable[host]``: ``{F(j, y): y}`` for every guess ``y`` in each of
    its candidate bins, which the host can compute with its ``s`` and ``q`` rows;
    ``rows[host]``: the host's 48-byte value row of each of its ids.
    """

    def __init__(self, roles, transcript, guesses) -> None:
        guest = roles["guest"]
        self.salt = guest._salt
        self.bins = _bins(len(guest.ids))
        self.block = block_bins(guest.settings)
        codes, positions = item_hashes(guesses, self.salt, self.bins)
        if codes.ndim == 2:  # one code word per id (rather than per id and function)
            codes = np.repeat(codes[:, None, :], 3, axis=1)
        self.codes = codes  # C(y, h): (guesses, 3, 64)
        self.t_values: dict[str, set[bytes]] = {}
        self.t_rows: set[bytes] = set()
        self.own_values: set[bytes] = set()
        self.evaluable: dict[str, dict[bytes, bytes]] = {}
        self.rows: dict[str, dict[bytes, bytes]] = {}
        for host, link in guest._links.items():
            self.t_values[host] = set()
            self.own_values |= {bytes(v).ljust(OUTPUT_BYTES, b"\0") for v in link.own_values}
            q_rows = np.zeros((self.bins, CODE_BYTES), dtype=np.uint8)
            blocks = [m for m in transcript if isinstance(m, PsiOtColumns) and m.receiver == host]
            for message in blocks:
                start = message.batch * self.block
                count = min(self.block, self.bins - start)
                _, t = link.oprf.columns(start, np.zeros((count, CODE_BYTES), dtype=np.uint8))
                values = link.oprf.outputs(t, np.arange(start, start + count))
                self.t_values[host] |= _chunks(values, OUTPUT_BYTES)
                self.t_rows |= _chunks(t.tobytes(), CODE_BYTES)
                q_rows[start : start + count] = roles[host]._oprf.rows(start, message.columns)
            flat = positions.reshape(-1)  # (guess k, function h) at 3 k + h
            owner = np.repeat(np.arange(len(guesses)), 3)
            values = roles[host]._oprf.outputs(q_rows[flat], flat, codes.reshape(-1, CODE_BYTES))
            chunks = [values[i : i + OUTPUT_BYTES] for i in range(0, len(values), OUTPUT_BYTES)]
            self.evaluable[host] = {
                v: guesses[o] for v, o in zip(chunks, owner.tolist(), strict=True)
            }
            own = set(roles[host].ids)
            self.rows[host] = {
                b"".join(chunks[3 * k : 3 * k + 3]): value
                for k, value in enumerate(guesses)
                if value in own
            }


@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_no_receiver_can_test_a_guess(output):
    guest_ids, host_ids = overlapping_sets([60, 50, 40], common=20, seed=21)
    roles = _kkrt_roles(guest_ids, host_ids, output=output, chunk_size=16)
    transcript = run_roles(roles)
    guesses = sorted(set(guest_ids).union(*host_ids))
    known = KkrtSecrets(roles, transcript, guesses)
    assert known.bins == 256 and known.block == 128
    assert known.own_values <= set().union(*known.t_values.values())
    codes = set()
    for code in known.codes.reshape(-1, CODE_BYTES):
        codes |= {code.tobytes(), *_chunks(code.tobytes(), 16)}
    plain = _plain_forms(guesses)
    for host in ("host-1", "host-2"):
        to_host = b"".join(_payload(m) for m in transcript if m.receiver == host)
        assert len(to_host) > 2 * 8192  # two blocks of 128 bins
        # the host can evaluate F(j, y) for any guess y, knows the code words and
        # hashes of any guess, and must see no t row and no PRF value of the guest
        forbidden = (
            plain
            | codes
            | known.t_rows
            | set(known.evaluable[host])
            | set().union(*known.t_values.values())
        )
        assert not [f for f in forbidden if f in to_host]  # not even misaligned
    # the guest's own PRF values never leave it
    from_guest = b"".join(_payload(m) for m in transcript if m.sender == "guest")
    assert not [v for v in known.own_values if v in from_guest]
    # the guest can compute H(j, t[j]) for every bin j: only the rows of the ids it holds
    # contain such a value; nothing it gets is an id, a hash or a code word of one
    to_guest = b"".join(_payload(m) for m in transcript if m.receiver == "guest")
    assert not [f for f in plain | codes if f in to_guest]
    computable = set().union(*known.t_values.values())
    for host, ids in zip(("host-1", "host-2"), host_ids, strict=True):
        items = b"".join(
            m.items for m in transcript if isinstance(m, PsiHostItems) and m.sender == host
        )
        rows = _chunks(items, 3 * OUTPUT_BYTES)
        assert rows == set(known.rows[host])  # exactly F(h_i(y), y) of its ids
        for row, value in known.rows[host].items():
            matches = _chunks(row, OUTPUT_BYTES) & computable
            if value in guest_ids:
                assert matches and matches <= known.t_values[host]
            else:
                assert not matches, value
        assert sum(bool(_chunks(r, OUTPUT_BYTES) & computable) for r in rows) == len(
            set(ids) & set(guest_ids)
        )


@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_host_learns_only_the_set_sizes(output):
    """The host's view has the same shape whether every id, some or none is common
    (with output "both" apart from the positions it is told)."""
    views = []
    for common in (0, 24, 40):
        guest_ids, host_ids = overlapping_sets([40, 40], common=common, seed=23)
        roles = _kkrt_roles(guest_ids, host_ids, output=output, chunk_size=16)
        transcript = run_roles(roles)
        kinds = {m.kind for m in transcript if m.receiver == "host-1"}
        assert kinds == {
            MessageKind.PSI_SETUP,
            MessageKind.PSI_OT_SENDER,
            MessageKind.PSI_OT_COLUMNS,
            KKRT_FINAL[output],
        }
        host = roles["host-1"].result
        if output == "guest":
            assert host.rows is None and host.size is None
        else:
            assert host.size == common
        views.append(
            [
                (m.kind, m.round, m.batch, _payload_size(m), getattr(m, "size", None))
                for m in transcript
                if m.receiver == "host-1" and not isinstance(m, PsiPositions)
            ]
        )
    assert views[0] == views[1] == views[2]


@pytest.mark.parametrize(
    ("guest_size", "host_sizes", "chunk_size"),
    [(0, [5], 16), (60, [50, 0], 16), (300, [7], 100), (101, [33], 1000)],
)
def test_kkrt_message_sizes_are_exactly_the_protocols(guest_size, host_sizes, chunk_size):
    guest_ids, host_ids = overlapping_sets([guest_size, *host_sizes], common=0, seed=24)
    roles = _kkrt_roles(guest_ids, host_ids, chunk_size=chunk_size)
    transcript = run_roles(roles)
    bins = _bins(guest_size)
    block = -(-chunk_size // 128) * 128
    blocks = -(-bins // block)
    columns = [
        (MessageKind.PSI_OT_COLUMNS, b, 512 * min(block, bins - b * block) // 8)
        for b in range(blocks)
    ]
    for j, size in enumerate(host_sizes):
        host = f"host-{j + 1}"
        to_host = [(m.kind, m.batch, _payload_size(m)) for m in transcript if m.receiver == host]
        assert to_host == [
            (MessageKind.PSI_SETUP, 0, None),
            (MessageKind.PSI_OT_SENDER, 0, 32),
            *columns,
            (MessageKind.PSI_POSITIONS, 0, None),
        ]
        chunks = -(-size // chunk_size)
        to_guest = [(m.kind, m.batch, _payload_size(m)) for m in transcript if m.sender == host]
        assert to_guest == [
            (MessageKind.PSI_HOST_SETUP, 0, None),
            (MessageKind.PSI_OT_RECEIVER, 0, 2 * 512 * 32),
            *[
                (MessageKind.PSI_HOST_ITEMS, c, 48 * min(chunk_size, size - c * chunk_size))
                for c in range(chunks)
            ],
        ]
    assert all(m.round == 0 for m in transcript)
    setups = [m for m in transcript if isinstance(m, PsiSetup)]
    assert {(m.method, m.size, m.chunk_size, len(m.salt)) for m in setups} == {
        ("kkrt", guest_size, chunk_size, 32)
    }
    host_setups = [m for m in transcript if isinstance(m, PsiHostSetup)]
    assert sorted((m.size, m.rsa_public_key) for m in host_setups) == sorted(
        (size, ()) for size in host_sizes
    )


def test_kkrt_base_ot_points_are_valid_distinct_points():
    guest_ids, host_ids = overlapping_sets([20, 20, 20], common=5, seed=25)
    transcript = run_roles(_kkrt_roles(guest_ids, host_ids, chunk_size=64))
    senders = [m.point for m in transcript if isinstance(m, PsiOtSenderPoint)]
    receivers = [m.points for m in transcript if isinstance(m, PsiOtReceiverPoints)]
    assert len(senders) == len(receivers) == 2
    everything = b"".join(senders + receivers)
    validate_points(everything)  # canonical, on the curve, not of low order
    points = [everything[i : i + 32] for i in range(0, len(everything), 32)]
    assert len(points) == 2 + 2 * 1024 == len(set(points))  # a fresh key per link
    assert BASE_POINT not in points


def test_kkrt_host_values_never_repeat_even_where_candidate_bins_coincide(monkeypatch):
    """An id whose candidate bins coincide still gets three unrelated values (the code
    word depends on the hash function): equal values in a row would show the guest
    that one of the host's ids, common or not, has coinciding bins under this salt,
    a property it can test for any guess."""
    salt = bytes(range(32))

    class FixedSalt:  # the guest's `secrets`, drawing this salt (other bytes are random)
        @staticmethod
        def token_bytes(size: int) -> bytes:
            return salt if size == len(salt) else secrets.token_bytes(size)

    monkeypatch.setattr(kkrt_guest, "secrets", FixedSalt)
    guest_ids, (host_ids,) = overlapping_sets([30, 30], common=10, seed=26)
    bins = _bins(len(guest_ids) + 2)
    candidates = [f"+1-555-9{n:06d}".encode() for n in range(5000)]
    _, positions = item_hashes(candidates, salt, bins)
    colliding = [
        value
        for value, bins_ in zip(candidates, positions.tolist(), strict=True)
        if len(set(bins_)) < 3
    ][:4]
    assert len(colliding) == 4
    settings = PsiSettings(method="kkrt", chunk_size=8)
    guest_ids = [*guest_ids, *colliding[2:]]  # two common ids with coinciding bins
    host_ids = [*host_ids, *colliding]  # and two of the host's own
    guest = KkrtGuest("guest", JOB, hosts=["host"], ids=guest_ids, settings=settings)
    host = KkrtHost("host", JOB, guest="guest", ids=host_ids, settings=settings)
    transcript = run_roles({"guest": guest, "host": host})
    assert guest._salt == salt
    items = b"".join(m.items for m in transcript if isinstance(m, PsiHostItems))
    shuffled = [host.ids[row] for row in host._order.tolist()]
    _, host_positions = item_hashes(shuffled, salt, bins)
    coinciding = []
    for k, value in enumerate(shuffled):
        row = [items[48 * k + 16 * i : 48 * k + 16 * (i + 1)] for i in range(3)]
        assert len(set(row)) == 3, (value, host_positions[k].tolist())
        if len(set(host_positions[k].tolist())) < 3:
            coinciding.append(value)
    assert set(colliding) <= set(coinciding)
    common = set(guest_ids) & set(host_ids)
    assert {guest.ids[r] for r in guest.result.rows} == common
    assert {host.ids[r] for r in host.result.rows} == common


# VOLE-PSI (silent VOLE and an OKVS) --------------------------------------------------------
VOLE_FINAL = KKRT_FINAL


def _vole_roles(
    guest_ids: list[bytes], host_ids: list[list[bytes]], **settings: Any
) -> dict[str, Any]:
    settings_ = PsiSettings(method="vole", **settings)
    hosts = [f"host-{j + 1}" for j in range(len(host_ids))]
    roles: dict[str, Any] = {
        "guest": VoleGuest("guest", JOB, hosts=hosts, ids=guest_ids, settings=settings_)
    }
    for name, ids in zip(hosts, host_ids, strict=True):
        roles[name] = VoleHost(name, JOB, guest="guest", ids=ids, settings=settings_)
    return roles


def _vole_shape(cells: int) -> tuple[int, int]:
    """A VOLE's ``(trees, depth)`` for ``cells`` outputs, from the spec (code length
    ``N >= 5 m``, at least ``t = MIN_NOISE_WEIGHT`` trees; of the largest depth with
    ``t * 2^d <= 5 m`` (at least 1) and the next one, the one with the lower cost
    ``16 * t * (d + 128) + t * 2^d``), without :class:`crypto.vole.VoleParameters`."""
    least = MIN_NOISE_WEIGHT
    depth = 1
    while least << (depth + 1) <= 5 * cells:
        depth += 1
    shapes = []
    for d in (depth, depth + 1):
        trees = max(least, -(-5 * cells // (1 << d)))
        shapes.append((16 * trees * (d + 128) + (trees << d), trees, d))
    _, trees, depth = min(shapes)
    return trees, depth


def _vole_sizes(guest_size: int) -> tuple[list[tuple[int, int, int]], int, int]:
    """Each segment's correction sizes, the random-OT instances (rounded up to 128) and
    the OKVS cells for a guest of ``guest_size`` ids."""
    cells = okvs_size(guest_size) + DENSE_COLUMNS  # sparse cells, then the dense ones
    sizes, total = [], 0
    for start, stop in vole_items.segment_bounds(cells):
        trees, depth = _vole_shape(stop - start)
        sizes.append((32 * trees * depth, 16 * 128 * trees, 16 * trees))
        total += trees * (depth + 128)
    return sizes, -(-total // 128) * 128, cells


def _vole_payload_size(message: Message) -> tuple[int, ...] | int | None:
    if isinstance(message, PsiVoleCorrections):
        return (len(message.level_sums), len(message.base_corrections), len(message.tree_sums))
    if isinstance(message, PsiOkvsCells):
        return (len(message.key), len(message.cells))
    return _payload_size(message)


@pytest.mark.parametrize(
    ("guest_size", "host_sizes", "chunk_size", "max_vole"),
    [
        (0, [5], 16, None),
        (60, [50, 0], 16, None),
        (300, [7], 100, None),
        (101, [33], 1000, None),
        (1000, [40], 20_000, 700),  # several VOLE segments
    ],
)
def test_vole_message_sizes_are_exactly_the_protocols(
    guest_size: int,
    host_sizes: list[int],
    chunk_size: int,
    max_vole: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if max_vole is not None:
        monkeypatch.setattr(vole_items, "MAX_VOLE_SIZE", max_vole)
    guest_ids, host_ids = overlapping_sets([guest_size, *host_sizes], common=0, seed=31)
    roles = _vole_roles(guest_ids, host_ids, chunk_size=chunk_size)
    transcript = run_roles(roles)
    sizes, total, cells = _vole_sizes(guest_size)
    assert (max_vole is None) == (len(sizes) == 1)
    block = max(8192, -(-chunk_size // 128) * 128)
    columns = [
        (MessageKind.PSI_OT_COLUMNS, b, 512 * min(block, total - b * block) // 8)
        for b in range(-(-total // block))
    ]
    okvs = [
        (MessageKind.PSI_OKVS_CELLS, c, (16, 16 * min(chunk_size, cells - c * chunk_size)))
        for c in range(-(-cells // chunk_size))
    ]
    for j, size in enumerate(host_sizes):
        host = f"host-{j + 1}"
        to_host = [
            (m.kind, m.batch, _vole_payload_size(m)) for m in transcript if m.receiver == host
        ]
        assert to_host == [
            (MessageKind.PSI_SETUP, 0, None),
            (MessageKind.PSI_OT_SENDER, 0, 32),
            *columns,
            *okvs,
            (MessageKind.PSI_POSITIONS, 0, None),
        ]
        chunks = -(-size // chunk_size)
        to_guest = [
            (m.kind, m.batch, _vole_payload_size(m)) for m in transcript if m.sender == host
        ]
        assert to_guest == [
            (MessageKind.PSI_HOST_SETUP, 0, None),
            (MessageKind.PSI_OT_RECEIVER, 0, 2 * 512 * 32),
            *[(MessageKind.PSI_VOLE_CORRECTIONS, s, sizes[s]) for s in range(len(sizes))],
            *[
                (MessageKind.PSI_HOST_ITEMS, c, 12 * min(chunk_size, size - c * chunk_size))
                for c in range(chunks)
            ],
        ]
        keys = {m.key for m in transcript if isinstance(m, PsiOkvsCells) and m.receiver == host}
        assert len(keys) == 1
    # one OKVS (one key) for every host, every message in round 0
    assert len({m.key for m in transcript if isinstance(m, PsiOkvsCells)}) == 1
    assert all(m.round == 0 for m in transcript)
    setups = [m for m in transcript if isinstance(m, PsiSetup)]
    assert {(m.method, m.size, m.chunk_size, len(m.salt)) for m in setups} == {
        ("vole", guest_size, chunk_size, 32)
    }
    host_setups = [m for m in transcript if isinstance(m, PsiHostSetup)]
    assert sorted((m.size, m.rsa_public_key) for m in host_setups) == sorted(
        (size, ()) for size in host_sizes
    )


def test_vole_sizes_of_a_known_case() -> None:
    """The reference above, pinned: 500 ids -> 1512 + 64 cells, one VOLE of 400 trees of
    depth 5 (depth 4 would need 473 trees: more OTs), 53,248 random OTs."""
    assert _vole_sizes(500) == ([(400 * 5 * 32, 400 * 2048, 400 * 16)], 53_248, 1576)


def _found(forms: set[bytes], blob: bytes) -> list[bytes]:
    """The forms that occur anywhere in ``blob``, at any byte offset (``f in blob`` for
    every form, fast: candidates by their last 8 bytes, one numpy pass per shift)."""
    long = {f for f in forms if len(f) >= 8}
    found = [f for f in forms - long if f in blob]
    by_anchor: dict[int, list[bytes]] = {}
    for form in long:
        by_anchor.setdefault(int.from_bytes(form[-8:], "little"), []).append(form)
    anchors = np.fromiter(by_anchor, dtype=np.uint64, count=len(by_anchor))
    for shift in range(8):
        words = np.frombuffer(blob, dtype="<u8", count=(len(blob) - shift) // 8, offset=shift)
        for index in np.flatnonzero(np.isin(words, anchors)).tolist():
            end = shift + 8 * index + 8
            for form in by_anchor[int(words[index])]:
                if blob[max(0, end - len(form)) : end] == form:
                    found.append(form)
    return sorted(set(found))


def test_found_finds_forms_at_every_offset() -> None:
    blob = bytes(range(256)) * 3
    forms = {blob[o : o + n] for o, n in ((0, 8), (5, 12), (250, 16), (3, 4))}
    assert _found(forms | {b"not in the blob"}, blob) == sorted(forms)


def _vole_forms(guesses: list[bytes], salt: bytes) -> set[bytes]:
    """Every id's plain forms, its VOLE value ``H(x)`` and its OKVS digest."""
    values, digests = vole_items.item_digests(guesses, salt)
    return (
        _plain_forms(guesses)
        | _chunks(values.tobytes(), 16)
        | _chunks(digests.tobytes(), 16)
        | {hashlib.sha256(salt + value).digest() for value in guesses}
    )


@pytest.mark.parametrize("output", ["both", "guest"])
def test_vole_no_receiver_can_test_a_guess(output: str) -> None:
    guest_ids, host_ids = overlapping_sets([60, 50, 40], common=20, seed=32)
    roles = _vole_roles(guest_ids, host_ids, output=output, chunk_size=16)
    transcript = run_roles(roles)
    guest = roles["guest"]
    guesses = sorted(set(guest_ids).union(*host_ids))
    forms = _vole_forms(guesses, guest._salt)
    table = guest._table  # the guest's OKVS P
    cells_of_p = _chunks(table.tobytes(), 16)
    assert len(cells_of_p) == okvs_size(60) + DENSE_COLUMNS == len(table)
    own_tags: dict[str, dict[bytes, bytes]] = {}  # host -> {guest id: its tag with that host}
    for host, link in guest._links.items():
        rows = np.ascontiguousarray(link.own_values).view(np.uint8).reshape(-1, 12)
        own_tags[host] = {value: rows[k].tobytes() for k, value in enumerate(guest.ids)}
    for host in ("host-1", "host-2"):
        to_host = b"".join(_payload(m) for m in transcript if m.receiver == host)
        assert len(to_host) > 16 * 8192  # OT blocks of 8192 instances
        # no id, hash, H(x), digest, cell of P or guest tag reaches a host, even misaligned
        forbidden = forms | cells_of_p | set(own_tags[host].values())
        assert not _found(forbidden, to_host)
        # the cells are A + P: none equals its cell of P, all distinct
        sent = np.frombuffer(
            b"".join(
                m.cells
                for m in sorted(
                    (m for m in transcript if isinstance(m, PsiOkvsCells) and m.receiver == host),
                    key=lambda m: m.batch,
                )
            ),
            dtype="<u8",
        ).reshape(-1, 2)
        assert sent.shape == table.shape
        assert not (sent == table).all(axis=1).any()
        assert len(_chunks(sent.tobytes(), 16)) == len(sent)
        delta = roles[host]._delta.to_bytes(16, "little")
        everything = b"".join(_payload(m) for m in transcript)
        assert delta not in everything
    # the guest gets no id form; the hosts' Delta H(y) and Delta never leave them
    to_guest = b"".join(_payload(m) for m in transcript if m.receiver == "guest")
    assert not _found(forms, to_guest)
    # a host's tag equals the guest's tag of an id exactly when the id is common
    for host, ids in zip(("host-1", "host-2"), host_ids, strict=True):
        items = b"".join(
            m.items for m in transcript if isinstance(m, PsiHostItems) and m.sender == host
        )
        tags = [items[i : i + 12] for i in range(0, len(items), 12)]
        assert len(tags) == len(ids) == len(set(tags))
        matched = {x for x, tag in own_tags[host].items() if tag in set(tags)}
        assert matched == set(ids) & set(guest_ids)
        # the guest's tags of one id differ between hosts (one Delta and VOLE per host)
    assert not set(own_tags["host-1"].values()) & set(own_tags["host-2"].values())
    # the guest's own tags never leave it
    from_guest = b"".join(_payload(m) for m in transcript if m.sender == "guest")
    assert not _found({t for tags in own_tags.values() for t in tags.values()}, from_guest)
    _check_vole_points_corrections_and_cells(transcript)


def _check_vole_points_corrections_and_cells(transcript: list[Message]) -> None:
    """Base-OT points valid and all distinct (a fresh key per link); corrections and
    OKVS cells uniform-looking, no 16-byte value repeated across messages and hosts."""
    senders = [m.point for m in transcript if isinstance(m, PsiOtSenderPoint)]
    receivers = [m.points for m in transcript if isinstance(m, PsiOtReceiverPoints)]
    assert len(senders) == len(receivers) == 2
    everything = b"".join(senders + receivers)
    validate_points(everything)
    points = [everything[i : i + 32] for i in range(0, len(everything), 32)]
    assert len(points) == 2 + 2 * 1024 == len(set(points))
    assert BASE_POINT not in points
    blobs = []
    for m in transcript:
        if isinstance(m, PsiVoleCorrections):
            blobs += [m.level_sums, m.base_corrections, m.tree_sums]
        elif isinstance(m, PsiOkvsCells):
            blobs.append(m.cells)
    data = b"".join(blobs)
    values = [data[i : i + 16] for i in range(0, len(data), 16)]
    assert len(values) > 2 * 45_000 and len(set(values)) == len(values)
    bits = 8 * len(data)
    ones = int(np.unpackbits(np.frombuffer(data, dtype=np.uint8)).sum())
    assert abs(ones - bits / 2) < 6 * (bits / 4) ** 0.5


@pytest.mark.parametrize("output", ["both", "guest"])
def test_vole_host_learns_only_the_set_sizes(output: str) -> None:
    """The host's view has the same shape whether every id, some or none is common
    (with output "both" apart from the positions it is told)."""
    views = []
    for common in (0, 24, 40):
        guest_ids, host_ids = overlapping_sets([40, 40], common=common, seed=34)
        roles = _vole_roles(guest_ids, host_ids, output=output, chunk_size=16)
        transcript = run_roles(roles)
        kinds = {m.kind for m in transcript if m.receiver == "host-1"}
        assert kinds == {
            MessageKind.PSI_SETUP,
            MessageKind.PSI_OT_SENDER,
            MessageKind.PSI_OT_COLUMNS,
            MessageKind.PSI_OKVS_CELLS,
            VOLE_FINAL[output],
        }
        host = roles["host-1"].result
        if output == "guest":
            assert host.rows is None and host.size is None
        else:
            assert host.size == common
        views.append(
            [
                (m.kind, m.round, m.batch, _vole_payload_size(m), getattr(m, "size", None))
                for m in transcript
                if m.receiver == "host-1" and not isinstance(m, PsiPositions)
            ]
        )
    assert views[0] == views[1] == views[2]
