"""The heavy loops over ciphertexts, as module-level functions of plain numbers.

Every function here takes integers and lists (no key objects), so any
:class:`concurrent.futures.Executor` can run it: inline, a thread pool or a process
pool (see :mod:`crypto.parallel`).  Per-process caches keep fixed-base tables and
CRT constants, so each worker builds them once per key.

Functions whose name ends in ``_gil_free`` spend their time in gmpy2 calls that
release the GIL: ``powmod_base_list``, and (on the crypto thread pool, whose threads
set gmpy2's ``allow_release_gil``) the reduction ``% m`` of a product.
"""

from __future__ import annotations

import operator
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import TypeVar

import gmpy2
from gmpy2 import mpz

from crypto.fixed_base import FixedBaseTable
from crypto.multiexp import signed_multi_exp
from crypto.paillier.obfuscation import derive_obfuscation_base, statistical_exponent_bits
from crypto.paillier.validation import batch_invert
from crypto.subset_exp import subset_multi_exp_rows

K = TypeVar("K")
V = TypeVar("V")

_CACHE_SIZE = 4
_cache_lock = threading.Lock()
_public_tables: OrderedDict[mpz, FixedBaseTable] = OrderedDict()
_owner_contexts: OrderedDict[tuple[mpz, mpz], OwnerContext] = OrderedDict()


def _cached(cache: OrderedDict[K, V], key: K, build: Callable[[], V]) -> V:
    with _cache_lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
    value = build()
    with _cache_lock:
        cache[key] = value
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return value


def public_table(n: mpz) -> FixedBaseTable:
    """Fixed-base table of the DJN base ``hs`` modulo ``n**2`` (cached per key)."""
    n = mpz(n)
    return _cached(
        _public_tables,
        n,
        lambda: FixedBaseTable(derive_obfuscation_base(n), n * n, (n.bit_length() + 1) // 2),
    )


class OwnerContext:
    """CRT constants and tables of one private key (``p``, ``q``)."""

    def __init__(self, p: mpz, q: mpz) -> None:
        self.p, self.q = mpz(p), mpz(q)
        self.n = self.p * self.q
        self.n2 = self.n * self.n
        self.p2, self.q2 = self.p * self.p, self.q * self.q
        g = self.n + 1
        self.hp = gmpy2.invert((gmpy2.powmod(g, self.p - 1, self.p2) - 1) // self.p, self.p)
        self.hq = gmpy2.invert((gmpy2.powmod(g, self.q - 1, self.q2) - 1) // self.q, self.q)
        self.p_inverse_mod_q = gmpy2.invert(self.p, self.q)
        self.p2_inverse_mod_q2 = gmpy2.invert(self.p2, self.q2)
        self._tables: tuple[FixedBaseTable, FixedBaseTable] | None = None
        self._tables_lock = threading.Lock()

    def tables(self) -> tuple[FixedBaseTable, FixedBaseTable]:
        """Fixed-base tables of ``hs`` modulo ``p**2`` and ``q**2``, built on first use."""
        with self._tables_lock:
            if self._tables is None:
                hs = derive_obfuscation_base(self.n)
                self._tables = (
                    FixedBaseTable(hs % self.p2, self.p2, (self.p - 1).bit_length()),
                    FixedBaseTable(hs % self.q2, self.q2, (self.q - 1).bit_length()),
                )
            return self._tables

    def crt_square(self, modulo_p2: mpz, modulo_q2: mpz) -> mpz:
        """The residue modulo ``n**2`` with the given residues modulo ``p**2``, ``q**2``."""
        return modulo_p2 + self.p2 * ((modulo_q2 - modulo_p2) * self.p2_inverse_mod_q2 % self.q2)

    def obfuscators(self, count: int) -> list[mpz]:
        """``count`` obfuscators statistically uniform in ``<hs>``, via CRT."""
        table_p, table_q = self.tables()
        bits = statistical_exponent_bits(self.n)
        p1, q1 = self.p - 1, self.q - 1
        result = []
        for _ in range(count):
            r = secrets.randbits(bits)
            result.append(self.crt_square(table_p.pow(r % p1), table_q.pow(r % q1)))
        return result

    def decrypt_raw(self, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Plaintexts in ``[0, n)`` of ``ciphertexts`` (two half-size powmods each)."""
        p, q = self.p, self.q
        xs = gmpy2.powmod_base_list(list(ciphertexts), p - 1, self.p2)
        ys = gmpy2.powmod_base_list(list(ciphertexts), q - 1, self.q2)
        hp, hq, p_inv = self.hp, self.hq, self.p_inverse_mod_q
        result = []
        for x, y in zip(xs, ys, strict=True):
            mp = (x - 1) // p * hp % p
            mq = (y - 1) // q * hq % q
            result.append(mp + p * ((mq - mp) * p_inv % q))
        return result


def owner_context(p: mpz, q: mpz) -> OwnerContext:
    """The cached :class:`OwnerContext` of ``(p, q)``."""
    key = (mpz(p), mpz(q))
    return _cached(_owner_contexts, key, lambda: OwnerContext(*key))


def _with_plaintexts(
    obfuscators: Sequence[mpz], mantissas: Sequence[int], n: mpz, n2: mpz
) -> list[mpz]:
    return [(1 + (m % n) * n) * rho % n2 for rho, m in zip(obfuscators, mantissas, strict=True)]


def obfuscators_public(n: mpz, exponent_bits: int, count: int) -> list[mpz]:
    """``count`` DJN obfuscators ``hs**r`` with ``r`` of ``exponent_bits`` random bits."""
    table = public_table(n)
    return [table.pow(secrets.randbits(exponent_bits)) for _ in range(count)]


def encrypt_public(n: mpz, exponent_bits: int, mantissas: Sequence[int]) -> list[mpz]:
    """Encrypt signed mantissas with fresh DJN obfuscators (public key only)."""
    n = mpz(n)
    return _with_plaintexts(
        obfuscators_public(n, exponent_bits, len(mantissas)), mantissas, n, n * n
    )


def obfuscators_owner(p: mpz, q: mpz, count: int) -> list[mpz]:
    """``count`` obfuscators computed with the private key (CRT)."""
    return owner_context(p, q).obfuscators(count)


def encrypt_owner(p: mpz, q: mpz, mantissas: Sequence[int]) -> list[mpz]:
    """Encrypt signed mantissas with the private key's CRT obfuscators."""
    context = owner_context(p, q)
    return _with_plaintexts(context.obfuscators(len(mantissas)), mantissas, context.n, context.n2)


def rerandomize_public(
    n: mpz, ciphertexts: Sequence[mpz], addends: Sequence[int] | None
) -> list[mpz]:
    """Return ``c * (1 + a*n) * hs**r`` with statistically uniform ``hs**r``.

    ``addends`` (plaintexts added on the way, e.g. masks) may be ``None``.
    """
    n = mpz(n)
    n2 = n * n
    obfuscators = obfuscators_public(n, statistical_exponent_bits(n), len(ciphertexts))
    if addends is None:
        return [c * rho % n2 for c, rho in zip(ciphertexts, obfuscators, strict=True)]
    return [
        c * ((1 + (a % n) * n) * rho % n2) % n2
        for c, rho, a in zip(ciphertexts, obfuscators, addends, strict=True)
    ]


def decrypt_raw_gil_free(p: mpz, q: mpz, ciphertexts: Sequence[mpz]) -> list[mpz]:
    """Raw plaintexts of ``ciphertexts`` (see :meth:`OwnerContext.decrypt_raw`)."""
    return owner_context(p, q).decrypt_raw(ciphertexts)


def multiply_pairs_gil_free(left: Sequence[mpz], right: Sequence[mpz], modulus: mpz) -> list[mpz]:
    """``[x * y mod m]``: ciphertext additions (the reductions release the GIL).

    Iterated with ``map`` rather than a comprehension: no bytecode runs between the
    gmpy2 calls, which measured 1.6x on two threads against 1.3-1.6x.
    """
    if len(left) != len(right):
        raise ValueError(f"length mismatch: {len(left)} vs {len(right)}")
    return list(map(operator.mod, map(operator.mul, left, right), repeat(modulus, len(left))))


def add_plaintexts_gil_free(
    ciphertexts: Sequence[mpz], mantissas: Sequence[int], n: mpz, n2: mpz
) -> list[mpz]:
    """``[c * (1 + (m mod n) * n) mod n**2]``: plaintexts added to ciphertexts."""
    return [c * (1 + (m % n) * n) % n2 for c, m in zip(ciphertexts, mantissas, strict=True)]


def powmod_signed_gil_free(
    bases: Sequence[mpz], exponents: Sequence[int], modulus: mpz
) -> list[mpz]:
    """``[b**e mod m]`` for signed ``e`` (invertible bases), on GIL-free list powmods.

    Negative exponents go through one batch inversion of their bases; a common
    exponent (a scalar factor) is one ``powmod_base_list`` call over the whole chunk.
    """
    bases = list(bases)
    negative = [i for i, e in enumerate(exponents) if e < 0]
    if negative:
        inverses = batch_invert([bases[i] for i in negative], modulus)
        for i, inverse in zip(negative, inverses, strict=True):
            bases[i] = inverse
    magnitudes = [abs(e) for e in exponents]
    first = magnitudes[0] if magnitudes else 0
    if first > 1 and all(e == first for e in magnitudes):
        return list(gmpy2.powmod_base_list(bases, first, modulus))
    return powmod_pairs_gil_free(bases, magnitudes, modulus)


def powmod_pairs_gil_free(
    bases: Sequence[mpz], exponents: Sequence[int], modulus: mpz
) -> list[mpz]:
    """``[b**e mod m]`` for non-negative ``e``, each powmod releasing the GIL."""
    powmod_list = gmpy2.powmod_base_list
    return [
        powmod_list([b], e, modulus)[0] if e > 1 else (b if e == 1 else mpz(1))
        for b, e in zip(bases, exponents, strict=True)
    ]


def pack_groups_gil_free(
    groups: Sequence[Sequence[mpz]], slot_bits: int, modulus: mpz
) -> list[mpz]:
    """Horner-pack each group: ``c[0] * c[1]**(2**B) * c[2]**(2**(2B)) ...``.

    Groups are processed in lock-step so that each step is one GIL-free
    ``powmod_base_list`` call over every group.
    """
    if not groups:
        return []
    shift = mpz(1) << slot_bits
    width = max(len(g) for g in groups)
    accumulators = [g[-1] for g in groups]
    positions = [len(g) - 1 for g in groups]
    for step in range(width - 1, 0, -1):
        active = [i for i, position in enumerate(positions) if position >= step]
        powered = gmpy2.powmod_base_list([accumulators[i] for i in active], shift, modulus)
        for i, value in zip(active, powered, strict=True):
            positions[i] -= 1
            accumulators[i] = value * groups[i][positions[i]] % modulus
    return accumulators


def matmul_buckets(
    ciphertexts: Sequence[mpz], rows: Sequence[Sequence[int]], modulus: mpz
) -> list[mpz]:
    """For every row ``a``: ``prod(c_k ** a_k)`` by the bucket method (long rows)."""
    return [signed_multi_exp(ciphertexts, row, modulus) for row in rows]


def matmul_tables(
    ciphertexts: Sequence[mpz], rows: Sequence[Sequence[int]], modulus: mpz
) -> list[mpz]:
    """For every row ``a``: ``prod(c_k ** a_k)`` with a fixed-base table per ``c_k``.

    Best when the rows are short and many (``X @ ev`` with few features).
    """
    modulus = mpz(modulus)
    columns = list(zip(*rows, strict=True)) if rows else []
    tables: list[tuple[FixedBaseTable | None, FixedBaseTable | None]] = []
    for c, column in zip(ciphertexts, columns, strict=True):
        largest = max((abs(a) for a in column), default=0)
        bits = largest.bit_length()
        positive = FixedBaseTable(c, modulus, bits) if any(a > 0 for a in column) else None
        negative = (
            FixedBaseTable(gmpy2.invert(c, modulus), modulus, bits)
            if any(a < 0 for a in column)
            else None
        )
        tables.append((positive, negative))
    result = []
    for row in rows:
        accumulator = mpz(1)
        for (positive, negative), a in zip(tables, row, strict=True):
            if a > 0 and positive is not None:
                accumulator = accumulator * positive.pow(a) % modulus
            elif a < 0 and negative is not None:
                accumulator = accumulator * negative.pow(-a) % modulus
        result.append(accumulator)
    return result


def matmul_subsets(
    ciphertexts: Sequence[mpz], rows: Sequence[Sequence[int]], modulus: mpz
) -> list[mpz]:
    """For every row ``a``: ``prod(c_k ** a_k)`` by grouped subset products over bit planes.

    The subset tables are shared by every row (see :mod:`crypto.subset_exp`).
    """
    return subset_multi_exp_rows(ciphertexts, rows, mpz(modulus))
