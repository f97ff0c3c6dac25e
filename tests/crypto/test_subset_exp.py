"""Grouped subset products over bit planes against naive powmods and the other matmul plans."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import given
from hypothesis import strategies as st

from crypto import subset_exp
from crypto.paillier import PaillierPrivateKey, PaillierPublicKey, _kernels
from crypto.paillier.vector import EncryptedVector
from crypto.subset_exp import subset_cost, subset_multi_exp_rows

Problem = tuple[list[mpz], list[list[int]], mpz]
PRIMES = [mpz(p) for p in (1000003, 2**31 - 1, 2**61 - 1, 998244353, 2**89 - 1, 65537)]


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    p, q = draw(st.lists(st.sampled_from(PRIMES), min_size=2, max_size=2, unique=True))
    modulus = (p * q) ** 2
    columns = draw(st.integers(min_value=0, max_value=25))
    count = draw(st.integers(min_value=0, max_value=6))
    bits = draw(st.sampled_from([1, 2, 7, 25, 35, 70]))
    entry = st.one_of(st.just(0), st.integers(min_value=-(2**bits), max_value=2**bits))
    units = st.integers(min_value=1, max_value=int(modulus) - 1).filter(
        lambda v: gmpy2.gcd(v, modulus) == 1
    )
    bases = [mpz(b) for b in draw(st.lists(units, min_size=columns, max_size=columns))]
    rows = draw(
        st.lists(
            st.lists(entry, min_size=columns, max_size=columns), min_size=count, max_size=count
        )
    )
    return bases, rows, modulus


def _naive(bases: list[mpz], rows: list[list[int]], modulus: mpz) -> list[mpz]:
    result = []
    for row in rows:
        product = mpz(1)
        for base, exponent in zip(bases, row, strict=True):
            product = product * gmpy2.powmod(base, exponent, modulus) % modulus
        result.append(product)
    return result


@given(problems(), st.sampled_from([None, 1, 2, 3, 5, 8]))
def test_subset_products_match_naive_powmods(problem: Problem, group_size: int | None) -> None:
    bases, rows, modulus = problem
    assert subset_multi_exp_rows(bases, rows, modulus, group_size) == _naive(bases, rows, modulus)


@given(problems())
def test_subset_products_in_several_table_batches(
    monkeypatch: pytest.MonkeyPatch, problem: Problem
) -> None:
    monkeypatch.setattr(subset_exp, "_TABLE_ENTRIES_PER_BATCH", 8)  # two groups of 2 per batch
    bases, rows, modulus = problem
    assert subset_multi_exp_rows(bases, rows, modulus, 2) == _naive(bases, rows, modulus)


def test_subset_products_edge_cases() -> None:
    modulus = (PRIMES[0] * PRIMES[1]) ** 2
    assert subset_multi_exp_rows([], [], modulus) == []
    assert subset_multi_exp_rows([], [[], []], modulus) == [1, 1]
    assert subset_multi_exp_rows([mpz(7)], [[0], [-3], [5]], modulus) == [
        1,
        gmpy2.powmod(7, -3, modulus),
        gmpy2.powmod(7, 5, modulus),
    ]
    with pytest.raises(ValueError):
        subset_multi_exp_rows([mpz(7)], [[1, 2]], modulus)
    with pytest.raises(ZeroDivisionError):
        subset_multi_exp_rows([PRIMES[0]], [[-1]], modulus)


def test_subset_cost_prefers_shared_tables_for_both_product_shapes() -> None:
    cost, group = subset_cost(330, 1024, 25)
    assert 8 <= group <= 12 and cost < 330 * 1024 * 4  # under one table lookup per byte
    assert subset_cost(1024, 300, 25)[1] in range(8, 13)
    assert subset_cost(0, 5, 25) == (0, 1)


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda k: st.lists(
            st.lists(
                st.one_of(st.just(0), st.integers(min_value=-(2**30), max_value=2**30)),
                min_size=k,
                max_size=k,
            ),
            min_size=1,
            max_size=5,
        )
    )
)
def test_subset_kernel_equals_the_other_kernels_on_paillier_ciphertexts(
    public_key: PaillierPublicKey, rows: list[list[int]]
) -> None:
    ev = public_key.encrypt_vector(np.arange(len(rows[0]), dtype=float) - 3.0)
    ciphertexts = [mpz(c) for c in ev.ciphertexts]
    n2 = public_key.n**2
    new = _kernels.matmul_subsets(ciphertexts, rows, n2)
    assert new == _kernels.matmul_tables(ciphertexts, rows, n2)
    assert new == _kernels.matmul_buckets(ciphertexts, rows, n2)


@pytest.mark.parametrize(
    "shape", [(1, 1), (30, 3), (3, 30), (1, 0), (0, 4), (64, 40), (8, 100)], ids=str
)
@pytest.mark.parametrize("workers", [1, 2])
def test_matmul_with_the_subset_plan_decrypts_to_the_exact_product(
    monkeypatch: pytest.MonkeyPatch,
    public_key: PaillierPublicKey,
    private_key: PaillierPrivateKey,
    shape: tuple[int, int],
    workers: int,
) -> None:
    monkeypatch.setattr(EncryptedVector, "_matmul_plan", "subsets")
    rng = np.random.default_rng(sum(shape) + workers)
    count, width = shape
    values = rng.integers(-1000, 1000, size=width)
    matrix = rng.integers(-(2**20), 2**20, size=(count, width))
    matrix[:, :1] = 0  # a zero column
    if count:
        matrix[0] = 0  # an all-zero row
    ev = public_key.encrypt_vector(values.astype(float))
    with ThreadPoolExecutor(workers) as executor:
        product = ev.matmul(matrix, executor=executor)
    decrypted = private_key.decrypt_vector(product)
    assert decrypted.tolist() == (matrix @ values).astype(float).tolist()


def test_matmul_picks_the_subset_plan_for_both_product_shapes(
    monkeypatch: pytest.MonkeyPatch, public_key: PaillierPublicKey, private_key: PaillierPrivateKey
) -> None:
    calls: list[tuple[int, int]] = []

    def spy(ciphertexts: list[mpz], rows: list[list[int]], modulus: mpz) -> list[mpz]:
        calls.append((len(rows), len(ciphertexts)))
        return subset_multi_exp_rows(ciphertexts, rows, modulus)

    monkeypatch.setattr(_kernels, "matmul_subsets", spy)
    rng = np.random.default_rng(5)
    values = rng.integers(-50, 50, size=40)
    ev = public_key.encrypt_vector(values.astype(float))
    matrix = rng.integers(-(2**24), 2**24, size=(200, 40))
    assert private_key.decrypt_vector(ev.matmul(matrix, n_jobs=1)).tolist() == (
        (matrix @ values).astype(float).tolist()
    )
    long_rows = public_key.encrypt_vector(rng.integers(-50, 50, size=200).astype(float))
    private_key.decrypt_vector(long_rows.matmul(matrix.T, n_jobs=1))
    assert calls == [(200, 40), (40, 200)]
