"""A vector of Paillier ciphertexts sharing one fixed-point exponent.

Sharing one exponent means no per-element exponent reveals a magnitude and no
operation has to align exponents.  The vector also carries ``bound``, a public upper
bound on the absolute value of every mantissa.  Every operation updates it, and an
operation whose result could leave the plaintext space raises
:class:`~crypto.exceptions.PlaintextOverflowError` *before* computing anything, so
values can never wrap around silently.  The bound also sizes packing slots.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

from crypto import parallel
from crypto.bookkeeping import (
    DEFAULT_PLAINTEXT_PRECISION,
    as_plaintext_array,
    check_bound,
    matrix_factors,
    plaintext_addend,
    plaintext_factors,
    rescaling,
    sum_bound,
)
from crypto.bookkeeping import plaintext_mantissas as plaintext_mantissas  # its former home
from crypto.encoding import encode_array
from crypto.exceptions import DeserializationError
from crypto.fixed_base import WINDOW_BITS
from crypto.multiexp import best_window
from crypto.paillier import _kernels
from crypto.paillier.masking import MaskedVector, VectorMask, mask_vector
from crypto.paillier.number import EncryptedNumber
from crypto.paillier.packing import PackedEncryptedVector, pack_vector
from crypto.paillier.randomization import rerandomize_ciphertexts
from crypto.paillier.validation import batch_invert, validate_ciphertexts
from crypto.subset_exp import subset_cost

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey

__all__ = ["DEFAULT_PLAINTEXT_PRECISION", "EncryptedVector", "concatenate"]

_MIN_CHUNK_POWMOD = 32
_MIN_CHUNK_ADD = 64


def _local_chunks(
    kernel: Callable[..., list[mpz]],
    arguments: Callable[[int, int], tuple[Any, ...]],
    total: int,
) -> list[mpz]:
    """Run a cheap elementwise kernel over ``range(total)``, inline or on local threads.

    Chunks go to the local thread pool when :func:`~crypto.parallel.parallel_config`
    asks for several workers, never to a custom executor (shipping a multiplication
    costs more than doing it).
    """
    workers = parallel.local_workers()
    if workers <= 1 or total < 2 * _MIN_CHUNK_ADD:
        return kernel(*arguments(0, total))
    chunks = parallel.chunk_bounds(total, workers, _MIN_CHUNK_ADD)
    results = parallel.run_chunks(
        kernel, [arguments(a, b) for a, b in chunks], releases_gil=True, n_jobs=workers
    )
    return [c for chunk in results for c in chunk]


class EncryptedVector:
    """Paillier ciphertexts of ``mantissa_i * 16**exponent`` with ``|mantissa_i| <= bound``.

    Create one with :meth:`PaillierPublicKey.encrypt_vector`; decrypt with
    :meth:`PaillierPrivateKey.decrypt_vector`.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key.
    ciphertexts : sequence of int
        Each in ``(0, n**2)`` and coprime to ``n`` (checked).
    exponent : int
        The shared base-16 exponent.
    bound : int
        Public bound on every ``|mantissa|``; at most ``public_key.max_int``.

    Notes
    -----
    Supported: ``ev + ev``, ``ev + x``, ``ev - ...``, ``-ev``, ``ev * x`` (scalar or
    elementwise array), ``ev / s``, ``ev.sum()``, ``A @ ev`` and ``ev @ A`` for a 2-D
    float array ``A`` (``X.T @ ev`` uses Pippenger's bucket method), ``len``,
    indexing, slicing, fancy indexing and :func:`concatenate`.  Float plaintexts
    that multiply are encoded at :data:`DEFAULT_PLAINTEXT_PRECISION`; use
    :meth:`multiply` / :meth:`matmul` to choose another precision, or ``n_jobs``.

    What results reveal: an operation's output ciphertexts are deterministic
    functions of its inputs, so a receiver who knows the inputs could recognise how
    they were combined.  Call :meth:`rerandomize` (or :meth:`mask`, which also hides
    the plaintext) before a vector leaves its party.

    Raises
    ------
    MalformedCiphertextError
        If a ciphertext is outside ``(0, n**2)`` or shares a factor with ``n``.
    ValueError
        If ``bound`` is not a non-negative int.
    PlaintextOverflowError
        If ``bound`` exceeds ``public_key.max_int``.

    Examples
    --------
    >>> import numpy as np
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> ev = public_key.encrypt_vector([1.0, -2.0, 0.5])
    >>> private_key.decrypt_vector(2 * ev + [1.0, 1.0, 1.0]).tolist()
    [3.0, -3.0, 2.0]
    >>> X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -4.0]])
    >>> private_key.decrypt_vector(X @ ev).tolist()
    [2.0, -4.0]
    >>> private_key.decrypt(ev.sum()), private_key.decrypt_vector(ev[[2, 0]]).tolist()
    (-0.5, [0.5, 1.0])
    >>> same = EncryptedVector(public_key, ev.ciphertexts, ev.exponent, ev.bound)
    >>> private_key.decrypt_vector(same - ev).tolist()
    [0.0, 0.0, 0.0]
    """

    __array_ufunc__ = None  # make numpy defer: ndarray + ev -> ev.__radd__, X @ ev -> __rmatmul__

    __slots__ = ("_ciphertexts", "bound", "exponent", "public_key")

    _matmul_plan: ClassVar[str | None] = None  # tests force "subsets", "buckets" or "tables"

    def __init__(
        self,
        public_key: PaillierPublicKey,
        ciphertexts: Sequence[int],
        exponent: int,
        bound: int,
    ) -> None:
        checked = validate_ciphertexts(ciphertexts, public_key._n, public_key._n2)
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
            raise ValueError(f"bound must be a non-negative int, got {bound!r}")
        check_bound(bound, public_key.n, "this vector")
        self.public_key = public_key
        self._ciphertexts = checked
        self.exponent = int(exponent)
        self.bound = bound

    @classmethod
    def _trusted(
        cls, public_key: PaillierPublicKey, ciphertexts: list[mpz], exponent: int, bound: int
    ) -> EncryptedVector:
        vector = cls.__new__(cls)
        vector.public_key = public_key
        vector._ciphertexts = ciphertexts
        vector.exponent = exponent
        vector.bound = bound
        return vector

    def _like(
        self, ciphertexts: list[mpz], exponent: int | None = None, bound: int | None = None
    ) -> EncryptedVector:
        return EncryptedVector._trusted(
            self.public_key,
            ciphertexts,
            self.exponent if exponent is None else exponent,
            self.bound if bound is None else bound,
        )

    def with_bound(self, bound: int) -> EncryptedVector:
        """The same ciphertexts with another public mantissa bound.

        A receiver replaces the bound a peer claimed by the public worst case it can
        justify, so that its overflow checks never rely on a peer's word.

        Parameters
        ----------
        bound : int
            The new bound on every ``|mantissa|``.

        Returns
        -------
        EncryptedVector
            A vector sharing these ciphertexts.

        Raises
        ------
        PlaintextOverflowError
            If ``bound`` exceeds ``public_key.max_int``.
        """
        return self._like(self._ciphertexts, bound=check_bound(bound, self.public_key.n, "bound"))

    @classmethod
    def from_numbers(cls, numbers_: Sequence[EncryptedNumber], max_abs: float) -> EncryptedVector:
        """Build a vector from single encrypted numbers (e.g. phe's), aligning exponents.

        Parameters
        ----------
        numbers_ : sequence of EncryptedNumber
            Under one key.
        max_abs : float
            A bound on the absolute value of every number (the numbers are
            encrypted, so the bound must come from the caller).

        Returns
        -------
        EncryptedVector
            At the smallest exponent of the numbers.

        Raises
        ------
        ValueError
            If ``numbers_`` is empty.
        KeyMismatchError
            If the numbers are under different keys.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> numbers = [public_key.encrypt(3), public_key.encrypt(0.5)]
        >>> ev = EncryptedVector.from_numbers(numbers, max_abs=4.0)
        >>> private_key.decrypt_vector(ev).tolist()
        [3.0, 0.5]
        """
        if not numbers_:
            raise ValueError("from_numbers needs at least one number")
        public_key = numbers_[0].public_key
        for number in numbers_:
            public_key.check_same(number.public_key)
        exponent = min(number.exponent for number in numbers_)
        aligned = [number.decrease_exponent_to(exponent)._ciphertext for number in numbers_]
        (bound,) = encode_array(np.array([abs(max_abs)]), exponent)
        return cls._trusted(
            public_key, aligned, exponent, check_bound(max(bound, 1), public_key.n, "max_abs")
        )

    # container protocol -------------------------------------------------------
    @property
    def ciphertexts(self) -> list[int]:
        """The ciphertexts as Python ints (a copy)."""
        return [int(c) for c in self._ciphertexts]

    def __len__(self) -> int:
        return len(self._ciphertexts)

    def __iter__(self) -> Iterator[EncryptedNumber]:
        for ciphertext in self._ciphertexts:
            yield EncryptedNumber._trusted(self.public_key, ciphertext, self.exponent)

    def __repr__(self) -> str:
        return (
            f"<EncryptedVector len={len(self)} exponent={self.exponent} "
            f"bound=2**{self.bound.bit_length()} key={self.public_key.fingerprint}>"
        )

    @overload
    def __getitem__(self, index: int | np.integer[Any]) -> EncryptedNumber: ...

    @overload
    def __getitem__(self, index: slice | Sequence[int] | npt.NDArray[Any]) -> EncryptedVector: ...

    def __getitem__(self, index: object) -> EncryptedNumber | EncryptedVector:
        if isinstance(index, bool):
            raise IndexError("a bool is not a valid index")
        if isinstance(index, numbers.Integral):
            return EncryptedNumber._trusted(
                self.public_key, self._ciphertexts[int(index)], self.exponent
            )
        if isinstance(index, slice):
            return self._like(self._ciphertexts[index])
        positions = np.asarray(index)
        if positions.dtype == bool:
            if positions.shape != (len(self),):
                raise IndexError(
                    f"boolean index of shape {positions.shape} does not match length {len(self)}"
                )
            positions = np.flatnonzero(positions)
        if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
            raise IndexError("index must be an int, a slice, or a 1-D array of ints or bools")
        length = len(self)
        chosen = []
        for position in positions.tolist():
            if not -length <= position < length:
                raise IndexError(f"index {position} is out of range for length {length}")
            chosen.append(self._ciphertexts[position])
        return self._like(chosen)

    # exponent alignment ---------------------------------------------------------
    def decrease_exponent_to(
        self, new_exponent: int, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> EncryptedVector:
        """The same values at a smaller exponent (one small exponentiation each).

        Parameters
        ----------
        new_exponent : int
            At most :attr:`exponent`.
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        EncryptedVector
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
        ciphertexts = self._powmod_each([factor] * len(self), n_jobs, executor)
        return self._like(ciphertexts, new_exponent, bound)

    def _aligned_with(self, other: EncryptedVector) -> tuple[EncryptedVector, EncryptedVector]:
        self.public_key.check_same(other.public_key)
        if len(self) != len(other):
            raise ValueError(f"length mismatch: {len(self)} vs {len(other)}")
        exponent = min(self.exponent, other.exponent)
        return self.decrease_exponent_to(exponent), other.decrease_exponent_to(exponent)

    # addition ---------------------------------------------------------------------
    def __add__(self, other: object) -> EncryptedVector:
        n2 = self.public_key._n2
        if isinstance(other, EncryptedVector):
            a, b = self._aligned_with(other)
            bound = sum_bound(a.bound, b.bound, self.public_key.n)
            products = _local_chunks(
                _kernels.multiply_pairs_gil_free,
                lambda start, stop: (a._ciphertexts[start:stop], b._ciphertexts[start:stop], n2),
                len(a),
            )
            return a._like(products, bound=bound)
        addend = plaintext_addend(
            other, len(self), exponent=self.exponent, bound=self.bound, n=self.public_key.n
        )
        if addend is None:
            return NotImplemented
        mantissas, bound = addend
        n = self.public_key._n
        sums = _local_chunks(
            _kernels.add_plaintexts_gil_free,
            lambda start, stop: (self._ciphertexts[start:stop], mantissas[start:stop], n, n2),
            len(self),
        )
        return self._like(sums, bound=bound)

    def __radd__(self, other: object) -> EncryptedVector:
        return self.__add__(other)

    def __neg__(self) -> EncryptedVector:
        return self._like(batch_invert(self._ciphertexts, self.public_key._n2))

    def __sub__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self + (-other)
        array = as_plaintext_array(other)
        if array is None:
            return NotImplemented
        return self + (-array)

    def __rsub__(self, other: object) -> EncryptedVector:
        if as_plaintext_array(other) is None:
            return NotImplemented
        return (-self) + other

    # multiplication by plaintexts ------------------------------------------------------
    def _powmod_each(
        self, exponents: Sequence[int], n_jobs: int | None, executor: Executor | None
    ) -> list[mpz]:
        """``c_i ** e_i`` for signed ``e_i`` (negative ones through batch inversion)."""
        n2 = self.public_key._n2
        bases, exponents = self._ciphertexts, list(exponents)
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(len(bases), workers, _MIN_CHUNK_POWMOD)
        results = parallel.run_chunks(
            _kernels.powmod_signed_gil_free,
            [(bases[a:b], exponents[a:b], n2) for a, b in chunks],
            releases_gil=True,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [c for chunk in results for c in chunk]

    def multiply(
        self,
        other: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> EncryptedVector:
        """Multiply by a plaintext scalar or elementwise by a 1-D array.

        Parameters
        ----------
        other : float, int or array_like
            The plaintext factor(s).
        precision : float, optional
            Resolution of float factors (default
            :data:`DEFAULT_PLAINTEXT_PRECISION`; integers are exact).
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        EncryptedVector
            Exponent ``self.exponent + exponent(other)``.

        Raises
        ------
        PlaintextOverflowError
            If the products could leave the plaintext space (checked first).

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = public_key.encrypt_vector([1.0, -2.0])
        >>> product = ev.multiply([0.1, 3], precision=2.0**-32)
        >>> product.exponent, private_key.decrypt_vector(product).round(6).tolist()
        (-16, [0.1, -6.0])
        """
        factors = plaintext_factors(
            other, len(self), precision, bound=self.bound, n=self.public_key.n
        )
        if factors is None:
            raise TypeError(f"cannot multiply an EncryptedVector by {type(other).__name__}")
        mantissas, exponent, bound = factors
        return self._like(
            self._powmod_each(mantissas, n_jobs, executor), self.exponent + exponent, bound
        )

    def __mul__(self, other: object) -> EncryptedVector:
        if isinstance(other, EncryptedVector | EncryptedNumber):
            raise TypeError("Paillier cannot multiply two ciphertexts")
        if as_plaintext_array(other) is None:
            return NotImplemented
        return self.multiply(other)  # type: ignore[arg-type]

    def __rmul__(self, other: object) -> EncryptedVector:
        return self.__mul__(other)

    def __truediv__(self, other: object) -> EncryptedVector:
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self.multiply(1.0 / float(other))

    # matrix products --------------------------------------------------------------
    def matmul(
        self,
        matrix: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> EncryptedVector:
        """Return ``matrix @ self`` for a 2-D plaintext ``matrix`` of shape ``(m, len(self))``.

        Output ``i`` is ``prod_k c_k ** A[i, k]``.  Three plans: grouped subset
        products over bit planes, whose tables every output shares
        (:mod:`crypto.subset_exp`, usually the cheapest for both ``X @ ev`` and
        ``X.T @ ev``); Pippenger's bucket method per output; a fixed-base table per
        ciphertext.  The cheapest plan is chosen from operation counts.

        Parameters
        ----------
        matrix : array_like
            Shape ``(m, len(self))``.
        precision : float, optional
            Resolution of float entries (default
            :data:`DEFAULT_PLAINTEXT_PRECISION`; integer matrices are exact).
        n_jobs, executor
            See :mod:`crypto.parallel` (both plans are multiplication-bound, so the
            default pool is a process pool).

        Returns
        -------
        EncryptedVector
            ``m`` ciphertexts at exponent ``self.exponent + exponent(matrix)``.

        Raises
        ------
        ValueError
            If ``matrix`` is not 2-D with ``len(self)`` columns.
        EncodingError
            If ``matrix`` is not numeric.
        PlaintextOverflowError
            If a row's products could leave the plaintext space (checked first).

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = public_key.encrypt_vector([1.0, 2.0, 3.0])
        >>> private_key.decrypt_vector(ev.matmul([[1, 1, 1], [0, 0, 2]])).tolist()
        [6.0, 6.0]
        """
        rows, exponent, bound = matrix_factors(
            matrix, len(self), precision, bound=self.bound, n=self.public_key.n
        )
        bits = max((max(max(row), -min(row)).bit_length() for row in rows if row), default=0)
        if not rows:
            return self._like([], self.exponent + exponent, bound)
        ciphertexts = self._matmul_rows(rows, bits, n_jobs, executor)
        return self._like(ciphertexts, self.exponent + exponent, bound)

    def _matmul_rows(
        self,
        rows: list[list[int]],
        bits: int,
        n_jobs: int | None,
        executor: Executor | None,
    ) -> list[mpz]:
        n2 = self.public_key._n2
        width, count = len(self), len(rows)
        workers = parallel.effective_workers(n_jobs, executor)
        if bits == 0 or width == 0:
            return [mpz(1)] * count
        window = best_window(width, bits)
        bucket_cost = count * -(-bits // window) * (width + (2 << window))
        digits = -(-bits // WINDOW_BITS)
        table_cost = width * digits * (1 << WINDOW_BITS) * 2 + count * width * digits
        costs = {
            "subsets": subset_cost(width, count, bits)[0],
            "buckets": bucket_cost,
            "tables": table_cost,
        }
        plan = self._matmul_plan or min(costs, key=costs.__getitem__)
        if plan == "subsets":
            return self._matmul_subsets(rows, bits, workers, n_jobs, executor)
        if plan == "buckets":
            # split the long rows (columns of ciphertexts); combine partial products
            chunks = parallel.chunk_bounds(width, workers, max(256, width // workers))
            return self._column_blocks(_kernels.matmul_buckets, chunks, rows, n_jobs, executor)
        chunks = parallel.chunk_bounds(count, workers, max(64, count // workers))
        # every chunk reads all ciphertexts: one copy per worker on a cluster
        shared, modulus = parallel.Resident(self._ciphertexts), parallel.Resident(n2)
        results = parallel.run_chunks(
            _kernels.matmul_tables,
            [(shared, rows[a:b], modulus) for a, b in chunks],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [c for chunk in results for c in chunk]

    def _column_blocks(
        self,
        kernel: Callable[[Sequence[mpz], Sequence[Sequence[int]], mpz], list[mpz]],
        bounds: Sequence[tuple[int, int]],
        rows: list[list[int]],
        n_jobs: int | None,
        executor: Executor | None,
    ) -> list[mpz]:
        """Each block of columns ``[a, b)`` on a worker; the partial products multiplied."""
        n2 = self.public_key._n2
        partials = parallel.run_chunks(
            kernel,
            [(self._ciphertexts[a:b], [row[a:b] for row in rows], n2) for a, b in bounds],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        result = partials[0]
        for partial in partials[1:]:
            result = [x * y % n2 for x, y in zip(result, partial, strict=True)]
        return result

    def _matmul_subsets(
        self,
        rows: list[list[int]],
        bits: int,
        workers: int,
        n_jobs: int | None,
        executor: Executor | None,
    ) -> list[mpz]:
        """The subset-product plan, split by columns or by rows, whichever costs less."""
        n2 = self.public_key._n2
        width, count = len(self), len(rows)
        if workers <= 1:
            return _kernels.matmul_subsets(self._ciphertexts, rows, n2)
        column_cost, group = subset_cost(-(-width // workers), count, bits)
        row_cost, _ = subset_cost(width, -(-count // workers), bits)
        if column_cost + count < row_cost and width > group:
            # two column blocks per worker: a worker slowed by other load takes fewer
            # (each extra block costs one Horner pass, about rows * bits squarings)
            size = -(-width // (2 * workers) // group) * group
            bounds = [(a, min(a + size, width)) for a in range(0, width, size)]
            return self._column_blocks(_kernels.matmul_subsets, bounds, rows, n_jobs, executor)
        size = -(-count // workers)
        shared, modulus = parallel.Resident(self._ciphertexts), parallel.Resident(n2)
        results = parallel.run_chunks(
            _kernels.matmul_subsets,
            [(shared, rows[a : a + size], modulus) for a in range(0, count, size)],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [c for chunk in results for c in chunk]

    def __rmatmul__(self, other: object) -> EncryptedVector:
        if not isinstance(other, np.ndarray | list | tuple):
            return NotImplemented
        array = np.asarray(other)
        if array.ndim == 1:
            raise ValueError(
                "a 1-D array @ EncryptedVector is a dot product: use (ev * x).sum(), "
                "or reshape x to (1, n)"
            )
        return self.matmul(array)

    def __matmul__(self, other: object) -> EncryptedVector:
        if not isinstance(other, np.ndarray | list | tuple):
            return NotImplemented
        array = np.asarray(other)
        if array.ndim != 2:
            raise ValueError(f"ev @ A needs a 2-D A, got shape {array.shape}")
        return self.matmul(array.T)

    # reductions and re-randomisation ------------------------------------------------
    def sum(self) -> EncryptedNumber:
        """Encrypted sum of all elements (one multiplication per element).

        Returns
        -------
        EncryptedNumber
            At :attr:`exponent`.

        Raises
        ------
        PlaintextOverflowError
            If the sum could leave the plaintext space.
        """
        check_bound(self.bound * len(self), self.public_key.n, "sum")
        n2 = self.public_key._n2
        total = mpz(1)
        for ciphertext in self._ciphertexts:
            total = total * ciphertext % n2
        return EncryptedNumber._trusted(self.public_key, total, self.exponent)

    def rerandomize(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> EncryptedVector:
        """The same plaintexts under fresh obfuscators, statistically uniform in ``<hs>``.

        Do this before a vector leaves its party; then its ciphertexts reveal
        nothing about how they were computed, even to the key owner.

        Parameters
        ----------
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        EncryptedVector
            New ciphertexts of the same values, exponent and bound.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = public_key.encrypt_vector([1.0, 2.0])
        >>> fresh = ev.rerandomize()
        >>> fresh.ciphertexts == ev.ciphertexts, private_key.decrypt_vector(fresh).tolist()
        (False, [1.0, 2.0])
        """
        return self._like(
            rerandomize_ciphertexts(
                self.public_key, self._ciphertexts, n_jobs=n_jobs, executor=executor
            )
        )

    def pack(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> PackedEncryptedVector:
        """Pack several values into each ciphertext (see :mod:`.packing`).

        Parameters
        ----------
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        PackedEncryptedVector
            See :func:`~crypto.paillier.packing.pack_vector`.
        """
        return pack_vector(self, n_jobs=n_jobs, executor=executor)

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[MaskedVector, VectorMask]:
        """Hide every plaintext under a uniform mask and re-randomise (see :mod:`.masking`).

        Parameters
        ----------
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        tuple
            ``(MaskedVector to send, VectorMask to keep)``.
        """
        return mask_vector(self, n_jobs=n_jobs, executor=executor)

    # serialisation ----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise (fixed width per ciphertext); see :mod:`.serialization`.

        Returns
        -------
        bytes
            The vector format of :func:`~crypto.paillier.serialization.vector_to_bytes`.
        """
        from crypto.paillier.serialization import vector_to_bytes

        return vector_to_bytes(self)

    @classmethod
    def from_bytes(
        cls, data: bytes, public_key: PaillierPublicKey, *, max_bytes: int | None = None
    ) -> EncryptedVector:
        """Deserialise and validate a vector encrypted under ``public_key``.

        Parameters
        ----------
        data : bytes
            Output of :meth:`to_bytes`.
        public_key : PaillierPublicKey
            The key the vector must be under.
        max_bytes : int, optional
            Refuse larger inputs (default 1 GiB).

        Returns
        -------
        EncryptedVector
            The validated vector.

        Raises
        ------
        DeserializationError
            If ``data`` is malformed or holds another kind of vector.
        KeyMismatchError
            If the vector is under another key.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> data = public_key.encrypt_vector([1.5, -2.0]).to_bytes()
        >>> private_key.decrypt_vector(EncryptedVector.from_bytes(data, public_key)).tolist()
        [1.5, -2.0]
        """
        from crypto.paillier.serialization import vector_from_bytes

        vector = vector_from_bytes(data, public_key, max_bytes=max_bytes)
        if not isinstance(vector, EncryptedVector):
            raise DeserializationError(f"expected an EncryptedVector, got {type(vector).__name__}")
        return vector


def concatenate(vectors: Sequence[EncryptedVector]) -> EncryptedVector:
    """Join vectors under one key end to end (exponents aligned to the smallest).

    Parameters
    ----------
    vectors : sequence of EncryptedVector
        At least one, all under the same key.

    Returns
    -------
    EncryptedVector
        The values of every vector in order; the bound is the largest bound.

    Raises
    ------
    ValueError
        If ``vectors`` is empty.
    KeyMismatchError
        If the vectors are under different keys.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> a = public_key.encrypt_vector([1.0, 2.0])
    >>> b = public_key.encrypt_vector([0.5], precision=2.0**-40)
    >>> joined = concatenate([a, b])
    >>> joined.exponent, private_key.decrypt_vector(joined).tolist()
    (-10, [1.0, 2.0, 0.5])
    """
    if not vectors:
        raise ValueError("concatenate needs at least one vector")
    first = vectors[0]
    for vector in vectors[1:]:
        first.public_key.check_same(vector.public_key)
    exponent = min(vector.exponent for vector in vectors)
    aligned = [vector.decrease_exponent_to(exponent) for vector in vectors]
    return EncryptedVector._trusted(
        first.public_key,
        [c for vector in aligned for c in vector._ciphertexts],
        exponent,
        max(vector.bound for vector in aligned),
    )
