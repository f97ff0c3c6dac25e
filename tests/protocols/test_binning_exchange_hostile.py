"""Hostile inputs to the binning exchange are refused with a ProtocolError saying what."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from gmpy2 import mpz

from crypto.binsums import seal_sums, sum_layout
from crypto.paillier import EncryptedVector, MaskedVector, PaillierPrivateKey, PaillierPublicKey
from crypto.shares import encrypt_integers
from protocols.binning.exchange import (
    MAX_BINS,
    BinningGuest,
    BinningHost,
    LabelNoise,
)
from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.messages import BinLabels, BinResult, BinSums, Message

KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]
JOB = "job-1"
LABELS = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
CODES = np.array([[0, 0], [0, 1], [0, 2], [0, 0], [1, 1], [1, 2]] * 2)
N_BINS = [2, 3]


class Exchange:
    """A guest and a host stepped by hand, keeping every message for tampering."""

    def __init__(self, keypair: KeyPair, **guest_options: Any) -> None:
        options = {"keypair": keypair, "min_bin_rows": 2, "chunk_rows": 3, **guest_options}
        self.guest = BinningGuest("guest", JOB, hosts=["host"], labels=LABELS, **options)
        self.host = BinningHost(
            "host", JOB, guest="guest", codes=CODES, n_bins=N_BINS, min_bin_rows=2,
            min_key_bits=1024,
        )  # fmt: skip
        (self.setup,) = self.guest.start()
        self.chunks: list[Message] = []
        while self.guest.has_work:
            self.chunks += self.guest.work()

    def sums(self) -> BinSums:
        assert self.host.receive(self.setup) == []
        for chunk in self.chunks[:-1]:
            assert self.host.receive(chunk) == []
        (sums,) = self.host.receive(self.chunks[-1])
        assert isinstance(sums, BinSums)
        return sums

    def result(self) -> BinResult:
        (result,) = self.guest.receive(self.sums())
        assert isinstance(result, BinResult)
        return result


def test_the_honest_exchange_completes(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    assert len(exchange.chunks) == 4  # 3 rows (one ciphertext) a chunk
    exchange.host.receive(exchange.result())
    assert exchange.host.done and exchange.guest.done
    assert exchange.host.result[0].rows == (8, 4)


# --- the host refuses ------------------------------------------------------------------


def test_host_refuses_messages_from_another_party_or_out_of_turn(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    forged = dataclasses.replace(exchange.setup, sender="mallory")
    with pytest.raises(UnexpectedMessageError, match="mallory"):
        exchange.host.receive(forged)
    with pytest.raises(UnexpectedMessageError, match="waiting for the setup"):
        exchange.host.receive(exchange.chunks[0])  # labels before the setup
    exchange.host.receive(exchange.setup)
    with pytest.raises(UnexpectedMessageError):
        exchange.host.receive(exchange.setup)  # the setup replayed
    exchange.host.receive(exchange.chunks[0])
    with pytest.raises(ProtocolError, match="batch 0; expected round 0 batch 1"):
        exchange.host.receive(exchange.chunks[0])  # a chunk replayed
    with pytest.raises(ProtocolError, match="batch 2; expected round 0 batch 1"):
        exchange.host.receive(exchange.chunks[2])  # a chunk skipped
    with pytest.raises(ProtocolError, match="round 3"):
        exchange.host.receive(dataclasses.replace(exchange.chunks[1], round=3))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"rows": 13}, "bins 13 rows but this party has 12"),
        ({"chunk_rows": 0}, "chunk size 0 is not a positive multiple of its 3 rows"),
        ({"chunk_rows": 4}, "chunk size 4 is not a positive multiple of its 3 rows"),
        ({"rows_per_ciphertext": 0}, r"rows per ciphertext 0 is not in \[1, 64\]"),
        ({"rows_per_ciphertext": 65, "chunk_rows": 65}, "rows per ciphertext 65 is not in"),
        ({"rows_per_ciphertext": 40, "chunk_rows": 40}, "cannot hold 40 rows per ciphertext"),
        ({"min_bin_rows": 0}, r"min_bin_rows 0 is not in \[1, 12\]"),
        ({"min_bin_rows": 5}, "feature 0 has a bin of 4 rows|feature 1 has a bin of 4 rows"),
        ({"noise_epsilon": float("nan")}, "invalid noise parameters"),
        ({"noise_delta": 1.0}, "invalid noise parameters"),
    ],
)
def test_host_refuses_a_setup_it_cannot_follow(
    keypair: KeyPair, change: dict[str, Any], match: str
) -> None:
    exchange = Exchange(keypair)
    with pytest.raises(ProtocolError, match=match):
        exchange.host.receive(dataclasses.replace(exchange.setup, **change))


def test_host_refuses_a_short_key(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    exchange.host.min_key_bits = 2048
    with pytest.raises(ProtocolError, match="1024-bit key is below the 2048-bit minimum"):
        exchange.host.receive(exchange.setup)


def _labels(message: Message, vector: Any) -> BinLabels:
    assert isinstance(message, BinLabels)
    return dataclasses.replace(message, labels=vector)


def test_host_refuses_label_chunks_of_the_wrong_size_key_or_values(
    keypair: KeyPair, other_keypair: KeyPair, private_key: PaillierPrivateKey
) -> None:
    exchange = Exchange(keypair)
    exchange.host.receive(exchange.setup)
    chunk = exchange.chunks[0]
    # a chunk of 3 rows is one ciphertext (3 rows to a ciphertext)
    long = encrypt_integers(private_key, [1, 0], bits=1)
    with pytest.raises(ProtocolError, match="holds 2 values at exponent 0, expected 1"):
        exchange.host.receive(_labels(chunk, long))
    foreign = encrypt_integers(other_keypair[1], [1], bits=1)
    with pytest.raises(ProtocolError, match="labels under another key"):
        exchange.host.receive(_labels(chunk, foreign))
    scaled = keypair[0].encrypt_vector([1.0])
    with pytest.raises(ProtocolError, match="expected 1 at exponent 0"):
        exchange.host.receive(_labels(chunk, scaled))
    n2 = mpz(keypair[0].nsquare)
    good = list(encrypt_integers(private_key, [1], bits=1)._ciphertexts)
    for bad, match in [(n2 + 3, r"outside \(0, n\*\*2\)"), (mpz(private_key.p) * 7, "factor")]:
        forged = EncryptedVector._trusted(keypair[0], [bad], 0, 2)
        with pytest.raises(ProtocolError, match=f"label chunk 0 is invalid: .*{match}"):
            exchange.host.receive(_labels(chunk, forged))
    with pytest.raises(ProtocolError, match="not a ciphertext vector"):
        exchange.host.receive(_labels(chunk, MaskedVector(keypair[0], good)))


def _result(result: BinResult, **changes: Any) -> BinResult:
    return dataclasses.replace(result, **changes)


def test_host_refuses_statistics_that_do_not_fit(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    result = exchange.result()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"events": result.events[:-1]}, "events holds 4 values, expected 5"),
        ({"events": result.events.reshape(1, -1)}, "events must be a 1-D float array"),
        ({"woe": result.woe.astype(np.int64)}, "WOE must be a 1-D float array"),
        ({"iv": np.array([np.nan, 0.1])}, "IV holds a value that is not finite"),
        ({"non_events": -result.non_events - 1}, "negative value"),
        ({"events": result.events + 1}, "do not add up to this party's bin sizes"),
        ({"woe": result.woe + 0.5}, "WOE or IV do not follow from its counts"),
        ({"iv": result.iv * 2 + 1}, "WOE or IV do not follow from its counts"),
        ({"noise_sigma": 2.0}, "noise sigma 2.0 does not match"),
        ({"noise_sigma": float("inf")}, "noise sigma inf does not match"),
    ]
    for change, match in bad:
        with pytest.raises(ProtocolError, match=match):
            exchange.host.receive(_result(result, **change))
    with pytest.raises(ProtocolError, match="batch 1"):
        exchange.host.receive(_result(result, batch=1))
    exchange.host.receive(result)
    with pytest.raises(UnexpectedMessageError, match="finished"):
        exchange.host.receive(result)  # replayed


# --- construction: bins too small or too many -----------------------------------------


def test_host_refuses_small_or_too_many_bins_before_any_crypto() -> None:
    codes = np.array([[0, 0]] * 9 + [[1, 1]] + [[1, 2]] * 9)
    with pytest.raises(ProtocolError, match=r"feature 1 has a bin of 1 rows \(bin 1\)"):
        BinningHost("host", JOB, guest="guest", codes=codes, n_bins=[2, 3], min_bin_rows=5)
    with pytest.raises(ProtocolError, match=f"1 to {MAX_BINS} bins"):
        BinningHost("host", JOB, guest="guest", codes=codes, n_bins=[2, MAX_BINS + 1])
    with pytest.raises(ProtocolError, match="code outside"):
        BinningHost("host", JOB, guest="guest", codes=codes, n_bins=[2, 2], min_bin_rows=1)
    with pytest.raises(ProtocolError, match="integer array"):
        BinningHost("host", JOB, guest="guest", codes=codes * 0.5, n_bins=[2, 3])
    with pytest.raises(ProtocolError, match="n_bins lists 1"):
        BinningHost("host", JOB, guest="guest", codes=codes, n_bins=[2])
    # empty bins are fine: they are about no one
    host = BinningHost("host", JOB, guest="guest", codes=codes[:9], n_bins=[2, 3], min_bin_rows=5)
    assert host.counts.tolist() == [9, 0, 9, 0, 0]


def test_guest_refuses_unusable_labels_or_weights() -> None:
    with pytest.raises(ProtocolError, match="0/1 labels"):
        BinningGuest("guest", JOB, hosts=["host"], labels=[0, 2])
    with pytest.raises(ProtocolError, match="distinct other parties"):
        BinningGuest("guest", JOB, hosts=["guest"], labels=[0, 1])
    with pytest.raises(ProtocolError, match="weights must be in"):
        BinningGuest("guest", JOB, hosts=["host"], labels=[0, 1], weights=[1.0, -1.0])
    with pytest.raises(ProtocolError, match="one finite value per label"):
        BinningGuest("guest", JOB, hosts=["host"], labels=[0, 1], weights=[1.0])
    with pytest.raises(ProtocolError, match="positive finite epsilon"):
        LabelNoise(epsilon=0.0)


# --- the guest refuses -----------------------------------------------------------------


def _sums(message: BinSums, **changes: Any) -> BinSums:
    return dataclasses.replace(message, **changes)


def _forged(exchange: Exchange, keypair: KeyPair, sums: list[int]) -> MaskedVector:
    """Sealed per-bin sums by the public layout, with the given bin sums (no masks)."""
    layout = exchange.guest.layout
    shift = layout.slot_bits * (layout.rows_per_ciphertext - 1)
    combined = encrypt_integers(keypair[1], [v << shift for v in sums], bits=layout.sum_bits)
    return seal_sums(keypair[0], list(combined._ciphertexts), layout.sum_bits)


def test_guest_refuses_sums_from_another_party_early_or_twice(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    sums = exchange.sums()
    with pytest.raises(UnexpectedMessageError, match="mallory"):
        exchange.guest.receive(_sums(sums, sender="mallory"))
    early = Exchange(keypair)
    early.guest._chunks_sent = 1  # labels still to send
    with pytest.raises(UnexpectedMessageError, match="sending labels"):
        early.guest.receive(sums)
    exchange.guest.receive(sums)
    with pytest.raises(UnexpectedMessageError, match="finished"):
        exchange.guest.receive(sums)


def test_guest_refuses_counts_that_do_not_fit(keypair: KeyPair) -> None:
    exchange = Exchange(keypair)
    sums = exchange.sums()
    counts, bins = sums.counts, sums.bins
    shifted = counts.copy()
    shifted[0] += 1
    small = counts.copy()  # the first feature's rows all there, but in a bin of 1 row
    small[: bins[0]] = [11, 1] if bins[0] == 2 else [10, 1, 1]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"counts": counts[:-1]}, "bin counts holds 4 values, expected 5"),
        ({"counts": shifted}, "bins of feature 0 hold 13 rows, not the 12 aligned rows"),
        ({"counts": counts.astype(np.float64)}, "bin counts must be a 1-D integer array"),
        ({"counts": -counts}, "negative or oversized"),
        ({"bins": bins.astype(np.float64)}, "bins must be a 1-D integer array"),
        ({"bins": bins.reshape(1, -1)}, "bins must be a 1-D integer array"),
        ({"bins": np.array([], dtype=np.int64)}, r"feature count 0 is not in \[1, "),
        ({"bins": np.array([MAX_BINS + 1, 1])}, f"1 to {MAX_BINS} bins"),
        ({"bins": np.array([0, 5])}, "at least one bin"),
        ({"counts": small}, r"feature 0 has a bin of fewer than 2 rows \(bin 1\)"),
    ]
    for change, match in bad:
        with pytest.raises(ProtocolError, match=match):
            exchange.guest.receive(_sums(sums, **change))
    assert not exchange.guest.done


def test_guest_refuses_sums_that_do_not_decrypt_by_the_layout(
    keypair: KeyPair, other_keypair: KeyPair
) -> None:
    public_key, private_key = keypair
    exchange = Exchange(keypair)
    sums = exchange.sums()
    ciphertexts = [mpz(c) for c in sums.sums.ciphertexts]
    layout = exchange.guest.layout
    assert layout.rows_per_ciphertext == 3  # the default packing of rows
    packed = sum_layout(5, layout.sum_bits, public_key).ciphertexts
    assert len(ciphertexts) == packed
    bad: list[tuple[Any, str]] = [
        (MaskedVector(public_key, ciphertexts * 2), f"expected {packed} ciphertexts of 5 packed"),
        (MaskedVector(public_key, [mpz(private_key.p) * 3, *ciphertexts[1:]]), "shares a factor"),
        (MaskedVector(public_key, [mpz(0), *ciphertexts[1:]]), r"outside \(0, n\*\*2\)"),
        (MaskedVector(other_keypair[0], ciphertexts), "under another key"),
        (EncryptedVector._trusted(public_key, ciphertexts, 0, 1), "under another key"),
    ]
    # the public layout, dishonest sums: more events than rows, totals that do not add up,
    # a sum beyond any sum of labels
    for values, match in [
        ([9, 0, 0, 0, 0], "more events than rows"),
        ([1, 0, 0, 0, 0], "do not add up to the label total"),
        ([1 << layout.value_bits, 0, 0, 0, 0], "exceed the public bound"),
    ]:
        bad.append((_forged(exchange, keypair, values), match))
    for vector, match in bad:
        with pytest.raises(ProtocolError, match=match):
            exchange.guest.receive(_sums(sums, sums=vector))
    assert not exchange.guest.done
    exchange.guest.receive(sums)  # the honest message still goes through
    assert exchange.guest.done


def test_guest_refuses_weighted_sums_beyond_the_weights(keypair: KeyPair) -> None:
    weights = np.linspace(0.5, 2.0, len(LABELS))
    exchange = Exchange(keypair, weights=weights)
    sums = exchange.sums()
    forged = _forged(exchange, keypair, [1, 0, 0, 0, 0])  # a weighted event without weight
    with pytest.raises(ProtocolError, match="more weighted events than weight"):
        exchange.guest.receive(_sums(sums, sums=forged))
    exchange.guest.receive(sums)
    assert exchange.guest.done
