"""The binning exchange: encrypted per-bin label sums equal a plaintext computation."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.paillier import PaillierPrivateKey, PaillierPublicKey
from protocols.binning.exchange import (
    WEIGHT_FRACTION_BITS,
    BinningGuest,
    BinningHost,
    BinStatistics,
    LabelNoise,
)
from protocols.binning.woe import woe_iv
from protocols.exceptions import ProtocolError
from protocols.messages import BinResult, BinSetup
from tests.support.protocol_harness import run_roles

JOB = "job-1"
KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]


def make_roles(
    keypair: KeyPair,
    labels: np.ndarray,
    host_codes: dict[str, tuple[np.ndarray, list[int]]],
    *,
    weights: np.ndarray | None = None,
    chunk_rows: int | None = None,
    min_bin_rows: int = 1,
    noise: LabelNoise | None = None,
    rows_per_ciphertext: int = 3,
) -> dict[str, BinningGuest | BinningHost]:
    roles: dict[str, BinningGuest | BinningHost] = {
        "guest": BinningGuest(
            "guest",
            JOB,
            hosts=list(host_codes),
            labels=labels,
            weights=weights,
            keypair=keypair,
            min_bin_rows=min_bin_rows,
            chunk_rows=chunk_rows,
            noise=noise,
            rows_per_ciphertext=rows_per_ciphertext,
        )
    }
    for name, (codes, n_bins) in host_codes.items():
        roles[name] = BinningHost(
            name,
            JOB,
            guest="guest",
            codes=codes,
            n_bins=n_bins,
            min_bin_rows=min_bin_rows,
            min_key_bits=1024,
        )
    return roles


def plaintext_statistics(
    labels: np.ndarray, codes: np.ndarray, n_bins: list[int], weights: np.ndarray | None
) -> list[BinStatistics]:
    """The same statistics computed in the clear with numpy (an independent implementation)."""
    if weights is None:
        row_weights = np.ones(len(labels))
        scale = 1.0
    else:  # the protocol's fixed point: integers, exact in float64 at these sizes
        row_weights = np.rint(weights * 2.0**WEIGHT_FRACTION_BITS)
        scale = 2.0**WEIGHT_FRACTION_BITS
    result = []
    for j, bins in enumerate(n_bins):
        rows = np.bincount(codes[:, j], minlength=bins)
        events = np.bincount(codes[:, j], weights=row_weights * labels, minlength=bins) / scale
        totals = np.bincount(codes[:, j], weights=row_weights, minlength=bins) / scale
        non_events = totals - events
        woe, iv = woe_iv(events, non_events)
        result.append(
            BinStatistics(
                rows=tuple(rows.tolist()),
                events=tuple(events.tolist()),
                non_events=tuple(non_events.tolist()),
                woe=tuple(woe.tolist()),
                iv=iv,
            )
        )
    return result


@st.composite
def binning_cases(draw: st.DrawFn) -> tuple[np.ndarray, dict, np.ndarray | None, int, int]:
    rows = draw(st.integers(1, 40))
    generator = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = generator.integers(0, 2, size=rows)
    hosts = {}
    for name in ["host-1", "host-2"][: draw(st.integers(1, 2))]:
        n_bins = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
        codes = np.column_stack([generator.integers(0, b, size=rows) for b in n_bins])
        hosts[name] = (codes, n_bins)
    weights = None
    if draw(st.booleans()):
        weights = np.round(generator.uniform(0.0, 30.0, size=rows), draw(st.integers(0, 9)))
        weights[0] = max(weights[0], 0.5)  # at least one positive weight
    chunk_rows = draw(st.integers(1, rows + 3))
    rows_per_ciphertext = draw(st.integers(1, 5))  # weighted, 1024 bits hold 4: the guest packs 4
    return labels, hosts, weights, chunk_rows, rows_per_ciphertext


@given(binning_cases(), st.randoms(use_true_random=False))
def test_encrypted_counts_equal_a_plaintext_computation(
    keypair: KeyPair, case: tuple, rng: random.Random
) -> None:
    labels, hosts, weights, chunk_rows, rows_per_ciphertext = case
    roles = make_roles(
        keypair,
        labels,
        hosts,
        weights=weights,
        chunk_rows=chunk_rows,
        rows_per_ciphertext=rows_per_ciphertext,
    )
    run_roles(roles, rng=rng)
    for name, (codes, n_bins) in hosts.items():
        expected = plaintext_statistics(labels, codes, n_bins, weights)
        assert roles[name].done
        assert roles[name].result == expected  # exact, in the host's own order
        # the guest holds the same statistics, features and bins in an order of the host's
        guest_view = roles["guest"].result[name]
        assert sorted(guest_view, key=repr) != [] and len(guest_view) == len(expected)
        for statistics in guest_view:
            matches = [
                e
                for e in expected
                if sorted(zip(e.rows, e.events, e.non_events, e.woe, strict=True))
                == sorted(
                    zip(
                        statistics.rows,
                        statistics.events,
                        statistics.non_events,
                        statistics.woe,
                        strict=True,
                    )
                )
            ]
            assert matches and matches[0].iv == pytest.approx(statistics.iv, rel=1e-12)


def test_label_noise_is_calibrated_over_every_feature_of_every_host(keypair: KeyPair) -> None:
    generator = np.random.default_rng(3)
    rows = 1600
    labels = generator.integers(0, 2, size=rows)
    hosts = {
        "host-1": (generator.integers(0, 4, size=(rows, 3)), [4, 4, 4]),
        "host-2": (generator.integers(0, 4, size=(rows, 2)), [4, 4]),
    }
    noise = LabelNoise(epsilon=2.0)
    roles = make_roles(keypair, labels, hosts, min_bin_rows=50, noise=noise)
    transcript = run_roles(roles)
    # one label moves one bin of each of the 5 features (either host): sensitivity sqrt(2 * 5)
    sigma = noise.sigma(features=5)
    assert sigma == pytest.approx(LabelNoise(epsilon=2.0).sigma(1) * np.sqrt(5))
    assert {m.noise_sigma for m in transcript if isinstance(m, BinResult)} == {sigma}
    setup = next(m for m in transcript if isinstance(m, BinSetup))
    assert (setup.noise_epsilon, setup.noise_delta) == (2.0, noise.delta)
    errors = []
    for name, (codes, n_bins) in hosts.items():
        exact = plaintext_statistics(labels, codes, n_bins, None)
        for noisy, truth in zip(roles[name].result, exact, strict=True):
            assert noisy.rows == truth.rows
            woe, iv = woe_iv(noisy.events, noisy.non_events)  # WOE from the noisy counts
            assert noisy.woe == tuple(woe.tolist()) and noisy.iv == iv
            errors += [a - b for a, b in zip(noisy.events, truth.events, strict=True)]
            errors += [a - b for a, b in zip(noisy.non_events, truth.non_events, strict=True)]
    # 40 independent draws (no bin is near 0, so none was clipped): their spread is sigma's
    assert 0.6 * sigma < float(np.std(errors)) < 1.5 * sigma


def test_label_noise_is_refused_with_row_weights() -> None:
    with pytest.raises(ProtocolError, match="label noise needs unweighted rows"):
        BinningGuest(
            "guest", "job-1", hosts=["host"], labels=[0, 1], weights=[1.0, 2.0],
            noise=LabelNoise(epsilon=1.0),
        )  # fmt: skip
