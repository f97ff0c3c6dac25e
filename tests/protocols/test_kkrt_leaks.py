"""KKRT-PSI shows nothing beyond the intersection through repeats or the result order.

Two leaks a review found in the first version, now closed (SECURITY.md §10):

* a host id whose candidate bins coincide sent a repeated PRF value, which the
  guest could test guesses against; code words now depend on the hash function;
* the common ids were ordered by the guest's PRF value with the first host, which
  told that host each common id's cuckoo bin; they are now ordered by a salted
  SHA-256 of the id.
"""

from __future__ import annotations

import hashlib

import numpy as np

from crypto.ot_extension import OUTPUT_BYTES, item_hashes
from protocols.messages import Message, PsiHostItems, PsiPositions
from protocols.psi import KkrtGuest, KkrtHost, PsiSettings
from protocols.psi.cuckoo import bin_count
from protocols.roles import Role

SETTINGS = PsiSettings(method="kkrt", chunk_size=64)


def run(roles: dict[str, Role], started: list[Message]) -> list[Message]:
    """Deliver every message in order, running queued work; return the transcript."""
    queue, transcript = list(started), []
    while queue or any(role.has_work for role in roles.values()):
        if queue:
            message = queue.pop(0)
            transcript.append(message)
            queue += roles[message.receiver].receive(message)
        else:
            queue += next(role for role in roles.values() if role.has_work).work()
    return transcript


def coinciding_ids(salt: bytes, bins: int, count: int) -> list[bytes]:
    """``count`` ids with two equal candidate bins under ``salt``."""
    found: list[bytes] = []
    candidate = 0
    while len(found) < count:
        batch = [f"+1-555-{candidate + k:07d}".encode() for k in range(4096)]
        _, positions = item_hashes(batch, salt, bins)
        same = (positions[:, 0] == positions[:, 1]) | (positions[:, 1] == positions[:, 2])
        same |= positions[:, 0] == positions[:, 2]
        found += [batch[k] for k in np.flatnonzero(same).tolist()]
        candidate += 4096
    return found[:count]


def test_ids_with_coinciding_bins_send_three_unrelated_values() -> None:
    guest_ids = [f"+1-555-{k:07d}".encode() for k in range(0, 200, 2)]
    guest = KkrtGuest("guest", "job", hosts=["host"], ids=guest_ids, settings=SETTINGS)
    started = guest.start()
    salt = started[0].salt  # type: ignore[attr-defined]
    special = coinciding_ids(salt, bin_count(len(guest_ids)), 40)
    host_ids = list(dict.fromkeys(special + guest_ids[:30]))
    host = KkrtHost("host", "job", guest="guest", ids=host_ids, settings=SETTINGS)
    transcript = run({"guest": guest, "host": host}, started + host.start())

    values = b"".join(m.items for m in transcript if isinstance(m, PsiHostItems))
    per_id = np.frombuffer(values, dtype=np.uint8).reshape(len(host_ids), 3, OUTPUT_BYTES)
    for triple in per_id:
        assert len({bytes(value) for value in triple}) == 3
    # and the result is still exact
    found = {guest_ids[row] for row in guest.result.rows}
    assert found == set(guest_ids) & set(host_ids)


def test_common_ids_are_ordered_by_a_salted_hash_of_the_id() -> None:
    guest_ids = [f"id-{k}".encode() for k in range(500)]
    host_ids = [f"id-{k}".encode() for k in range(250, 900)]
    guest = KkrtGuest("guest", "job", hosts=["host"], ids=guest_ids, settings=SETTINGS)
    host = KkrtHost("host", "job", guest="guest", ids=host_ids, settings=SETTINGS)
    started = guest.start()
    salt = started[0].salt  # type: ignore[attr-defined]
    transcript = run({"guest": guest, "host": host}, started + host.start())

    order = [guest_ids[row] for row in guest.result.rows]
    label = b"VFL-OTPSI-V01 order"
    expected = sorted(
        set(guest_ids) & set(host_ids), key=lambda i: hashlib.sha256(label + salt + i).digest()
    )
    assert order == expected
    assert [host_ids[row] for row in host.result.rows] == expected
    positions = next(m for m in transcript if isinstance(m, PsiPositions)).positions
    assert len(positions) == 250
