"""The vector backend computed with python-paillier (``phe``), one ciphertext per value.

:class:`PheVector` offers the duck-typed API of
:class:`~crypto.paillier.EncryptedVector` and :class:`~crypto.plain.PlainVector`
(``+``, ``-``, :meth:`~PheVector.multiply`, :meth:`~PheVector.matmul` and ``A @ v``,
:meth:`~PheVector.rerandomize`, :meth:`~PheVector.pack`, :meth:`~PheVector.mask`,
``len`` and slicing), with exactly their fixed-point arithmetic: the same mantissas
(:func:`~crypto.encoding.encode_array`), one shared base-16 exponent and the same
public bound, checked at the same places, so that the same overflow errors arise.
Every homomorphic step, however, is done the way FATE-style code does it with
``phe``: one :class:`phe.EncryptedNumber` per value, ``phe``'s own encryption and
obfuscation (a fresh ``r**n mod n**2`` each time), its multiplication by an
:class:`phe.EncodedNumber`, its addition and its decryption.

It has two uses:

* the baseline of the benchmarks, which run the same protocol on our engine and on
  ``phe``;
* an interoperability check: a protocol run on ``phe`` keys decrypts to bit-for-bit
  the values of a run on our keys or on :mod:`crypto.plain` keys.

It is slow by design: no packing, no precomputed obfuscators, no multi-exponentiation
and no parallelism (``n_jobs`` and ``executor`` are accepted and ignored).

``phe`` is not a dependency of the engine; it is imported only when a key is made,
and a missing installation raises :class:`ImportError`.

Examples
--------
>>> import numpy as np
>>> public_key, private_key = generate_phe_keypair(1024)
>>> ev = public_key.encrypt_vector(np.array([1.5, -2.0, 0.25]))
>>> X = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
>>> private_key.decrypt_vector(X @ ev).round(6).tolist()
[-1.75, 0.5]
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.encoding import decode_array, encode_array, exponent_for_precision, to_signed
from crypto.exceptions import EncodingError, KeyMismatchError
from crypto.paillier.encryption import vector_bound
from crypto.paillier.keys import DEFAULT_VECTOR_PRECISION
from crypto.paillier.vector import (
    _as_plaintext_array,
    _check_bound,
    _plaintext_exponent,
    plaintext_mantissas,
)
from crypto.plain import PlainMask

__all__ = [
    "PheMask",
    "PheMasked",
    "PhePrivateKey",
    "PhePublicKey",
    "PheVector",
    "generate_phe_keypair",
]

_MISSING_PHE = "the phe backend needs python-paillier: pip install phe==1.5.0"


def _phe() -> Any:
    """The ``phe`` module, imported on first use."""
    try:
        import phe
    except ImportError as error:
        raise ImportError(_MISSING_PHE) from error
    return phe


class PhePublicKey:
    """A ``phe`` public key behind the backend API.

    Parameters
    ----------
    raw : phe.PaillierPublicKey
        The wrapped key (available as :attr:`raw`).

    Attributes
    ----------
    n : int
        The modulus.
    bits : int
        Bit length of ``n``.
    fingerprint : str
        The same fingerprint :class:`~crypto.paillier.PaillierPublicKey` gives ``n``.
    raw : phe.PaillierPublicKey
        The wrapped key.
    """

    __slots__ = ("_encoded_number", "bits", "fingerprint", "n", "raw")

    def __init__(self, raw: Any) -> None:
        phe = _phe()
        if not isinstance(raw, phe.PaillierPublicKey):
            raise TypeError(f"expected a phe.PaillierPublicKey, got {type(raw).__name__}")
        self.raw = raw
        self._encoded_number = phe.EncodedNumber
        self.n = int(raw.n)
        self.bits = self.n.bit_length()
        width = (self.bits + 7) // 8
        digest = hashlib.sha256(b"paillier-n" + self.n.to_bytes(width, "big")).digest()
        self.fingerprint = digest[:16].hex()

    def __repr__(self) -> str:
        return f"<PhePublicKey {self.bits} bits {self.fingerprint}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhePublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(("PhePublicKey", self.n))

    def check_same(self, other: object) -> None:
        """Raise :class:`KeyMismatchError` unless ``other`` is this key."""
        if other != self:
            theirs = getattr(other, "fingerprint", type(other).__name__)
            raise KeyMismatchError(
                f"operands belong to different phe keys ({self.fingerprint} vs {theirs})"
            )

    def encrypt_vector(
        self,
        values: npt.ArrayLike,
        precision: float = DEFAULT_VECTOR_PRECISION,
        *,
        max_abs: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> PheVector:
        """Encode a 1-D array as ``PaillierPublicKey.encrypt_vector`` would; encrypt with phe.

        Parameters
        ----------
        values : array_like
            A 1-D array of real numbers.
        precision : float
            Absolute resolution; fixes the shared exponent.
        max_abs : float, optional
            Public bound on ``|value|`` (see ``PaillierPublicKey.encrypt_vector``).
        n_jobs, executor
            Ignored: phe is single-threaded.

        Returns
        -------
        PheVector
            One phe ciphertext per value, each freshly obfuscated by phe.
        """
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"encrypt_vector needs a 1-D array, got shape {array.shape}")
        exponent = exponent_for_precision(precision)
        mantissas = encode_array(array, exponent)
        bound = vector_bound(mantissas, max_abs, exponent, self.n)
        numbers = [self.raw.encrypt(self._encoded(m, exponent)) for m in mantissas]
        return PheVector(self, numbers, exponent, bound)

    def _encoded(self, mantissa: int, exponent: int) -> Any:
        """``phe.EncodedNumber`` of a signed mantissa (wrapped into ``[0, n)``)."""
        return self._encoded_number(self.raw, int(mantissa) % self.n, exponent)


class PhePrivateKey:
    """A ``phe`` private key behind the backend API.

    Parameters
    ----------
    raw : phe.PaillierPrivateKey
        The wrapped key (available as :attr:`raw`).
    public_key : PhePublicKey
        The matching public key.
    """

    __slots__ = ("public_key", "raw")

    def __init__(self, raw: Any, public_key: PhePublicKey) -> None:
        phe = _phe()
        if not isinstance(raw, phe.PaillierPrivateKey):
            raise TypeError(f"expected a phe.PaillierPrivateKey, got {type(raw).__name__}")
        if int(raw.public_key.n) != public_key.n:
            raise KeyMismatchError("the phe private key does not match the public key")
        self.raw = raw
        self.public_key = public_key

    def __repr__(self) -> str:
        return f"<PhePrivateKey {self.public_key.bits} bits {self.public_key.fingerprint}>"

    def decrypt_raw(
        self,
        vector: PheMasked | PheVector,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> list[int]:
        """Residues in ``[0, n)`` of every ciphertext (phe's ``raw_decrypt``).

        ``n_jobs`` and ``executor`` are ignored.
        """
        self.public_key.check_same(vector.public_key)
        return [int(self.raw.raw_decrypt(x.ciphertext(be_secure=False))) for x in vector.numbers]

    def decrypt_vector(
        self,
        vector: PheVector,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> npt.NDArray[np.float64]:
        """Decrypt and decode a vector to float64 (overflow detected as on decryption)."""
        residues = self.decrypt_raw(vector)
        return decode_array([to_signed(r, self.public_key.n) for r in residues], vector.exponent)


def generate_phe_keypair(bits: int = 2048) -> tuple[PhePublicKey, PhePrivateKey]:
    """A phe key pair (``phe.generate_paillier_keypair(n_length=bits)``), wrapped."""
    raw_public, raw_private = _phe().generate_paillier_keypair(n_length=bits)
    public_key = PhePublicKey(raw_public)
    return public_key, PhePrivateKey(raw_private, public_key)


class PheVector:
    """phe ciphertexts of ``mantissa_i * 16**exponent`` with ``|mantissa_i| <= bound``.

    Supports the operations the protocols use on
    :class:`~crypto.paillier.EncryptedVector`: ``+``, ``-``, :meth:`multiply`,
    :meth:`matmul` (and ``A @ v``), :meth:`rerandomize`, :meth:`pack`, :meth:`mask`,
    ``len`` and slicing.  No operation mutates the ``phe.EncryptedNumber`` objects
    of its operands, so vectors (and slices, which share them) stay valid.

    Parameters
    ----------
    public_key : PhePublicKey
        The key.
    numbers : sequence of phe.EncryptedNumber
        Under ``public_key.raw``, all at ``exponent`` (checked).
    exponent : int
        The shared base-16 exponent.
    bound : int
        Public bound on every ``|mantissa|``; at most ``max_int(n)``.
    """

    __array_ufunc__ = None

    __slots__ = ("bound", "exponent", "numbers", "public_key")

    def __init__(
        self, public_key: PhePublicKey, numbers: Sequence[Any], exponent: int, bound: int
    ) -> None:
        _check_bound(bound, public_key.n, "this vector")
        encrypted_number = _phe().EncryptedNumber
        for number in numbers:
            if not isinstance(number, encrypted_number):
                raise TypeError(f"expected phe.EncryptedNumber, got {type(number).__name__}")
            if number.public_key != public_key.raw:
                raise KeyMismatchError("a phe.EncryptedNumber is under another key")
            if number.exponent != exponent:
                raise ValueError(
                    f"every number must have exponent {exponent}, one has {number.exponent}"
                )
        self.public_key = public_key
        self.numbers = list(numbers)
        self.exponent = exponent
        self.bound = bound

    def __len__(self) -> int:
        return len(self.numbers)

    def __repr__(self) -> str:
        return f"<PheVector len={len(self)} exponent={self.exponent}>"

    def __getitem__(self, index: slice) -> PheVector:
        if not isinstance(index, slice):
            raise IndexError("a PheVector supports slices only")
        return PheVector(self.public_key, self.numbers[index], self.exponent, self.bound)

    def with_bound(self, bound: int) -> PheVector:
        """The same numbers with another public bound (see ``EncryptedVector``)."""
        return PheVector(self.public_key, self.numbers, self.exponent, bound)

    def decrease_exponent_to(self, new_exponent: int) -> PheVector:
        """The same values at a smaller exponent (phe's ``decrease_exponent_to``)."""
        factor = 16 ** (self.exponent - new_exponent)
        if factor == 1:
            return self
        if factor < 1:
            raise ValueError(f"new exponent {new_exponent} must not exceed {self.exponent}")
        bound = _check_bound(self.bound * factor, self.public_key.n, "re-encoding")
        numbers = [x.decrease_exponent_to(new_exponent) for x in self.numbers]
        return PheVector(self.public_key, numbers, new_exponent, bound)

    def __add__(self, other: object) -> PheVector:
        if isinstance(other, PheVector):
            self.public_key.check_same(other.public_key)
            if len(self) != len(other):
                raise ValueError(f"length mismatch: {len(self)} vs {len(other)}")
            exponent = min(self.exponent, other.exponent)
            a, b = self.decrease_exponent_to(exponent), other.decrease_exponent_to(exponent)
            bound = _check_bound(a.bound + b.bound, self.public_key.n, "addition")
            numbers = [x + y for x, y in zip(a.numbers, b.numbers, strict=True)]
            return PheVector(self.public_key, numbers, exponent, bound)
        array = _as_plaintext_array(other)
        if array is None:
            return NotImplemented
        plain = plaintext_mantissas(array, len(self), self.exponent)
        largest = max((abs(m) for m in plain), default=0)
        bound = _check_bound(self.bound + largest, self.public_key.n, "addition")
        encode = self.public_key._encoded
        numbers = [x + encode(m, self.exponent) for x, m in zip(self.numbers, plain, strict=True)]
        return PheVector(self.public_key, numbers, self.exponent, bound)

    def __radd__(self, other: object) -> PheVector:
        return self.__add__(other)

    def __neg__(self) -> PheVector:
        minus_one = self.public_key._encoded(-1, 0)
        numbers = [x * minus_one for x in self.numbers]
        return PheVector(self.public_key, numbers, self.exponent, self.bound)

    def __sub__(self, other: object) -> PheVector:
        if isinstance(other, PheVector):
            return self + (-other)
        array = _as_plaintext_array(other)
        if array is None:
            return NotImplemented
        return self + (-array)

    def multiply(
        self,
        other: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> PheVector:
        """Multiply by a plaintext scalar or elementwise array (see ``EncryptedVector``).

        Each factor is encoded as ``PlainVector.multiply`` encodes it and multiplied in
        as a ``phe.EncodedNumber``.  ``n_jobs`` and ``executor`` are ignored.
        """
        array = _as_plaintext_array(other)
        if array is None:
            raise TypeError(f"cannot multiply a PheVector by {type(other).__name__}")
        exponent = _plaintext_exponent(array, precision)
        factors = plaintext_mantissas(array, len(self), exponent)
        largest = max((abs(m) for m in factors), default=0)
        bound = _check_bound(self.bound * largest, self.public_key.n, "multiplication")
        encode = self.public_key._encoded
        numbers = [x * encode(f, exponent) for x, f in zip(self.numbers, factors, strict=True)]
        return PheVector(self.public_key, numbers, self.exponent + exponent, bound)

    def matmul(
        self,
        matrix: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> PheVector:
        """Return ``matrix @ self``, the naive phe way (see ``EncryptedVector.matmul``).

        Row ``i`` is the phe sum over ``k`` of ``number_k * EncodedNumber(A_ik)``, zeros
        included: this is the baseline.  ``n_jobs`` and ``executor`` are ignored.
        """
        array = np.asarray(matrix)
        if array.ndim != 2 or array.shape[1] != len(self):
            raise ValueError(
                f"matmul needs a 2-D matrix with {len(self)} columns, got shape {array.shape}"
            )
        if array.dtype.kind not in "biuf":
            raise EncodingError(f"cannot multiply by a matrix of dtype {array.dtype}")
        exponent = _plaintext_exponent(array, precision)
        flat = encode_array(array, exponent)
        columns = len(self)
        rows = [flat[i * columns : (i + 1) * columns] for i in range(array.shape[0])]
        row_norm = max((sum(abs(a) for a in row) for row in rows), default=0)
        bound = _check_bound(self.bound * row_norm, self.public_key.n, "matrix product")
        phe = _phe()
        encode = self.public_key._encoded
        result_exponent = self.exponent + exponent
        numbers = []
        for row in rows:
            terms = [x * encode(a, exponent) for x, a in zip(self.numbers, row, strict=True)]
            if not terms:  # no columns: the (unobfuscated) encryption of 0, ciphertext 1
                terms = [phe.EncryptedNumber(self.public_key.raw, 1, result_exponent)]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            numbers.append(total)
        return PheVector(self.public_key, numbers, result_exponent, bound)

    def __rmatmul__(self, other: object) -> PheVector:
        if not isinstance(other, np.ndarray | list | tuple):
            return NotImplemented
        return self.matmul(np.asarray(other))

    def _copies(self) -> list[Any]:
        """Fresh ``phe.EncryptedNumber`` objects with the same ciphertexts."""
        encrypted_number = _phe().EncryptedNumber
        raw = self.public_key.raw
        return [
            encrypted_number(raw, x.ciphertext(be_secure=False), x.exponent) for x in self.numbers
        ]

    def rerandomize(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> PheVector:
        """The same values under fresh randomness (phe's ``obfuscate`` on copies)."""
        numbers = self._copies()
        for number in numbers:
            number.obfuscate()
        return PheVector(self.public_key, numbers, self.exponent, self.bound)

    def pack(self, *, n_jobs: int | None = None, executor: Executor | None = None) -> PheVector:
        """The same vector: phe has no packing."""
        return self

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[PheMasked, PheMask]:
        """Add uniform masks in ``Z_n`` and obfuscate, as ``EncryptedVector.mask`` does.

        Returns
        -------
        masked : PheMasked
            Ciphertexts of ``(mantissa_i + r_i) mod n``, for the key owner to decrypt.
        mask : PheMask
            The masks, kept by the caller to recover the values.
        """
        n = self.public_key.n
        raw = self.public_key.raw
        encoded_number = self.public_key._encoded_number
        masks = [secrets.randbelow(n) for _ in self.numbers]
        numbers = []
        for x, r in zip(self.numbers, masks, strict=True):
            masked = x + encoded_number(raw, r, self.exponent)
            masked.obfuscate()
            numbers.append(masked)
        return PheMasked(self.public_key, numbers), PheMask(self.public_key, masks, self.exponent)


class PheMasked:
    """Masked phe ciphertexts, ready for the key owner's :meth:`PhePrivateKey.decrypt_raw`."""

    __slots__ = ("numbers", "public_key")

    def __init__(self, public_key: PhePublicKey, numbers: list[Any]) -> None:
        self.public_key = public_key
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.numbers)


PheMask = PlainMask
"""The masking party's secret (masks and exponent): the same as the plain backend's."""
