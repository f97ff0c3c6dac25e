"""What leaves each party in the binning exchange: shuffled, re-randomised sums only."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gmpy2 import mpz

from crypto.binsums import bin_products, combine_positions, open_sums, pack_sums
from crypto.paillier import EncryptedVector, PaillierPrivateKey, PaillierPublicKey
from protocols.binning.exchange import BinningGuest, BinningHost, RowLayout
from protocols.messages import BinLabels, BinResult, BinSetup, BinSums
from tests.protocols.test_binning_exchange import make_roles, plaintext_statistics
from tests.support.protocol_harness import run_roles

KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]
ROWS = 60
SIZES = [(j + 1, 12 + j, 47 - 2 * j) for j in range(6)]
"""Rows per bin of six 3-bin features: all 18 sizes differ, so a size names its bin."""


def _codes(generator: np.random.Generator) -> np.ndarray:
    columns = [generator.permutation(np.repeat(np.arange(3), sizes)) for sizes in SIZES]
    return np.column_stack(columns)


def test_sums_leave_the_host_shuffled_and_come_back_unshuffled(keypair: KeyPair) -> None:
    generator = np.random.default_rng(11)
    labels = generator.integers(0, 2, size=ROWS)
    codes = _codes(generator)
    roles = make_roles(keypair, labels, {"host": (codes, [3] * 6)}, chunk_rows=25)
    transcript = run_roles(roles)
    # 60 rows in chunks of 27 rows (25 rounded up to 9 ciphertexts of 3 rows)
    assert [(m.kind.name, m.sender, m.batch) for m in transcript] == [
        ("BIN_SETUP", "guest", 0),
        ("BIN_LABELS", "guest", 0),
        ("BIN_LABELS", "guest", 1),
        ("BIN_LABELS", "guest", 2),
        ("BIN_SUMS", "host", 0),
        ("BIN_RESULT", "guest", 0),
    ]
    setup, sums, result = (
        next(m for m in transcript if isinstance(m, kind))
        for kind in (BinSetup, BinSums, BinResult)
    )
    assert (setup.rows, setup.chunk_rows, setup.rows_per_ciphertext) == (ROWS, 27, 3)
    assert not setup.weighted and setup.noise_epsilon == 0.0
    # the guest learns bin sizes and sums, feature by feature, in an order it cannot read
    assert sums.bins.tolist() == [3] * 6
    where = {size: (j, b) for j, sizes in enumerate(SIZES) for b, size in enumerate(sizes)}
    sent_order = [where[count] for count in sums.counts.tolist()]
    natural = [(j, b) for j in range(6) for b in range(3)]
    assert sorted(sent_order) == natural and sent_order != natural
    features = [sent_order[3 * k][0] for k in range(6)]
    assert all(sent_order[3 * k + i][0] == features[k] for k in range(6) for i in range(3))
    # each shuffled sum is the sum of the labels of the bin its size names
    layout = RowLayout.of(ROWS, weighted=False, rows_per_ciphertext=3)
    combined = open_sums(keypair[1], sums.sums, 18, layout.sum_bits)
    decrypted = [layout.bin_sum(value) for value in combined]
    assert decrypted == [int(labels[codes[:, j] == b].sum()) for j, b in sent_order]
    # the slots around the bin's sum hold other rows' sums, masked by 40 bits more than
    # any sum: none reads as a small number
    low = [value & ((1 << layout.slot_bits) - 1) for value in combined]
    assert min(low).bit_length() > layout.value_bits + 20
    # the statistics come back in that order and the host puts them back exactly
    expected = plaintext_statistics(labels, codes, [3] * 6, None)
    assert result.events.tolist() == [expected[j].events[b] for j, b in sent_order]
    assert roles["host"].result == expected
    # another run shuffles differently
    again = make_roles(keypair, labels, {"host": (codes, [3] * 6)})
    other = next(m for m in run_roles(again) if isinstance(m, BinSums))
    assert other.counts.tolist() != sums.counts.tolist()


def _subset_matches(ciphertexts: list[mpz], target: mpz, n2: mpz) -> list[tuple[int, ...]]:
    """The guest's attack: every subset of its ciphertexts whose product is ``target``."""
    found = []
    for size in range(len(ciphertexts) + 1):
        for subset in itertools.combinations(range(len(ciphertexts)), size):
            product = mpz(1)
            for i in subset:
                product = product * ciphertexts[i] % n2
            if product == target:
                found.append(subset)
    return found


def _sealed_for(
    public_key: PaillierPublicKey,
    vector: EncryptedVector,
    assignment: np.ndarray,
    layout: RowLayout,
) -> list[mpz]:
    """The host's packed sums before masks and re-randomisation, for a split of the rows."""
    k = layout.rows_per_ciphertext
    per_position = [
        bin_products(vector[: len(assignment[t::k])], assignment[t::k].reshape(-1, 1), [2])
        for t in range(k)
    ]
    combined = combine_positions(public_key, per_position, layout.slot_bits)
    return pack_sums(public_key, combined, layout.sum_bits)


def _assignments_matching(
    public_key: PaillierPublicKey, vector: EncryptedVector, sealed: list[mpz], layout: RowLayout
) -> list[tuple[int, ...]]:
    """The guest's attack: every split of the rows into two bins that explains ``sealed``."""
    rows = len(vector) * layout.rows_per_ciphertext
    return [
        assignment
        for assignment in itertools.product((0, 1), repeat=rows)
        if _sealed_for(public_key, vector, np.array(assignment), layout) == sealed
    ]


@pytest.mark.parametrize("rows_per_ciphertext", [1, 3])
def test_the_guest_cannot_match_its_ciphertexts_to_the_sums(
    keypair: KeyPair, rows_per_ciphertext: int
) -> None:
    public_key = keypair[0]
    n2 = mpz(public_key.nsquare)
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0, 1])
    codes = np.array([[0], [1], [1], [0], [1], [1], [0], [0], [1]])
    roles = make_roles(
        keypair, labels, {"host": (codes, [2])}, rows_per_ciphertext=rows_per_ciphertext
    )
    transcript = run_roles(roles)
    (labels_message,) = [m for m in transcript if isinstance(m, BinLabels)]
    (sums_message,) = [m for m in transcript if isinstance(m, BinSums)]
    vector = labels_message.labels
    layout = RowLayout.of(len(labels), weighted=False, rows_per_ciphertext=rows_per_ciphertext)
    truth = tuple(codes[:, 0].tolist())

    # negative control: the host's sums before masks and re-randomisation give every row away
    deterministic = _sealed_for(public_key, vector, codes[:, 0], layout)
    assert _assignments_matching(public_key, vector, deterministic, layout) == [truth]
    if rows_per_ciphertext == 1:  # even a bin's product alone: a subset of the ciphertexts
        ciphertexts = [mpz(c) for c in vector.ciphertexts]
        products = bin_products(vector, codes, [2])[0]
        assert _subset_matches(ciphertexts, products[0], n2) == [tuple(np.flatnonzero(codes == 0))]

    # what the protocol sends matches no split of the rows, the true one included
    sealed = [mpz(c) for c in sums_message.sums.ciphertexts]
    assert sealed != deterministic
    assert _assignments_matching(public_key, vector, sealed, layout) == []
    assert roles["host"].done and roles["host"].result[0].events == (3.0, 2.0)


def test_several_hosts_get_the_same_labels_and_their_own_results(keypair: KeyPair) -> None:
    generator = np.random.default_rng(5)
    labels = generator.integers(0, 2, size=ROWS)
    hosts = {
        "host-1": (_codes(generator), [3] * 6),
        "host-2": (generator.integers(0, 4, size=(ROWS, 2)), [4, 4]),
    }
    roles = make_roles(keypair, labels, hosts)
    transcript = run_roles(roles)
    chunks = {m.receiver: m.labels.ciphertexts for m in transcript if isinstance(m, BinLabels)}
    assert chunks["host-1"] == chunks["host-2"]  # encrypted once for every host
    for name, (codes, n_bins) in hosts.items():
        assert roles[name].result == plaintext_statistics(labels, codes, n_bins, None)
        guest_view = roles["guest"].result[name]
        assert isinstance(roles["guest"], BinningGuest) and isinstance(roles[name], BinningHost)
        assert sorted(len(s.rows) for s in guest_view) == sorted(n_bins)
