"""What each VOLE-PSI message reveals, tested with the attacks themselves.

Each test runs the real roles (:func:`tests.support.protocol_harness.run_roles`, every
message through the codec), then mounts the attack a curious party can compute from
what it holds.  Where it is cheap the same attack runs on a broken variant (the guest's
OKVS ``P`` without the VOLE mask ``A``, or with the host's ``Delta`` or the pad the
guest did not choose), where it must succeed: the negative control that shows the
attack would see the leak.

* Host's view: :class:`PsiOkvsCells` carries ``A + P``.  Testing a candidate id ``y``
  (its three cells from the public OKVS key, ``H(y)`` from the public salt) works on
  ``P`` and never on ``A + P``; the cells of two different sets look alike.
* Guest's view: :class:`PsiHostItems` carries ``T(Decode(C, y) + Delta r_y)``, which the
  guest can recompute for a guessed host id ``y`` only with ``Delta``;
  :class:`PsiVoleCorrections` gives ``x^k Delta`` and the on-path GGM level sums only
  with the pad the guest did not choose.
* Replays: a second run on the same ids shares nothing with the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import chi2_contingency  # type: ignore[import-untyped]

import crypto.ggm
import crypto.vole as vole_module
from crypto.gf128 import ConstantMultiplier, multiply
from crypto.okvs import DENSE_COLUMNS, GarbledCuckooTable
from crypto.vole import VoleCorrections, VoleReceiver, VoleSender
from protocols.messages import (
    Message,
    PsiHostItems,
    PsiOkvsCells,
    PsiSetup,
    PsiVoleCorrections,
)
from protocols.psi import PsiSettings, VoleGuest, VoleHost, vole_items
from protocols.psi.vole_items import TAG_BYTES, item_digests, output_tags, tag_key, vole_key
from tests.support.protocol_harness import run_roles
from tests.support.psi_helpers import JOB, phone_ids
from vfl.runtime import codec

Elements = npt.NDArray[np.uint64]
SETTINGS = PsiSettings(method="vole", chunk_size=1024)


def _wire(message: Message) -> Message:
    return codec.decode(codec.encode(message), codec.Keyring())


@dataclass
class View:
    """A finished run: the transcript and, white-box, what each role held."""

    guest: VoleGuest
    hosts: dict[str, VoleHost]
    transcript: list[Message]
    receivers: dict[
        tuple[str, int], tuple[VoleReceiver, Elements, VoleCorrections, Elements, Elements]
    ] = field(default_factory=dict)
    pads: dict[tuple[str, int], tuple[Elements, Elements]] = field(default_factory=dict)
    level_sums: dict[tuple[str, int], Elements] = field(default_factory=dict)

    @property
    def salt(self) -> bytes:
        setup = next(m for m in self.transcript if isinstance(m, PsiSetup))
        return setup.salt

    def messages(self, kind: type[Any], host: str) -> list[Any]:
        return [
            m for m in self.transcript if isinstance(m, kind) and host in (m.sender, m.receiver)
        ]

    def cells(self, host: str) -> tuple[bytes, Elements]:
        """The OKVS key and the cells ``A + P`` the host received."""
        chunks = sorted(self.messages(PsiOkvsCells, host), key=lambda m: m.batch)
        data = b"".join(m.cells for m in chunks)
        return chunks[0].key, np.frombuffer(data, dtype="<u8").reshape(-1, 2)

    def tags(self, host: str) -> list[bytes]:
        """The host's tags, in the (shuffled) order it sent them."""
        chunks = sorted(self.messages(PsiHostItems, host), key=lambda m: m.batch)
        data = b"".join(m.items for m in chunks)
        return [data[k : k + TAG_BYTES] for k in range(0, len(data), TAG_BYTES)]


@pytest.fixture
def observe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run guest and hosts to the end, recording each VOLE's white-box state by host."""
    finish, corrections, expand = (
        VoleReceiver.finish,
        VoleSender.corrections,
        crypto.ggm.expand_trees,
    )
    current: dict[str, Any] = {}

    def host_of(key: bytes, purpose: bytes | None = None) -> tuple[str, int]:
        """The host and segment of a VOLE, from its public key."""
        view: View = current["view"]
        for name in view.hosts:
            for segment in range(64):
                expected = vole_key(view.guest._salt, name, segment)
                if purpose is not None:
                    expected = vole_module._derived(expected, purpose)
                if key == expected:
                    return name, segment
        raise AssertionError("a VOLE key of no host")

    def spy_finish(
        self: VoleReceiver, chosen: Elements, message: VoleCorrections
    ) -> tuple[Elements, Elements]:
        a, c = finish(self, chosen, message)
        current["view"].receivers[host_of(self._key)] = (self, chosen.copy(), message, a, c)
        return a, c

    def spy_corrections(self: VoleSender, pad0: Elements, pad1: Elements) -> VoleCorrections:
        name = host_of(self._key)
        current["view"].pads[name] = (pad0.copy(), pad1.copy())
        return corrections(self, pad0, pad1)

    def spy_expand(roots: Elements, depth: int, key: bytes) -> tuple[Elements, Elements]:
        leaves, sums = expand(roots, depth, key)
        current["view"].level_sums[host_of(key, b"ggm")] = sums.copy()
        return leaves, sums

    monkeypatch.setattr(VoleReceiver, "finish", spy_finish)
    monkeypatch.setattr(VoleSender, "corrections", spy_corrections)
    monkeypatch.setattr(vole_module, "expand_trees", spy_expand)

    def run(guest_ids: list[bytes], *host_ids: list[bytes]) -> View:
        names = [f"host-{j + 1}" for j in range(len(host_ids))]
        guest = VoleGuest("guest", JOB, hosts=names, ids=guest_ids, settings=SETTINGS)
        hosts = {
            name: VoleHost(name, JOB, guest="guest", ids=ids, settings=SETTINGS)
            for name, ids in zip(names, host_ids, strict=True)
        }
        view = View(guest, hosts, [])
        current["view"] = view
        view.transcript.extend(run_roles({"guest": guest, **hosts}, wire=_wire))
        expected = set(guest_ids).intersection(*map(set, host_ids))
        assert {guest_ids[row] for row in guest.result.rows} == expected
        return view

    yield run


def ids(count: int, seed: int) -> list[bytes]:
    return [item.encode() for item in phone_ids(count, seed)]


def decode(table: Elements, key: bytes, digests: Elements) -> Elements:
    """``Decode(table, x)``: three sparse cells and the dense cells (the OKVS's own decode)."""
    return GarbledCuckooTable(len(table) - DENSE_COLUMNS, key).decode(table, digests)


def tag_bytes(tags: npt.NDArray[np.bytes_]) -> list[bytes]:
    """Each tag's 12 bytes (``bytes(tag)`` would drop trailing zero bytes)."""
    data = tags.tobytes()
    return [data[k : k + TAG_BYTES] for k in range(0, len(data), TAG_BYTES)]


def matches(left: Elements, right: Elements) -> npt.NDArray[np.bool_]:
    equal: npt.NDArray[np.bool_] = (left == right).all(axis=1)
    return equal


# --- 2. the host's view: A + P ----------------------------------------------------------------


def test_host_cannot_test_a_guessed_id_against_the_okvs_cells(observe: Any) -> None:
    """``Decode(A + P, y) == H(y)`` holds for no candidate; on ``P`` it is exact membership."""
    pool = ids(900, seed=21)
    members, outsiders = pool[:600], pool[600:]
    view = observe(members, pool[300:900])  # the host holds 300 members and 300 outsiders
    key, cells = view.cells("host-1")
    candidates = members + outsiders  # a host that guesses the guest's whole set and more
    values, digests = item_digests(candidates, view.salt)
    # negative control: on P (no VOLE mask) the test is exactly membership
    on_p = matches(decode(view.guest._table, key, digests), values)
    assert on_p.tolist() == [True] * len(members) + [False] * len(outsiders)
    # the attack on what the host really holds: no candidate passes, member or not
    on_cells = matches(decode(cells, key, digests), values)
    assert not on_cells.any()
    # nor any single 64-bit half, which a biased mask could let through
    halves = decode(cells, key, digests) == values
    assert not halves.any()


def test_two_hosts_cells_do_not_cancel_the_mask(observe: Any) -> None:
    """Colluding hosts XOR their cells: ``A1 + A2`` is still a mask (one VOLE per host)."""
    pool = ids(800, seed=22)
    guest_ids = pool[:400]
    view = observe(guest_ids, pool[200:600], pool[100:500])
    key1, cells1 = view.cells("host-1")
    key2, cells2 = view.cells("host-2")
    assert key1 == key2  # one OKVS for all hosts ...
    assert not matches(cells1, cells2).any()  # ... under independent masks
    values, digests = item_digests(guest_ids, view.salt)
    joint = decode(cells1 ^ cells2, key1, digests)
    assert not matches(joint, np.zeros_like(values)).any()
    assert not matches(joint ^ decode(cells1, key1, digests), values).any()
    # negative control: had the guest reused host-1's VOLE for host-2, A1 + A2 = 0
    a1 = view.receivers["host-1", 0][3]
    reused = a1 ^ view.guest._table
    assert matches(decode(cells1 ^ reused, key1, digests), np.zeros_like(values)).all()


def byte_histogram(cells: Elements) -> npt.NDArray[np.int64]:
    return np.bincount(np.ascontiguousarray(cells).view(np.uint8).reshape(-1), minlength=256)


def bit_counts(cells: Elements) -> npt.NDArray[np.int64]:
    bits = np.unpackbits(np.ascontiguousarray(cells).view(np.uint8), axis=1)
    return np.stack([bits.sum(axis=0), len(bits) - bits.sum(axis=0)], axis=1).astype(np.int64)


def same_distribution(first: Elements, second: Elements) -> bool:
    """Two-sample chi-square on byte values and on each of the 128 bit positions (p > 1e-6)."""
    table = np.stack([byte_histogram(first), byte_histogram(second)])
    if chi2_contingency(table).pvalue <= 1e-6:
        return False
    counts = np.concatenate([bit_counts(first), bit_counts(second)], axis=1)  # (128, 4)
    both = np.stack([counts[:, :2], counts[:, 2:]], axis=1)  # (128, 2 sets, 2 outcomes)
    pvalues = [chi2_contingency(pair).pvalue for pair in both]
    return bool(min(pvalues) > 1e-6 / 128)  # Bonferroni over the bit positions


def test_cells_of_two_different_sets_look_alike(observe: Any) -> None:
    first = observe(ids(2000, seed=23), ids(50, seed=24)).cells("host-1")[1]
    second = observe(ids(2000, seed=25), ids(50, seed=26)).cells("host-1")[1]
    assert first.shape == second.shape == (3810 + 64, 2)  # okvs_size(2000) + 64 dense cells
    for cells in (first, second):
        bits = np.unpackbits(np.ascontiguousarray(cells).view(np.uint8))
        assert abs(float(bits.mean()) - 0.5) < 5 * 0.5 / np.sqrt(len(bits))
    assert same_distribution(first, second)
    # power control: the same test notices one byte column zeroed in 1/8 of the cells
    skewed = second.copy()
    skewed.view(np.uint8).reshape(-1, 16)[::8, 3] = 0
    assert not same_distribution(first, skewed)


# --- 3. the guest's view: tags and corrections --------------------------------------------------


def test_guest_cannot_recompute_the_tags_of_host_ids_it_does_not_hold(observe: Any) -> None:
    pool = ids(700, seed=31)
    guest_ids, host_ids = pool[:400], pool[300:700]  # 100 common, 300 host-only
    view = observe(guest_ids, host_ids)
    host = view.hosts["host-1"]
    sent = view.tags("host-1")
    by_id = {host_ids[int(row)]: sent[k] for k, row in enumerate(host._order)}
    _, _, _, _, c = view.receivers["host-1", 0]
    key = view.cells("host-1")[0]
    # the guest guesses the host's whole set and recomputes T(Decode(C, y)) for it
    values, digests = item_digests(host_ids, view.salt)
    guesses = tag_bytes(output_tags(decode(c, key, digests), tag_key(view.salt)))
    common = set(guest_ids)
    hit = [guess in set(sent) for guess in guesses]
    assert hit == [y in common for y in host_ids]  # the common ids, and only them
    assert [guess == by_id[y] for guess, y in zip(guesses, host_ids, strict=True)] == [
        y in common for y in host_ids
    ]
    # negative control: with the host's Delta the guest would recompute every tag:
    # T(Decode(C, y) + Delta (Decode(P, y) + H(y))) for members and non-members alike
    times = ConstantMultiplier(host._delta)
    offsets = decode(view.guest._table, key, digests) ^ values
    with_delta = output_tags(decode(c, key, digests) ^ times(offsets), tag_key(view.salt))
    assert tag_bytes(with_delta) == [by_id[y] for y in host_ids]


def shifted_deltas(delta: int) -> Elements:
    """``x^k Delta`` for ``k < 128``, with the scalar multiplication of :mod:`crypto.gf128`."""
    values = [multiply(1 << k, delta) for k in range(128)]
    return np.array([[v & (2**64 - 1), v >> 64] for v in values], dtype=np.uint64)


def attack_corrections(view: View, host: str, segment: int) -> None:
    """The guest unmasks one :class:`PsiVoleCorrections` with the pads it chose."""
    message = view.messages(PsiVoleCorrections, host)[segment]
    assert message.batch == segment
    receiver, chosen, _, _, _ = view.receivers[host, segment]
    params = receiver.params
    t, d = params.trees, params.depth
    shifted = shifted_deltas(view.hosts[host]._delta)
    base = np.frombuffer(message.base_corrections, dtype="<u8").reshape(t, 128, 2)
    mine = chosen[params.tree_ots :].reshape(t, 128, 2)
    # the guest's unmasking gives r_{1-b} + x^k Delta: never x^k Delta
    assert not (base ^ mine == shifted[None]).all(axis=2).any()
    # negative control: with the pad it did not choose, every instance gives x^k Delta
    pad0, pad1 = view.pads[host, segment]
    other = np.where(receiver.choices[:, None] == 1, pad0, pad1)[params.tree_ots :]
    assert np.array_equal(
        base ^ mine ^ other.reshape(t, 128, 2), np.broadcast_to(shifted, (t, 128, 2))
    )
    # the level sums: the off-path side unmasks to the real sum, the on-path side never
    masked = np.frombuffer(message.level_sums, dtype="<u8").reshape(t, d, 2, 2)
    real = view.level_sums[host, segment]
    path = (receiver._points[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1
    rows, levels = np.arange(t)[:, None], np.arange(d)[None, :]
    tree_pads = chosen[: params.tree_ots].reshape(t, d, 2)
    off_path = masked[rows, levels, 1 - path] ^ tree_pads
    on_path = masked[rows, levels, path] ^ tree_pads
    assert np.array_equal(off_path, real[rows, levels, 1 - path])
    assert not (on_path == real[rows, levels, path]).all(axis=2).any()


def test_guest_cannot_unmask_delta_from_the_corrections(observe: Any) -> None:
    view = observe(ids(500, seed=32), ids(300, seed=33))
    attack_corrections(view, "host-1", 0)


def test_several_voles_under_one_delta_share_no_pad(
    observe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every VOLE segment uses the host's one Delta, each with its own random OTs.

    XOR-ing the Gilboa corrections of two segments cancels ``x^k Delta`` and leaves
    ``r0 + r1`` of both: harmless while every pad masks one correction only.  Had two
    segments shared their OT instances, the XOR would be zero.
    """
    monkeypatch.setattr(vole_items, "MAX_VOLE_SIZE", 700)
    guest_ids = ids(1500, seed=34)
    view = observe(guest_ids, guest_ids[:200] + ids(300, seed=35))
    segments = sorted(segment for host, segment in view.receivers if host == "host-1")
    assert segments == list(range(len(segments))) and len(segments) >= 4
    for segment in segments:
        attack_corrections(view, "host-1", segment)
    bases = [
        np.frombuffer(m.base_corrections, dtype="<u8").reshape(-1, 2)
        for m in view.messages(PsiVoleCorrections, "host-1")
    ]
    pads = [np.concatenate(view.pads["host-1", segment]) for segment in segments]
    for first in segments:
        for second in segments[first + 1 :]:
            rows = min(len(bases[first]), len(bases[second]))
            combined = bases[first][:rows] ^ bases[second][:rows]
            assert not (combined == 0).all(axis=1).any()
            assert not blocks(pads[first].tobytes()) & blocks(pads[second].tobytes())
            # the control: the x^k Delta parts cancel exactly (one Delta for all segments)
            (p0, p1), (q0, q1) = view.pads["host-1", first], view.pads["host-1", second]
            tree_ots = (
                view.receivers["host-1", first][0].params.tree_ots,
                view.receivers["host-1", second][0].params.tree_ots,
            )
            r = (p0 ^ p1)[tree_ots[0] :][:rows] ^ (q0 ^ q1)[tree_ots[1] :][:rows]
            assert np.array_equal(combined, r)


# --- 4. replays ---------------------------------------------------------------------------------


def blocks(data: bytes) -> set[bytes]:
    return {data[k : k + 16] for k in range(0, len(data), 16)}


def test_two_runs_on_the_same_ids_share_nothing(observe: Any) -> None:
    pool = ids(600, seed=41)
    guest_ids, host_ids = pool[:400], pool[200:600]
    first = observe(guest_ids, host_ids)
    second = observe(guest_ids, host_ids)
    assert first.salt != second.salt
    (key1, cells1), (key2, cells2) = first.cells("host-1"), second.cells("host-1")
    assert key1 != key2 and cells1.shape == cells2.shape
    assert not matches(cells1, cells2).any()
    bits = np.unpackbits(np.ascontiguousarray(cells1 ^ cells2).view(np.uint8))
    assert abs(float(bits.mean()) - 0.5) < 5 * 0.5 / np.sqrt(len(bits))
    # the host's tags: not one in common, for common ids or not
    assert not set(first.tags("host-1")) & set(second.tags("host-1"))
    # the VOLE: fresh Delta, fresh noise, no repeated correction block
    assert first.hosts["host-1"]._delta != second.hosts["host-1"]._delta
    m1 = first.messages(PsiVoleCorrections, "host-1")[0]
    m2 = second.messages(PsiVoleCorrections, "host-1")[0]
    for name in ("level_sums", "base_corrections", "tree_sums"):
        assert not blocks(getattr(m1, name)) & blocks(getattr(m2, name))
    r1, r2 = first.receivers["host-1", 0][0], second.receivers["host-1", 0][0]
    assert not np.array_equal(r1._points, r2._points)
    assert r1._betas != r2._betas and not set(r1._betas) & set(r2._betas)
    # and the result is the same
    found = [{guest_ids[row] for row in view.guest.result.rows} for view in (first, second)]
    assert found[0] == found[1] == set(pool[200:400])
