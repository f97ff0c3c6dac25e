"""What crosses the wire in PSI: nothing a receiver could test a guessed id against.

Every message of a run is recorded.  For each receiver we build every value it
*could* compute for a guessed id on its own: the id's bytes, common hashes of it,
the group element ``H(id)`` and ``H(id)`` raised to the receiver's own secret, the
RSA full-domain hash and the receiver's own signature tag.  No such value may appear
in anything the receiver got.  The guesses are every id of every party (the worst
case: the receiver guesses exactly right).
"""

from __future__ import annotations

import hashlib

import pytest

from crypto.ecdh import POINT_BYTES, ecdh_dst
from crypto.hash_to_curve import hash_to_x25519
from crypto.rsa_blind import ints_to_bytes
from protocols.messages import MessageKind, PsiGuestItems, PsiHostItems, PsiProcessedItems
from protocols.psi import PsiSettings
from tests.protocol_harness import run_roles
from tests.psi_helpers import make_roles, overlapping_sets

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
