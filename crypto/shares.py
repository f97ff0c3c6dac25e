"""Integer additive shares moved through Paillier: encrypt, combine, re-share, open.

Two parties hold a value ``x`` as integers ``x = a + b`` (no modulus).  To move a
value computed on ciphertexts under the other party's key into shares, the party
holding the ciphertext adds a secret mask ``R`` drawn uniformly from
``[0, 2**(bits + STATISTICAL_BITS))`` where ``2**bits`` is the value's public bound,
keeps ``-R`` as its share and lets the key owner decrypt ``x + R`` as its share:
``x + R`` is within statistical distance ``2**-STATISTICAL_BITS`` of a value that
does not depend on ``x`` (SecureML-style masking over the integers).  Integer shares
never wrap, so truncating each share of a fixed-point product by ``k`` bits (a floor
shift, :func:`truncate`) gives the truncated product up to one unit in the last
place, with no failure probability, and shares made under two different moduli can
be added (which shares in ``Z_n`` of two keys could not).

Vectors are the backends' own (:class:`~crypto.paillier.EncryptedVector` at
exponent 0, or :class:`~crypto.plain.PlainVector`), so the wire codec and the
equivalence tests work unchanged; this module adds the exact integer operations the
float-oriented vector API does not have.  Re-shared values are packed several per
ciphertext before masking, so the key owner decrypts few ciphertexts
(:func:`share_layout`); the layout depends on public numbers only.

Examples
--------
>>> from crypto.paillier import generate_paillier_keypair
>>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
>>> secret = encrypt_integers(public_key, [5, -7, 123456789], bits=30)
>>> sealed, kept = reshare(secret, bits=30)
>>> opened = open_shares(private_key, sealed, count=3, bits=30)
>>> [a + b for a, b in zip(opened, kept)]
[5, -7, 123456789]
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, cast

import gmpy2
from gmpy2 import mpz

from crypto import parallel
from crypto.encoding import to_signed
from crypto.exceptions import CryptoError
from crypto.multiexp import signed_multi_exp
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
    _kernels,
)
from crypto.paillier.randomization import rerandomize_ciphertexts
from crypto.plain import PlainMasked, PlainPrivateKey, PlainPublicKey, PlainVector
from crypto.vector_api import CipherVector, MaskedValues, VectorPrivateKey, VectorPublicKey

__all__ = [
    "STATISTICAL_BITS",
    "ShareLayout",
    "add_integers",
    "combine_columns",
    "combine_sum",
    "decrypt_integers",
    "encrypt_integers",
    "open_shares",
    "random_shares",
    "reshare",
    "share_layout",
    "truncate",
]

STATISTICAL_BITS = 40
"""A mask is this many bits wider than the public bound of the value it hides."""

_MIN_CHUNK = 32

EncryptingKey = VectorPublicKey | VectorPrivateKey


def _public(key: EncryptingKey) -> VectorPublicKey:
    if isinstance(key, PaillierPrivateKey | PlainPrivateKey):
        return cast(VectorPublicKey, key.public_key)
    return cast(VectorPublicKey, key)


def _bound_check(bits: int, public_key: VectorPublicKey, what: str) -> None:
    if bits < 0 or bits >= public_key.bits - 2:
        raise CryptoError(
            f"{what} of {bits} bits does not fit the {public_key.bits}-bit key's plaintexts; "
            "use a longer key"
        )


def encrypt_integers(
    key: EncryptingKey,
    values: Sequence[int],
    bits: int,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> CipherVector:
    """Encrypt signed integers exactly, claiming the public bound ``2**bits``.

    Parameters
    ----------
    key : public or private key (Paillier or plain)
        A private key encrypts faster (CRT obfuscators) with the same result.
    values : sequence of int
        Each ``|value| < 2**bits`` (checked).
    bits : int
        The public bound's bit length.
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Returns
    -------
    CipherVector
        Exponent 0, bound ``2**bits``.

    Raises
    ------
    CryptoError
        If a value exceeds the bound or the bound does not fit the key.
    """
    public_key = _public(key)
    _bound_check(bits, public_key, "an encrypted integer")
    limit = 1 << bits
    ints = [int(v) for v in values]
    if any(abs(v) >= limit for v in ints):
        raise CryptoError(f"an integer to encrypt exceeds its public bound 2**{bits}")
    if isinstance(public_key, PlainPublicKey):
        return PlainVector(public_key, ints, 0, limit)
    if not isinstance(public_key, PaillierPublicKey):
        raise CryptoError(f"integer shares need a Paillier or plain key, not {type(key).__name__}")
    encryptor = key._encryptor if isinstance(key, PaillierPrivateKey) else public_key._encryptor
    ciphertexts = encryptor.mantissas(ints, n_jobs, executor)
    return EncryptedVector._trusted(public_key, ciphertexts, 0, limit)


def add_integers(vector: CipherVector, values: Sequence[int], bits: int) -> CipherVector:
    """``vector + values`` exactly, claiming the public bound ``2**bits`` for the sum.

    Parameters
    ----------
    vector : CipherVector
        At exponent 0.
    values : sequence of int
        One per element.
    bits : int
        Public bound of the sums (the caller's worst case).

    Returns
    -------
    CipherVector
        The sums (not re-randomised).
    """
    public_key = vector.public_key
    _bound_check(bits, public_key, "a sum")
    if len(values) != len(vector):
        raise CryptoError(f"{len(values)} addends for {len(vector)} values")
    if isinstance(vector, PlainVector):
        return PlainVector(
            vector.public_key,
            [m + int(v) for m, v in zip(vector.mantissas, values, strict=True)],
            0,
            1 << bits,
        )
    paillier = cast(EncryptedVector, vector)
    n, n2 = paillier.public_key._n, paillier.public_key._n2
    ciphertexts = [
        c * (1 + (int(v) % n) * n) % n2 for c, v in zip(paillier._ciphertexts, values, strict=True)
    ]
    return EncryptedVector._trusted(paillier.public_key, ciphertexts, 0, 1 << bits)


_WINDOW = 4


def _straus(bases: Sequence[mpz], exponents: Sequence[int], n2: mpz) -> mpz:
    """``prod_j bases[j] ** exponents[j] mod n2`` sharing the squarings (Straus, 4-bit windows)."""
    tables: list[list[mpz]] = []
    digits: list[int] = []
    for base, exponent in zip(bases, exponents, strict=True):
        if exponent == 0:
            continue
        if exponent < 0:
            base, exponent = gmpy2.invert(base, n2), -exponent
        table = [mpz(1), base]
        for _ in range(2, 1 << _WINDOW):
            table.append(table[-1] * base % n2)
        tables.append(table)
        digits.append(exponent)
    if not tables:
        return mpz(1)
    windows = -(-max(e.bit_length() for e in digits) // _WINDOW)
    mask = (1 << _WINDOW) - 1
    accumulator = mpz(1)
    for window in range(windows - 1, -1, -1):
        if window != windows - 1:
            for _ in range(_WINDOW):
                accumulator = accumulator * accumulator % n2
        shift = window * _WINDOW
        for table, exponent in zip(tables, digits, strict=True):
            digit = (exponent >> shift) & mask
            if digit:
                accumulator = accumulator * table[digit] % n2
    return accumulator


def _combine_kernel(
    columns: Sequence[Sequence[mpz]], factors: Sequence[Sequence[int]], n2: mpz
) -> list[mpz]:
    rows = len(columns[0]) if columns else 0
    return [
        _straus([column[i] for column in columns], [f[i] for f in factors], n2) for i in range(rows)
    ]


def combine_columns(
    columns: Sequence[CipherVector],
    factors: Sequence[Sequence[int]],
    bits: int,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> CipherVector:
    """Row by row, ``sum_j factors[j][i] * columns[j][i]`` with signed integer factors.

    Parameters
    ----------
    columns : sequence of CipherVector
        Vectors of one key and one length, at exponent 0.
    factors : sequence of sequence of int
        One factor per column and row (any size: exact).
    bits : int
        Public bound of the results (the caller's worst case).
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Returns
    -------
    CipherVector
        One value per row (not re-randomised).
    """
    if not columns or len(columns) != len(factors):
        raise CryptoError("combine_columns needs one factor list per column")
    public_key = columns[0].public_key
    _bound_check(bits, public_key, "a combination")
    length = len(columns[0])
    for column, column_factors in zip(columns, factors, strict=True):
        public_key.check_same(column.public_key)
        if len(column) != length or len(column_factors) != length:
            raise CryptoError("combine_columns needs columns and factors of one length")
    if isinstance(columns[0], PlainVector):
        plain = cast(Sequence[PlainVector], columns)
        sums = [
            sum(int(f[i]) * c.mantissas[i] for c, f in zip(plain, factors, strict=True))
            for i in range(length)
        ]
        return PlainVector(plain[0].public_key, sums, 0, 1 << bits)
    paillier = cast(Sequence[EncryptedVector], columns)
    n2 = paillier[0].public_key._n2
    workers = parallel.effective_workers(n_jobs, executor)
    chunks = parallel.chunk_bounds(length, workers, _MIN_CHUNK)
    results = parallel.run_chunks(
        _combine_kernel,
        [
            (
                [c._ciphertexts[a:b] for c in paillier],
                [[int(x) for x in f[a:b]] for f in factors],
                n2,
            )
            for a, b in chunks
        ],
        releases_gil=False,
        n_jobs=n_jobs,
        executor=executor,
    )
    ciphertexts = [c for chunk in results for c in chunk]
    return EncryptedVector._trusted(paillier[0].public_key, ciphertexts, 0, 1 << bits)


def combine_sum(
    columns: Sequence[CipherVector],
    factors: Sequence[Sequence[int]],
    bits: int,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> CipherVector:
    """``sum_i sum_j factors[j][i] * columns[j][i]``: one value (Pippenger's bucket method).

    Parameters
    ----------
    columns : sequence of CipherVector
        Vectors of one key and one length, at exponent 0.
    factors : sequence of sequence of int
        One factor per column and row.
    bits : int
        Public bound of the result.
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Returns
    -------
    CipherVector
        One value (not re-randomised).
    """
    if not columns or len(columns) != len(factors):
        raise CryptoError("combine_sum needs one factor list per column")
    public_key = columns[0].public_key
    _bound_check(bits, public_key, "a combination")
    for column, column_factors in zip(columns, factors, strict=True):
        public_key.check_same(column.public_key)
        if len(column) != len(column_factors):
            raise CryptoError("combine_sum needs one factor per value")
    if isinstance(columns[0], PlainVector):
        plain = cast(Sequence[PlainVector], columns)
        total = sum(
            int(f) * m
            for c, fs in zip(plain, factors, strict=True)
            for m, f in zip(c.mantissas, fs, strict=True)
        )
        return PlainVector(plain[0].public_key, [total], 0, 1 << bits)
    paillier = cast(Sequence[EncryptedVector], columns)
    bases = [c for column in paillier for c in column._ciphertexts]
    exponents = [int(f) for column_factors in factors for f in column_factors]
    n2 = paillier[0].public_key._n2
    workers = parallel.effective_workers(n_jobs, executor)
    chunks = parallel.chunk_bounds(len(bases), workers, 256)
    partials = parallel.run_chunks(
        signed_multi_exp,
        [(bases[a:b], exponents[a:b], int(n2)) for a, b in chunks],
        releases_gil=False,
        n_jobs=n_jobs,
        executor=executor,
    )
    product = mpz(1)
    for partial in partials:
        product = product * partial % n2
    return EncryptedVector._trusted(paillier[0].public_key, [product], 0, 1 << bits)


class ShareLayout:
    """How re-shared values are packed: public, from the count, bound and key size.

    Parameters
    ----------
    count : int
        How many values.
    bits : int
        Public bound of every value (``|x| < 2**bits``).
    modulus_bits : int
        The key's size.

    Attributes
    ----------
    slot_bits : int
        ``bits + STATISTICAL_BITS + 3``: room for ``x + R + 2**(bits + STATISTICAL_BITS)``,
        so a value up to ``2**STATISTICAL_BITS`` times beyond its bound still neither
        borrows from nor carries into a neighbour (it is only hidden less well).
    per_ciphertext : int
        Values per ciphertext.
    ciphertexts : int
        Ciphertexts the key owner decrypts.

    Examples
    --------
    >>> layout = ShareLayout(100, bits=62, modulus_bits=2048)
    >>> layout.slot_bits, layout.per_ciphertext, layout.ciphertexts
    (105, 19, 6)
    """

    __slots__ = ("bits", "ciphertexts", "count", "per_ciphertext", "slot_bits")

    def __init__(self, count: int, bits: int, modulus_bits: int) -> None:
        self.count = count
        self.bits = bits
        self.slot_bits = bits + STATISTICAL_BITS + 3
        self.per_ciphertext = (modulus_bits - 2) // self.slot_bits
        if self.per_ciphertext < 1:
            raise CryptoError(
                f"values of {bits} bits with their masks do not fit a {modulus_bits}-bit key"
            )
        self.ciphertexts = -(-count // self.per_ciphertext)

    def groups(self) -> list[range]:
        """Index ranges of the values packed into each ciphertext."""
        step = self.per_ciphertext
        return [range(a, min(a + step, self.count)) for a in range(0, self.count, step)]


def share_layout(count: int, bits: int, public_key: VectorPublicKey) -> ShareLayout:
    """The packing of ``count`` re-shared values of public bound ``2**bits``."""
    return ShareLayout(count, bits, public_key.bits)


def random_shares(count: int, bits: int) -> list[int]:
    """``count`` masks, uniform in ``[0, 2**(bits + STATISTICAL_BITS))`` (CSPRNG)."""
    return [secrets.randbits(bits + STATISTICAL_BITS) for _ in range(count)]


def reshare(
    vector: CipherVector,
    bits: int,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> tuple[MaskedValues, list[int]]:
    """Turn ciphertexts of values ``|x_i| < 2**bits`` into shares with the key owner.

    Every value gets a fresh mask ``R_i`` (:func:`random_shares`); the masked values
    are packed, offset to be non-negative and re-randomised.

    Parameters
    ----------
    vector : CipherVector
        At exponent 0, under the other party's key.
    bits : int
        Public bound of every value.
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Returns
    -------
    tuple
        ``(to send to the key owner, this party's shares -R_i)``.
    """
    public_key = vector.public_key
    layout = share_layout(len(vector), bits, public_key)
    masks = random_shares(len(vector), bits)
    offset = 1 << (bits + STATISTICAL_BITS)
    addends = []
    for group in layout.groups():
        addend = 0
        for position, index in enumerate(group):
            addend += (masks[index] + offset) << (layout.slot_bits * position)
        addends.append(addend)
    kept = [-mask for mask in masks]
    if isinstance(vector, PlainVector):
        n = vector.public_key.n
        packed = []
        for group, addend in zip(layout.groups(), addends, strict=True):
            value = addend
            for position, index in enumerate(group):
                value += vector.mantissas[index] << (layout.slot_bits * position)
            packed.append(value % n)
        return PlainMasked(vector.public_key, packed), kept
    paillier = cast(EncryptedVector, vector)
    n2 = paillier.public_key._n2
    groups = [[paillier._ciphertexts[i] for i in group] for group in layout.groups()]
    workers = parallel.effective_workers(n_jobs, executor)
    group_chunks = parallel.chunk_bounds(len(groups), workers, 1)
    packed_ciphertexts = [
        c
        for chunk in parallel.run_chunks(
            _kernels.pack_groups_gil_free,
            [(groups[a:b], layout.slot_bits, n2) for a, b in group_chunks],
            releases_gil=True,
            n_jobs=n_jobs,
            executor=executor,
        )
        for c in chunk
    ]
    sealed = rerandomize_ciphertexts(  # full-length obfuscators: values go to the key owner
        paillier.public_key, packed_ciphertexts, addends, n_jobs=n_jobs, executor=executor
    )
    return MaskedVector(paillier.public_key, sealed), kept


def open_shares(
    private_key: VectorPrivateKey,
    sealed: MaskedValues,
    count: int,
    bits: int,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> list[int]:
    """The key owner's shares of values another party re-shared (:func:`reshare`).

    Parameters
    ----------
    private_key : VectorPrivateKey
        This party's key.
    sealed : MaskedValues
        What the other party sent.
    count, bits : int
        How many values, and their public bound (this party's own expectation).

    Returns
    -------
    list of int
        ``x_i + R_i`` for every value.

    Raises
    ------
    CryptoError
        If the message holds another number of ciphertexts, or a decryption does not
        fit the public layout (the sender did not follow the protocol).
    """
    layout = share_layout(count, bits, private_key.public_key)
    if len(sealed) != layout.ciphertexts:
        raise CryptoError(
            f"expected {layout.ciphertexts} ciphertexts of {count} shares, got {len(sealed)}"
        )
    residues = private_key.decrypt_raw(sealed, n_jobs=n_jobs, executor=executor)
    offset = 1 << (bits + STATISTICAL_BITS)
    slot_mask = (1 << layout.slot_bits) - 1
    shares: list[int] = []
    for group, residue in zip(layout.groups(), residues, strict=True):
        if residue >> (layout.slot_bits * len(group)):
            raise CryptoError("a re-shared ciphertext does not fit its public layout")
        for position in range(len(group)):
            shares.append(((residue >> (layout.slot_bits * position)) & slot_mask) - offset)
    return shares


def decrypt_integers(private_key: VectorPrivateKey, vector: Any) -> list[int]:
    """Signed plaintexts of a vector at exponent 0 (tests and the key owner's own values)."""
    n = private_key.public_key.n
    return [to_signed(int(r), n) for r in private_key.decrypt_raw(vector)]


def truncate(values: Sequence[int], bits: int) -> list[int]:
    """Floor-divide every share by ``2**bits``.

    Two integer shares of ``x`` truncated this way add to ``floor(x / 2**bits)`` or
    one less.

    Examples
    --------
    >>> a, b = 1000 + 12345, -12345
    >>> sum(truncate([a, b], 4)) in (1000 // 16, 1000 // 16 - 1)
    True
    """
    return [int(v) >> bits for v in values]
