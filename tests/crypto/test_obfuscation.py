"""Obfuscators: valid n-th residues, from the CSPRNG, never used twice."""

from __future__ import annotations

import gmpy2
import numpy as np

from crypto.paillier import EncryptedNumber, _kernels
from crypto.paillier.obfuscation import (
    ObfuscatorPool,
    derive_obfuscation_base,
    fresh_exponent_bits,
    statistical_exponent_bits,
)


def _decrypts_to_zero(private_key, value) -> bool:
    return private_key.raw_decrypt(int(value)) == 0


def test_the_base_is_derived_from_n_alone_and_is_an_nth_residue(public_key, private_key) -> None:
    hs = derive_obfuscation_base(gmpy2.mpz(public_key.n))
    assert hs == public_key.obfuscation_base
    assert derive_obfuscation_base.__wrapped__(gmpy2.mpz(public_key.n)) == hs  # deterministic
    assert _decrypts_to_zero(private_key, hs)
    assert gmpy2.gcd(hs, public_key.n) == 1 and hs != 1


def test_exponent_lengths(public_key) -> None:
    assert fresh_exponent_bits(public_key.n) == public_key.bits // 2
    assert statistical_exponent_bits(public_key.n) == public_key.bits + 128


def test_every_kind_of_obfuscator_is_an_nth_residue(public_key, private_key) -> None:
    n = gmpy2.mpz(public_key.n)
    public = _kernels.obfuscators_public(n, fresh_exponent_bits(n), 5)
    owner = _kernels.obfuscators_owner(gmpy2.mpz(private_key.p), gmpy2.mpz(private_key.q), 5)
    statistical = _kernels.rerandomize_public(n, [gmpy2.mpz(1)] * 5, None)
    for value in public + owner + statistical:
        assert _decrypts_to_zero(private_key, value)
    assert len(set(public + owner + statistical)) == 15


def test_owner_obfuscators_lie_in_the_subgroup_of_the_public_base(public_key, private_key) -> None:
    # h**(n*r) for some r: raising to lambda(n)/... is hard to test directly; instead check the
    # CRT recombination against a direct exponentiation with the same exponent
    context = _kernels.owner_context(gmpy2.mpz(private_key.p), gmpy2.mpz(private_key.q))
    table_p, table_q = context.tables()
    r = 123456789123456789
    direct = gmpy2.powmod(public_key.obfuscation_base, r, public_key.nsquare)
    via_crt = context.crt_square(table_p.pow(r % (context.p - 1)), table_q.pow(r % (context.q - 1)))
    assert via_crt == direct


def test_encrypting_the_same_value_never_repeats_a_ciphertext(public_key, private_key) -> None:
    values = np.zeros(50)
    seen = set(public_key.encrypt_vector(values).ciphertexts)
    seen |= set(public_key.encrypt_vector(values).ciphertexts)
    seen |= set(private_key.encrypt_vector(values).ciphertexts)
    seen |= {public_key.encrypt(0).ciphertext() for _ in range(10)}
    assert len(seen) == 160


def test_precomputed_obfuscators_are_consumed_once(public_key, private_key) -> None:
    public_key._pool.clear()
    assert public_key.precompute_obfuscators(20) == 20
    pooled = list(public_key._pool._items)
    ev = public_key.encrypt_vector(np.arange(8.0))
    assert public_key.precomputed_obfuscators == 12
    assert private_key.decrypt_vector(ev).tolist() == list(range(8))
    # the ciphertexts used exactly the first eight pooled obfuscators, each once
    n, n2 = public_key.n, public_key.nsquare
    for c, rho, m in zip(ev.ciphertexts, pooled[:8], range(8), strict=True):
        assert c == (1 + m * 2**32 * n) * rho % n2
    assert not set(pooled[:8]) & set(public_key._pool._items)
    single = public_key.encrypt(5)
    assert public_key.precomputed_obfuscators == 11
    assert private_key.decrypt(single) == 5
    big = public_key.encrypt_vector(np.ones(30))  # pool runs dry, the rest is fresh
    assert public_key.precomputed_obfuscators == 0
    assert private_key.decrypt_vector(big).tolist() == [1.0] * 30


def test_owner_pool(private_key) -> None:
    private_key.precompute_obfuscators(4)
    ev = private_key.encrypt_vector(np.array([1.0, 2.0, 3.0]))
    assert private_key.precomputed_obfuscators == 1
    assert private_key.decrypt_vector(ev).tolist() == [1.0, 2.0, 3.0]


def test_pool_take_is_bounded_by_its_content() -> None:
    pool = ObfuscatorPool()
    pool.add([gmpy2.mpz(3), gmpy2.mpz(5)])
    assert pool.take(5) == [3, 5]
    assert pool.take(1) == [] and len(pool) == 0


def test_rerandomized_number_keeps_its_value(public_key, private_key) -> None:
    number = public_key.encrypt(2.5)
    fresh = number.rerandomize()
    assert isinstance(fresh, EncryptedNumber) and fresh.ciphertext() != number.ciphertext()
    assert private_key.decrypt(fresh) == 2.5
