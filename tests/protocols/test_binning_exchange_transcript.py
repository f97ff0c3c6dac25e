"""What leaves each party in the binning exchange: shuffled, re-randomised sums only."""

from __future__ import annotations

import itertools

import numpy as np
from gmpy2 import mpz

from crypto.binsums import bin_products, open_sums, pack_sums
from crypto.paillier import PaillierPrivateKey, PaillierPublicKey
from protocols.binning.exchange import BinningGuest, BinningHost, value_layout
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
    assert setup.rows == ROWS and not setup.weighted and setup.noise_epsilon == 0.0
    # the guest learns bin sizes and sums, feature by feature, in an order it cannot read
    assert sums.bins.tolist() == [3] * 6
    where = {size: (j, b) for j, sizes in enumerate(SIZES) for b, size in enumerate(sizes)}
    sent_order = [where[count] for count in sums.counts.tolist()]
    natural = [(j, b) for j in range(6) for b in range(3)]
    assert sorted(sent_order) == natural and sent_order != natural
    features = [sent_order[3 * k][0] for k in range(6)]
    assert all(sent_order[3 * k + i][0] == features[k] for k in range(6) for i in range(3))
    # each shuffled sum is the sum of the labels of the bin its size names
    decrypted = open_sums(keypair[1], sums.sums, 18, value_layout(ROWS, False)[1])
    assert decrypted == [int(labels[codes[:, j] == b].sum()) for j, b in sent_order]
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


def _assignments_matching(
    public_key: PaillierPublicKey, ciphertexts: list[mpz], sealed: list[mpz], slot_bits: int
) -> list[tuple[int, ...]]:
    """Every split of the rows into two bins whose packed sums equal ``sealed``."""
    n2 = mpz(public_key.nsquare)
    found = []
    for assignment in itertools.product((0, 1), repeat=len(ciphertexts)):
        products = [mpz(1), mpz(1)]
        for ciphertext, b in zip(ciphertexts, assignment, strict=True):
            products[b] = products[b] * ciphertext % n2
        if pack_sums(public_key, products, slot_bits) == sealed:
            found.append(assignment)
    return found


def test_the_guest_cannot_match_its_ciphertexts_to_the_sums(keypair: KeyPair) -> None:
    public_key = keypair[0]
    n2 = mpz(public_key.nsquare)
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 1])
    codes = np.array([[0], [1], [1], [0], [1], [1], [0], [0], [1], [0]])
    roles = make_roles(keypair, labels, {"host": (codes, [2])})
    transcript = run_roles(roles)
    (labels_message,) = [m for m in transcript if isinstance(m, BinLabels)]
    (sums_message,) = [m for m in transcript if isinstance(m, BinSums)]
    ciphertexts = [mpz(c) for c in labels_message.labels.ciphertexts]
    slot_bits = value_layout(len(labels), False)[1]
    members = tuple(np.flatnonzero(codes[:, 0] == 0).tolist())
    others = tuple(np.flatnonzero(codes[:, 0] == 1).tolist())

    # negative control: the host's products before re-randomisation give every row away
    products = bin_products(labels_message.labels, codes, [2])[0]
    assert _subset_matches(ciphertexts, products[0], n2) == [members]
    assert _subset_matches(ciphertexts, products[1], n2) == [others]
    deterministic = pack_sums(public_key, products, slot_bits)
    truth = tuple(codes[:, 0].tolist())
    assert _assignments_matching(public_key, ciphertexts, deterministic, slot_bits) == [truth]

    # what the protocol sends matches no split of the rows, the true one included
    sealed = [mpz(c) for c in sums_message.sums.ciphertexts]
    assert sealed != deterministic
    assert _assignments_matching(public_key, ciphertexts, sealed, slot_bits) == []
    assert roles["host"].done and roles["host"].result[0].events == (4.0, 1.0)


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
