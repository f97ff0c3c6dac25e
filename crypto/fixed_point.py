"""The vector base class of the stand-in backends, on the bookkeeping ``EncryptedVector`` uses.

A vector holds one item per value (a plain mantissa, a phe ``EncryptedNumber``...), a
shared base-16 exponent and a public bound on every mantissa.  This base class does
what does not depend on the items: checking operands, encoding plaintext operands,
aligning exponents and updating (and checking) the bound, all through
:mod:`crypto.bookkeeping`, which :class:`~crypto.paillier.EncryptedVector` uses too.
A subclass supplies the few operations on items.  :mod:`crypto.plain` and
:mod:`crypto.phe_vectors` use it, so the same computation produces the same
mantissas, exponents, bounds and overflow errors on every backend.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, Generic, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

from crypto.bookkeeping import (
    as_plaintext_array,
    check_bound,
    matrix_factors,
    plaintext_addend,
    plaintext_factors,
    rescaling,
    sum_bound,
)
from crypto.encoding import decode_array, to_signed

__all__ = ["FixedPointPrivateKey", "FixedPointVector", "KeyOfModulus"]


class KeyOfModulus(Protocol):
    """What a vector needs of its key: the modulus and a check that keys match."""

    @property
    def n(self) -> int:
        """The modulus."""
        ...

    def check_same(self, other: Self) -> None:
        """Raise ``KeyMismatchError`` unless ``other`` is this key."""
        ...


Key = TypeVar("Key", bound=KeyOfModulus)
Item = TypeVar("Item")


class FixedPointVector(abc.ABC, Generic[Key, Item]):
    """Items of ``mantissa_i * 16**exponent`` with ``|mantissa_i| <= bound``.

    Supports ``+``, ``-``, unary ``-``, :meth:`multiply`, :meth:`matmul` (and
    ``A @ v``), :meth:`with_bound`, :meth:`decrease_exponent_to`, ``len`` and slicing.

    Parameters
    ----------
    public_key : KeyOfModulus
        The key; it has ``n`` and ``check_same(other)``.
    items : sequence
        One item per value.
    exponent : int
        The shared base-16 exponent.
    bound : int
        Public bound on every ``|mantissa|``; at most ``max_int(n)``.

    Raises
    ------
    PlaintextOverflowError
        If ``bound`` exceeds ``max_int(n)``.

    Examples
    --------
    :class:`~crypto.plain.PlainVector` is a subclass whose items are the mantissas:

    >>> from crypto.plain import generate_plain_keypair
    >>> public_key, private_key = generate_plain_keypair(1024)
    >>> v = public_key.encrypt_vector([1.5, -2.0])
    >>> isinstance(v, FixedPointVector), v.exponent, v.mantissas
    (True, -8, [6442450944, -8589934592])
    >>> (v + v).bound == 2 * v.bound
    True
    >>> v.decrease_exponent_to(-9).mantissas
    [103079215104, -137438953472]
    >>> private_key.decrypt_vector(v.multiply([2.0, 0.5]) - 1).tolist()
    [2.0, -2.0]
    """

    __array_ufunc__ = None

    __slots__ = ("bound", "exponent", "items", "public_key")

    def __init__(self, public_key: Key, items: Sequence[Item], exponent: int, bound: int) -> None:
        check_bound(bound, public_key.n, "this vector")
        self.public_key = public_key
        self.items = list(items)
        self.exponent = exponent
        self.bound = bound

    # what a subclass supplies -------------------------------------------------------------
    @abc.abstractmethod
    def _rescaled(self, factor: int, new_exponent: int) -> list[Item]:
        """Items of the same values at ``new_exponent`` (mantissas times ``factor``)."""

    @abc.abstractmethod
    def _sum_items(self, other: list[Item]) -> list[Item]:
        """Elementwise sums with another vector's items at the same exponent."""

    @abc.abstractmethod
    def _plus_mantissas(self, mantissas: list[int]) -> list[Item]:
        """Elementwise sums with plaintext mantissas at this exponent."""

    @abc.abstractmethod
    def _negated(self) -> list[Item]:
        """Items of the negated values."""

    @abc.abstractmethod
    def _times_mantissas(self, factors: list[int], exponent: int) -> list[Item]:
        """Elementwise products with plaintext mantissas at ``exponent``."""

    @abc.abstractmethod
    def _matrix_rows(self, rows: list[list[int]], exponent: int) -> list[Item]:
        """``sum_k rows[i][k] * item_k`` for every row (mantissas at ``exponent``)."""

    # shared bookkeeping --------------------------------------------------------------------
    def _like(
        self, items: Sequence[Item], exponent: int | None = None, bound: int | None = None
    ) -> Self:
        return type(self)(
            self.public_key,
            items,
            self.exponent if exponent is None else exponent,
            self.bound if bound is None else bound,
        )

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} len={len(self)} exponent={self.exponent}>"

    def __getitem__(self, index: slice) -> Self:
        if not isinstance(index, slice):
            raise IndexError(f"a {type(self).__name__} supports slices only")
        return self._like(self.items[index])

    def with_bound(self, bound: int) -> Self:
        """The same items with another public bound (see ``EncryptedVector.with_bound``).

        Parameters
        ----------
        bound : int
            The new bound on every ``|mantissa|``.

        Returns
        -------
        FixedPointVector
            A vector of the same type sharing these items.

        Raises
        ------
        PlaintextOverflowError
            If ``bound`` exceeds ``max_int(n)``.
        """
        return self._like(self.items, bound=bound)

    def decrease_exponent_to(self, new_exponent: int) -> Self:
        """The same values at a smaller exponent.

        Parameters
        ----------
        new_exponent : int
            At most :attr:`exponent`.

        Returns
        -------
        FixedPointVector
            The same values; the bound grows by ``16**(exponent - new_exponent)``.

        Raises
        ------
        ValueError
            If ``new_exponent`` is larger than :attr:`exponent`.
        PlaintextOverflowError
            If the re-encoded values could leave the plaintext space.
        """
        factor, bound = rescaling(self.exponent, new_exponent, self.bound, self.public_key.n)
        if factor == 1:
            return self
        return self._like(self._rescaled(factor, new_exponent), new_exponent, bound)

    def __add__(self, other: object) -> Self:
        if isinstance(other, type(self)):
            self.public_key.check_same(other.public_key)
            if len(self) != len(other):
                raise ValueError(f"length mismatch: {len(self)} vs {len(other)}")
            exponent = min(self.exponent, other.exponent)
            a, b = self.decrease_exponent_to(exponent), other.decrease_exponent_to(exponent)
            bound = sum_bound(a.bound, b.bound, self.public_key.n)
            return self._like(a._sum_items(b.items), exponent, bound)
        addend = plaintext_addend(
            other, len(self), exponent=self.exponent, bound=self.bound, n=self.public_key.n
        )
        if addend is None:
            return NotImplemented
        plain, bound = addend
        return self._like(self._plus_mantissas(plain), bound=bound)

    def __radd__(self, other: object) -> Self:
        return self.__add__(other)

    def __neg__(self) -> Self:
        return self._like(self._negated())

    def __sub__(self, other: object) -> Self:
        if isinstance(other, type(self)):
            return self + (-other)
        array = as_plaintext_array(other)
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
    ) -> Self:
        """Multiply by a plaintext scalar or elementwise array (see ``EncryptedVector``).

        Parameters
        ----------
        other : float, int or array_like
            The plaintext factor(s).
        precision : float, optional
            Resolution of float factors (default ``2**-16``; integers are exact).
        n_jobs, executor
            Accepted for the same signature, and ignored.

        Returns
        -------
        FixedPointVector
            At exponent ``self.exponent + exponent(other)``.

        Raises
        ------
        TypeError
            If ``other`` is not a number or an array of numbers.
        PlaintextOverflowError
            If the products could leave the plaintext space.
        """
        encoded = plaintext_factors(
            other, len(self), precision, bound=self.bound, n=self.public_key.n
        )
        if encoded is None:
            raise TypeError(f"cannot multiply a {type(self).__name__} by {type(other).__name__}")
        factors, exponent, bound = encoded
        return self._like(self._times_mantissas(factors, exponent), self.exponent + exponent, bound)

    def matmul(
        self,
        matrix: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> Self:
        """Return ``matrix @ self`` (see ``EncryptedVector.matmul``); ``n_jobs`` is ignored.

        Parameters
        ----------
        matrix : array_like
            Shape ``(m, len(self))``.
        precision : float, optional
            Resolution of float entries (default ``2**-16``; integers are exact).
        n_jobs, executor
            Accepted for the same signature, and ignored.

        Returns
        -------
        FixedPointVector
            ``m`` items at exponent ``self.exponent + exponent(matrix)``.

        Raises
        ------
        ValueError
            If ``matrix`` is not 2-D with ``len(self)`` columns.
        EncodingError
            If ``matrix`` is not numeric.
        PlaintextOverflowError
            If a row's products could leave the plaintext space.
        """
        rows, exponent, bound = matrix_factors(
            matrix, len(self), precision, bound=self.bound, n=self.public_key.n
        )
        return self._like(self._matrix_rows(rows, exponent), self.exponent + exponent, bound)

    def __rmatmul__(self, other: object) -> Self:
        if not isinstance(other, np.ndarray | list | tuple):
            return NotImplemented
        return self.matmul(np.asarray(other))


class FixedPointPrivateKey(abc.ABC, Generic[Key]):
    """Decoding shared by the private keys of the plain and phe vector backends.

    Subclasses provide :meth:`decrypt_raw` (residues in ``[0, n)``) and a
    ``public_key`` with ``n``; this class turns residues into floats.
    """

    __slots__ = ()
    public_key: Key

    @abc.abstractmethod
    def decrypt_raw(
        self, vector: Any, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> list[int]:
        """Residues in ``[0, n)`` of every value of ``vector``."""

    def decrypt_vector(
        self,
        vector: FixedPointVector[Any, Any],
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> npt.NDArray[np.float64]:
        """Decrypt and decode a vector to float64 (overflow detected as on decryption).

        Parameters
        ----------
        vector : FixedPointVector
            Under this key.
        n_jobs, executor
            Ignored.

        Returns
        -------
        numpy.ndarray
            One float64 per value.

        Raises
        ------
        KeyMismatchError
            If the vector is under another key.
        PlaintextOverflowError
            If a plaintext lies in the overflow band.
        """
        residues = self.decrypt_raw(vector)
        return decode_array([to_signed(r, self.public_key.n) for r in residues], vector.exponent)
