"""Encryption for one key: pooled obfuscators first, then kernels on any executor.

The public key and the private key (CRT) encrypt the same way and differ only in
the kernels that make obfuscators; :class:`Encryptor` is that shared mechanism.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

from crypto import parallel
from crypto.encoding import encode_array, encode_scalar, exponent_for_precision, max_int
from crypto.exceptions import EncodingError, PlaintextOverflowError
from crypto.paillier.number import EncryptedNumber
from crypto.paillier.obfuscation import ObfuscatorPool
from crypto.paillier.vector import EncryptedVector

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey

__all__ = ["Encryptor", "vector_bound"]

_MIN_CHUNK = 16


def vector_bound(mantissas: Sequence[int], max_abs: float | None, exponent: int, n: int) -> int:
    """The public mantissa bound of a new vector (see ``encrypt_vector``'s ``max_abs``).

    Parameters
    ----------
    mantissas : sequence of int
        The vector's signed mantissas.
    max_abs : float or None
        A public bound on the values; ``None`` takes the next power of two above
        the largest mantissa.
    exponent : int
        The vector's base-16 exponent.
    n : int
        The Paillier modulus.

    Returns
    -------
    int
        The bound on every ``|mantissa|``, at least 1.

    Raises
    ------
    EncodingError
        If a mantissa exceeds ``max_abs``.
    PlaintextOverflowError
        If the bound exceeds :func:`~crypto.encoding.max_int`.

    Examples
    --------
    >>> vector_bound([3, -5], None, 0, 2**64)  # the next power of two above 5
    8
    >>> vector_bound([3, -5], 10.0, 0, 2**64)
    10
    """
    largest = max((abs(m) for m in mantissas), default=0)
    if max_abs is None:
        bound = 1 << largest.bit_length() if largest else 1
    else:
        bound, _ = encode_scalar(abs(max_abs), n, exponent=exponent)
        if largest > bound:
            raise EncodingError(
                f"a value exceeds max_abs={max_abs}: the declared bound must hold for every element"
            )
        bound = max(bound, 1)
    if bound > max_int(n):
        raise PlaintextOverflowError(
            f"values need {bound.bit_length()} bits at exponent {exponent}, more than "
            f"the {max_int(n).bit_length()} bits this key holds; use a coarser precision"
        )
    return bound


class Encryptor:
    """Encrypts under ``public_key`` with one pair of kernels and one obfuscator pool.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key the ciphertexts are under.
    pool : ObfuscatorPool
        Precomputed obfuscators, consumed first.
    encrypt_kernel : callable
        ``encrypt_kernel(*key_args, mantissas) -> ciphertexts``.
    obfuscator_kernel : callable
        ``obfuscator_kernel(*key_args, count) -> obfuscators``.
    key_args : tuple
        Plain numbers identifying the key material for the kernels.

    Notes
    -----
    Users do not build one: every :class:`~crypto.paillier.PaillierPublicKey` and
    :class:`~crypto.paillier.PaillierPrivateKey` owns one, and their ``encrypt``,
    ``encrypt_vector`` and ``precompute_obfuscators`` call it.
    """

    __slots__ = (
        "_encrypt_kernel",
        "_key_args",
        "_obfuscator_kernel",
        "_resident_key",
        "pool",
        "public_key",
    )

    def __init__(
        self,
        public_key: PaillierPublicKey,
        pool: ObfuscatorPool,
        encrypt_kernel: Callable[..., list[mpz]],
        obfuscator_kernel: Callable[..., list[mpz]],
        key_args: tuple[Any, ...],
    ) -> None:
        self.public_key = public_key
        self.pool = pool
        self._encrypt_kernel = encrypt_kernel
        self._obfuscator_kernel = obfuscator_kernel
        self._key_args = key_args
        # shipped once per job to executors that keep data on their workers
        self._resident_key = tuple(parallel.Resident(a) for a in key_args)

    def _run(
        self,
        kernel: Callable[..., list[mpz]],
        total: int,
        argument: Callable[[int, int], object],
        n_jobs: int | None,
        executor: Executor | None,
    ) -> list[mpz]:
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(total, workers, _MIN_CHUNK)
        results = parallel.run_chunks(
            kernel,
            [(*self._resident_key, argument(start, stop)) for start, stop in chunks],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [item for chunk in results for item in chunk]

    def precompute(self, count: int, n_jobs: int | None, executor: Executor | None) -> int:
        """Add ``count`` obfuscators to the pool; return the pool size.

        Parameters
        ----------
        count : int
            How many obfuscators to compute.
        n_jobs : int or None
            Workers; see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor or None
            Run the work on this executor.

        Returns
        -------
        int
            The new pool size.
        """
        self.pool.add(
            self._run(self._obfuscator_kernel, count, lambda a, b: b - a, n_jobs, executor)
        )
        return len(self.pool)

    def mantissas(
        self, mantissas: Sequence[int], n_jobs: int | None, executor: Executor | None
    ) -> list[mpz]:
        """Ciphertexts of signed mantissas (pooled obfuscators first, then fresh ones).

        Parameters
        ----------
        mantissas : sequence of int
            Signed mantissas, each at most ``max_int(n)`` in magnitude.
        n_jobs : int or None
            Workers; see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor or None
            Run the work on this executor.

        Returns
        -------
        list of gmpy2.mpz
            One ciphertext per mantissa, in order.
        """
        pooled = self.pool.take(len(mantissas))
        n, n2 = self.public_key._n, self.public_key._n2
        head = [(1 + (m % n) * n) * rho % n2 for rho, m in zip(pooled, mantissas, strict=False)]
        rest = mantissas[len(pooled) :]
        if not rest:
            return head
        return head + self._run(
            self._encrypt_kernel, len(rest), lambda a, b: list(rest[a:b]), n_jobs, executor
        )

    def number(self, value: int | float, precision: float | None) -> EncryptedNumber:
        """One number, phe's encoding rules.

        Parameters
        ----------
        value : int or float
            The number.
        precision : float or None
            Fix the resolution (see :func:`~crypto.encoding.encode_scalar`).

        Returns
        -------
        EncryptedNumber
            The ciphertext and its exponent.
        """
        mantissa, exponent = encode_scalar(value, self.public_key.n, precision=precision)
        (ciphertext,) = self.mantissas([mantissa], None, None)
        return EncryptedNumber._trusted(self.public_key, ciphertext, exponent)

    def vector(
        self,
        values: npt.ArrayLike,
        precision: float,
        max_abs: float | None,
        n_jobs: int | None,
        executor: Executor | None,
    ) -> EncryptedVector:
        """A 1-D array at one shared exponent, with its public bound.

        Parameters
        ----------
        values : array_like
            The plaintexts (1-D).
        precision : float
            Absolute resolution; sets the shared exponent.
        max_abs : float or None
            A public bound on ``|values|`` (see :func:`vector_bound`).
        n_jobs : int or None
            Workers; see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor or None
            Run the work on this executor.

        Returns
        -------
        EncryptedVector
            One ciphertext per value.

        Raises
        ------
        ValueError
            If ``values`` is not 1-D.
        """
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"encrypt_vector needs a 1-D array, got shape {array.shape}")
        exponent = exponent_for_precision(precision)
        mantissas = encode_array(array, exponent)
        bound = vector_bound(mantissas, max_abs, exponent, self.public_key.n)
        ciphertexts = self.mantissas(mantissas, n_jobs, executor)
        return EncryptedVector._trusted(self.public_key, ciphertexts, exponent, bound)
