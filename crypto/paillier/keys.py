"""Paillier keys with ``g = n + 1``, phe-compatible names and number format."""

from __future__ import annotations

import hashlib
from concurrent.futures import Executor

import gmpy2
import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

from crypto import parallel
from crypto.encoding import (
    decode_array,
    decode_scalar,
    max_int,
    to_signed,
)
from crypto.exceptions import (
    InvalidKeyError,
    KeyMismatchError,
    WeakKeyError,
)
from crypto.paillier import _kernels
from crypto.paillier.encryption import Encryptor
from crypto.paillier.masking import MaskedVector
from crypto.paillier.number import EncryptedNumber
from crypto.paillier.obfuscation import (
    ObfuscatorPool,
    derive_obfuscation_base,
    fresh_exponent_bits,
)
from crypto.paillier.packing import PackedEncryptedVector, unpack_mantissas
from crypto.paillier.validation import validate_ciphertexts
from crypto.paillier.vector import EncryptedVector
from crypto.primes import random_prime

__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_VECTOR_PRECISION",
    "MAX_KEY_BITS",
    "MIN_KEY_BITS",
    "WEAKEST_KEY_BITS",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "check_key_length",
    "generate_paillier_keypair",
    "key_length_problem",
    "shortest_key_bits",
]

MIN_KEY_BITS = 2048
"""Shortest modulus accepted without ``allow_weak_key=True`` (NIST SP 800-57 to 2030)."""
DEFAULT_KEY_BITS = 2048
MAX_KEY_BITS = 16384
"""Longest modulus accepted (bounds the work a peer's key can cause)."""
WEAKEST_KEY_BITS = 1024
"""Shortest key a party generates for training, and only with ``allow_weak_key``."""
DEFAULT_VECTOR_PRECISION = 2.0**-32
"""Default resolution of :meth:`PaillierPublicKey.encrypt_vector` (exponent -8)."""

_MIN_CHUNK_DECRYPT = 8


def _check_modulus(n: int, allow_weak_key: bool) -> mpz:
    if isinstance(n, bool) or not isinstance(n, int | gmpy2.mpz):
        raise InvalidKeyError(f"the modulus n must be an int, got {type(n).__name__}")
    n = mpz(n)
    bits = n.bit_length()
    if n < 15 or n % 2 == 0:
        raise InvalidKeyError("the modulus n must be an odd composite greater than 15")
    if bits > MAX_KEY_BITS:
        raise InvalidKeyError(f"a {bits}-bit modulus exceeds the {MAX_KEY_BITS}-bit limit")
    if bits < MIN_KEY_BITS and not allow_weak_key:
        raise WeakKeyError(
            f"a {bits}-bit Paillier key is below the {MIN_KEY_BITS}-bit minimum "
            "(NIST SP 800-57: 112-bit security needs 2048 bits); generate a longer "
            "key, or pass allow_weak_key=True in tests and benchmarks only"
        )
    if gmpy2.is_square(n):
        raise InvalidKeyError("the modulus n must not be a perfect square")
    return n


def shortest_key_bits(allow_weak_key: bool, weakest: int = WEAKEST_KEY_BITS) -> int:
    """The shortest key length the key policy accepts.

    Parameters
    ----------
    allow_weak_key : bool
        Whether weak keys (tests and quick trials) are allowed.
    weakest : int, default WEAKEST_KEY_BITS
        The floor with ``allow_weak_key`` (1024 for training; secure sum allows 512).

    Returns
    -------
    int
        ``weakest`` with ``allow_weak_key``, else :data:`MIN_KEY_BITS`.

    Examples
    --------
    >>> shortest_key_bits(False), shortest_key_bits(True), shortest_key_bits(True, 512)
    (2048, 1024, 512)
    """
    return weakest if allow_weak_key else MIN_KEY_BITS


def key_length_problem(
    bits: object,
    *,
    allow_weak_key: bool,
    weakest: int = WEAKEST_KEY_BITS,
    flag: str = "allow_weak_key",
) -> str | None:
    """What is wrong with a Paillier key length a party is asked to generate, if anything.

    The one key policy of every entry point (job files, hetero LR settings, the
    estimator, the demo): an even number of bits from :data:`MIN_KEY_BITS` to
    :data:`MAX_KEY_BITS`; down to ``weakest`` only with ``allow_weak_key``.

    Parameters
    ----------
    bits : object
        The requested length.
    allow_weak_key : bool
        Whether keys under :data:`MIN_KEY_BITS` are allowed (tests, quick trials).
    weakest : int, default WEAKEST_KEY_BITS
        The shortest length allowed with ``allow_weak_key``.
    flag : str, default "allow_weak_key"
        How the caller's user spells the opt-in (named in the message).

    Returns
    -------
    str or None
        ``None`` if the length is allowed; else the problem: either a phrase
        starting with ``"must be"`` (not an allowed length at all) or a sentence
        starting with ``"a <bits>-bit key is weak"``.

    Examples
    --------
    >>> key_length_problem(2048, allow_weak_key=False) is None
    True
    >>> print(key_length_problem(1024, allow_weak_key=False))
    a 1024-bit key is weak; use at least 2048 bits (allow_weak_key only for tests and quick trials)
    >>> key_length_problem(1025, allow_weak_key=True)
    'must be an even number of bits from 2048 to 16384 (1024 with allow_weak_key), not 1025'
    """
    if (
        isinstance(bits, bool)
        or not isinstance(bits, int)
        or bits % 2
        or not weakest <= bits <= MAX_KEY_BITS
    ):
        return (
            f"must be an even number of bits from {MIN_KEY_BITS} to {MAX_KEY_BITS} "
            f"({weakest} with {flag}), not {bits!r}"
        )
    if bits < MIN_KEY_BITS and not allow_weak_key:
        return (
            f"a {bits}-bit key is weak; use at least {MIN_KEY_BITS} bits "
            f"({flag} only for tests and quick trials)"
        )
    return None


def check_key_length(
    bits: object,
    *,
    allow_weak_key: bool,
    weakest: int = WEAKEST_KEY_BITS,
    flag: str = "allow_weak_key",
) -> int:
    """Refuse a key length the key policy does not allow (see :func:`key_length_problem`).

    Parameters
    ----------
    bits : object
        The requested length.
    allow_weak_key : bool
        Whether keys under :data:`MIN_KEY_BITS` are allowed.
    weakest : int, default WEAKEST_KEY_BITS
        The shortest length allowed with ``allow_weak_key``.
    flag : str, default "allow_weak_key"
        How the caller's user spells the opt-in.

    Returns
    -------
    int
        ``bits``.

    Raises
    ------
    WeakKeyError
        If ``bits`` is allowed only with ``allow_weak_key``, which is false.
    InvalidKeyError
        If ``bits`` is not an allowed length at all.

    Examples
    --------
    >>> check_key_length(3072, allow_weak_key=False)
    3072
    >>> check_key_length(1024, allow_weak_key=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.WeakKeyError: a 1024-bit key is weak; use at least 2048 bits ...
    """
    problem = key_length_problem(bits, allow_weak_key=allow_weak_key, weakest=weakest, flag=flag)
    if problem is None:
        assert isinstance(bits, int)
        return bits
    if problem.startswith("must"):
        raise InvalidKeyError(f"key_length {problem}")
    raise WeakKeyError(problem)


class PaillierPublicKey:
    """A Paillier public key ``n`` (with ``g = n + 1``).

    Parameters
    ----------
    n : int
        The modulus, a product of two primes of equal length.
    allow_weak_key : bool, default False
        Accept a modulus shorter than :data:`MIN_KEY_BITS` (tests, benchmarks).

    Raises
    ------
    WeakKeyError
        If ``n`` is too short and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``n`` is even, a square, too large or not an int.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> private_key.decrypt(public_key.encrypt(3) + 4)
    7
    """

    __slots__ = ("_encryptor", "_hs", "_n", "_n2", "_pool", "allow_weak_key")

    def __init__(self, n: int, *, allow_weak_key: bool = False) -> None:
        self._n = _check_modulus(n, allow_weak_key)
        self._n2 = self._n * self._n
        self._hs: mpz | None = None
        self._pool = ObfuscatorPool()
        self._encryptor = Encryptor(
            self,
            self._pool,
            _kernels.encrypt_public,
            _kernels.obfuscators_public,
            (self._n, fresh_exponent_bits(self._n)),
        )
        self.allow_weak_key = allow_weak_key

    # phe-compatible attributes -------------------------------------------------
    @property
    def n(self) -> int:
        """The modulus."""
        return int(self._n)

    @property
    def nsquare(self) -> int:
        """``n**2``, the ciphertext modulus."""
        return int(self._n2)

    @property
    def g(self) -> int:
        """The generator ``n + 1``."""
        return int(self._n) + 1

    @property
    def max_int(self) -> int:
        """Largest mantissa magnitude that can be encrypted."""
        return max_int(int(self._n))

    @property
    def bits(self) -> int:
        """Bit length of ``n``."""
        return int(self._n.bit_length())

    @property
    def fingerprint(self) -> str:
        """First 16 bytes of SHA-256 over ``n`` (hex): names the key in logs and messages."""
        return self.fingerprint_bytes.hex()

    @property
    def fingerprint_bytes(self) -> bytes:
        """:attr:`fingerprint` as 16 raw bytes."""
        width = (self.bits + 7) // 8
        return hashlib.sha256(b"paillier-n" + int(self._n).to_bytes(width, "big")).digest()[:16]

    @property
    def obfuscation_base(self) -> int:
        """The DJN base ``hs``, derived from ``n`` (see :mod:`.obfuscation`)."""
        if self._hs is None:
            self._hs = derive_obfuscation_base(self._n)
        return int(self._hs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and self._n == other._n

    def __hash__(self) -> int:
        return hash(("PaillierPublicKey", int(self._n)))

    def __repr__(self) -> str:
        return f"<PaillierPublicKey {self.bits} bits {self.fingerprint}>"

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle only n: process pools may copy a key, its obfuscator pool must not.
        return (_rebuild_public_key, (int(self._n), self.allow_weak_key))

    def check_same(self, other: PaillierPublicKey) -> None:
        """Raise :class:`KeyMismatchError` unless ``other`` is this key.

        Parameters
        ----------
        other : PaillierPublicKey
            The key of another operand.

        Raises
        ------
        KeyMismatchError
            If ``other`` has another modulus.
        """
        if other != self:
            raise KeyMismatchError(
                f"operands are encrypted under different keys ({self.fingerprint} "
                f"vs {other.fingerprint})"
            )

    # obfuscators -------------------------------------------------------------
    @property
    def precomputed_obfuscators(self) -> int:
        """How many precomputed obfuscators are waiting in this key's pool."""
        return len(self._pool)

    def precompute_obfuscators(
        self, count: int, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> int:
        """Compute ``count`` obfuscators ahead of time for later encryptions.

        Each is consumed by exactly one encryption.

        Parameters
        ----------
        count : int
            How many obfuscators to add.
        n_jobs : int, optional
            Workers (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        int
            The new pool size.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, _ = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> public_key.precompute_obfuscators(4)
        4
        >>> _ = public_key.encrypt_vector([1.0, 2.0, 3.0])
        >>> public_key.precomputed_obfuscators
        1
        """
        return self._encryptor.precompute(count, n_jobs, executor)

    # encryption ----------------------------------------------------------------
    def encrypt(self, value: int | float, precision: float | None = None) -> EncryptedNumber:
        """Encrypt one number (phe's ``encrypt``).

        Parameters
        ----------
        value : int or float
            The number.
        precision : float, optional
            Fix the resolution; without it a float keeps all its 53 bits and the
            exponent (visible in the result) reveals its magnitude, as in phe.

        Returns
        -------
        EncryptedNumber
            The ciphertext and its (public) exponent.

        Raises
        ------
        EncodingError
            If ``value`` is not a finite real number.
        PlaintextOverflowError
            If the encoded value does not fit the key.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> x = public_key.encrypt(2.5)
        >>> private_key.decrypt(x * 2 - 1)
        4.0
        """
        return self._encryptor.number(value, precision)

    def encrypt_vector(
        self,
        values: npt.ArrayLike,
        precision: float = DEFAULT_VECTOR_PRECISION,
        *,
        max_abs: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> EncryptedVector:
        """Encrypt a 1-D array with one shared exponent.

        Parameters
        ----------
        values : array_like of float
            The plaintexts (1-D).
        precision : float, default 2**-32
            Absolute resolution; sets the shared exponent.
        max_abs : float, optional
            A public bound on ``|values|``.  The vector carries a bound (used to
            detect overflow before it happens and to size packing slots) that is
            visible to whoever receives the vector: pass a bound that is public
            anyway.  Without it the bound is the next power of two above the
            largest mantissa, which reveals the order of magnitude of the largest
            value.
        n_jobs : int, optional
            Workers (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        EncryptedVector
            One ciphertext per value, at the exponent ``precision`` fixes.

        Raises
        ------
        ValueError
            If ``values`` is not 1-D.
        EncodingError
            If a value is not finite, or exceeds ``max_abs``.
        PlaintextOverflowError
            If the values do not fit the key at this precision.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = public_key.encrypt_vector([0.5, -1.0, 2.0], max_abs=4.0)
        >>> len(ev), ev.exponent, ev.bound == 4 * 16**8
        (3, -8, True)
        >>> private_key.decrypt_vector(ev + ev).tolist()
        [1.0, -2.0, 4.0]
        """
        return self._encryptor.vector(values, precision, max_abs, n_jobs, executor)


def _rebuild_public_key(n: int, allow_weak_key: bool) -> PaillierPublicKey:
    return PaillierPublicKey(n, allow_weak_key=allow_weak_key)


class PaillierPrivateKey:
    """A Paillier private key: the factors ``p`` and ``q`` of ``n``.

    Decryption and the owner's own encryption use the Chinese remainder theorem
    (half-size moduli ``p**2`` and ``q**2``).

    Parameters
    ----------
    public_key : PaillierPublicKey
        The matching public key.
    p, q : int
        The prime factors of ``public_key.n``.

    Raises
    ------
    InvalidKeyError
        If ``p * q != n``, ``p == q`` or a factor is not prime.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> private_key.p * private_key.q == public_key.n
    True
    >>> same = PaillierPrivateKey(public_key, private_key.p, private_key.q)
    >>> same.decrypt(public_key.encrypt(-7) + 3)
    -4
    >>> PaillierPrivateKey(public_key, 3, private_key.q)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.InvalidKeyError: p * q does not equal the public key's n
    """

    __slots__ = ("_context", "_encryptor", "_p", "_pool", "_q", "public_key")

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        if not isinstance(public_key, PaillierPublicKey):
            raise InvalidKeyError("public_key must be a PaillierPublicKey")
        p, q = mpz(p), mpz(q)
        if p * q != public_key._n:
            raise InvalidKeyError("p * q does not equal the public key's n")
        if p == q:
            raise InvalidKeyError("p and q must be distinct primes")
        if not (gmpy2.is_prime(p, 25) and gmpy2.is_prime(q, 25)):
            raise InvalidKeyError("p and q must both be prime")
        self.public_key = public_key
        self._p, self._q = (p, q) if p < q else (q, p)
        self._context = _kernels.owner_context(self._p, self._q)
        self._pool = ObfuscatorPool()
        self._encryptor = Encryptor(
            public_key,
            self._pool,
            _kernels.encrypt_owner,
            _kernels.obfuscators_owner,
            (self._p, self._q),
        )

    @property
    def p(self) -> int:
        """The smaller prime factor."""
        return int(self._p)

    @property
    def q(self) -> int:
        """The larger prime factor."""
        return int(self._q)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPrivateKey) and (self._p, self._q) == (
            other._p,
            other._q,
        )

    def __hash__(self) -> int:
        return hash(("PaillierPrivateKey", int(self._p), int(self._q)))

    def __repr__(self) -> str:
        return f"<PaillierPrivateKey for {self.public_key.fingerprint}>"

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_private_key,
            (int(self.public_key._n), self.public_key.allow_weak_key, int(self._p), int(self._q)),
        )

    # encryption with CRT -----------------------------------------------------------
    def precompute_obfuscators(
        self, count: int, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> int:
        """Compute ``count`` owner obfuscators (CRT) ahead of time; see the public key's.

        Parameters
        ----------
        count : int
            How many obfuscators to add.
        n_jobs : int, optional
            Workers (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        int
            The new pool size.
        """
        return self._encryptor.precompute(count, n_jobs, executor)

    @property
    def precomputed_obfuscators(self) -> int:
        """How many precomputed owner obfuscators are waiting."""
        return len(self._pool)

    def encrypt(self, value: int | float, precision: float | None = None) -> EncryptedNumber:
        """Encrypt one number as the key owner (CRT); same result type as the public key's.

        Parameters
        ----------
        value : int or float
            The number.
        precision : float, optional
            Fix the resolution (see :meth:`PaillierPublicKey.encrypt`).

        Returns
        -------
        EncryptedNumber
            A ciphertext anyone holding the public key can compute with.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> private_key.decrypt(private_key.encrypt(1.25) + public_key.encrypt(0.75))
        2.0
        """
        return self._encryptor.number(value, precision)

    def encrypt_vector(
        self,
        values: npt.ArrayLike,
        precision: float = DEFAULT_VECTOR_PRECISION,
        *,
        max_abs: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> EncryptedVector:
        """Encrypt a 1-D array as the key owner, using CRT (about 1.25x faster at 2048 bits).

        The obfuscators are statistically uniform in ``<hs>`` (no short-exponent
        assumption), computed modulo ``p**2`` and ``q**2``.

        Same parameters, result and errors as :meth:`PaillierPublicKey.encrypt_vector`.

        Parameters
        ----------
        values : array_like of float
            The plaintexts (1-D).
        precision : float, default 2**-32
            Absolute resolution; sets the shared exponent.
        max_abs : float, optional
            A public bound on ``|values|``.
        n_jobs : int, optional
            Workers (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        EncryptedVector
            One ciphertext per value under :attr:`public_key`.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = private_key.encrypt_vector([0.25, -3.0])
        >>> ev.public_key == public_key
        True
        >>> private_key.decrypt_vector(ev * 2).tolist()
        [0.5, -6.0]
        """
        return self._encryptor.vector(values, precision, max_abs, n_jobs, executor)

    # decryption ----------------------------------------------------------------------
    def _check_key(self, public_key: PaillierPublicKey) -> None:
        if public_key != self.public_key:
            raise KeyMismatchError(
                f"this private key ({self.public_key.fingerprint}) cannot decrypt a "
                f"ciphertext under key {public_key.fingerprint}"
            )

    def raw_decrypt(self, ciphertext: int) -> int:
        """Decrypt one ciphertext to its plaintext in ``[0, n)`` (phe's ``raw_decrypt``).

        Parameters
        ----------
        ciphertext : int
            A ciphertext under :attr:`public_key`.

        Returns
        -------
        int
            The plaintext residue (a negative mantissa ``m`` comes back as ``n + m``).

        Raises
        ------
        MalformedCiphertextError
            If ``ciphertext`` is outside ``(0, n**2)`` or shares a factor with ``n``.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> private_key.raw_decrypt(public_key.encrypt(5).ciphertext())
        5
        >>> private_key.raw_decrypt(public_key.encrypt(-5).ciphertext()) == public_key.n - 5
        True
        """
        (checked,) = validate_ciphertexts([ciphertext], self.public_key._n, self.public_key._n2)
        return int(self._context.decrypt_raw([checked])[0])

    def decrypt(self, encrypted_number: EncryptedNumber) -> int | float:
        """Decrypt an :class:`EncryptedNumber` (phe's ``decrypt``).

        Parameters
        ----------
        encrypted_number : EncryptedNumber
            A number under :attr:`public_key`.

        Returns
        -------
        int or float
            An int when the exponent is non-negative, else a float.

        Raises
        ------
        PlaintextOverflowError
            If the plaintext lies in the overflow band.
        KeyMismatchError
            If the number is under another key.
        TypeError
            If ``encrypted_number`` is not an :class:`EncryptedNumber`.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> private_key.decrypt(public_key.encrypt(3) * 4)
        12
        >>> private_key.decrypt(public_key.encrypt(3) * 0.5)
        1.5
        """
        if not isinstance(encrypted_number, EncryptedNumber):
            raise TypeError(
                f"decrypt expects an EncryptedNumber, got {type(encrypted_number).__name__}; "
                "use decrypt_vector for vectors"
            )
        self._check_key(encrypted_number.public_key)
        raw = self._context.decrypt_raw([mpz(encrypted_number.ciphertext(be_secure=False))])[0]
        return decode_scalar(to_signed(int(raw), self.public_key.n), encrypted_number.exponent)

    def decrypt_raw(
        self,
        vector: EncryptedVector | PackedEncryptedVector | MaskedVector,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> list[int]:
        """Plaintexts in ``[0, n)`` of every ciphertext of ``vector``, undecoded.

        This is what a key owner returns when it decrypts a :class:`MaskedVector`
        for the party that masked it.

        Parameters
        ----------
        vector : EncryptedVector, PackedEncryptedVector or MaskedVector
            Ciphertexts under :attr:`public_key`.
        n_jobs : int, optional
            Worker threads (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        list of int
            One residue in ``[0, n)`` per ciphertext, in order.

        Raises
        ------
        KeyMismatchError
            If the vector is under another key.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> masked, mask = public_key.encrypt_vector([1.5, -2.0]).mask()
        >>> mask.unmask(private_key.decrypt_raw(masked)).tolist()
        [1.5, -2.0]
        """
        self._check_key(vector.public_key)
        ciphertexts = vector._ciphertexts
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(len(ciphertexts), workers, _MIN_CHUNK_DECRYPT)
        p, q = parallel.Resident(self._p), parallel.Resident(self._q)  # once per job on a cluster
        results = parallel.run_chunks(
            _kernels.decrypt_raw_gil_free,
            [(p, q, list(ciphertexts[a:b])) for a, b in chunks],
            releases_gil=True,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [int(m) for chunk in results for m in chunk]

    def decrypt_vector(
        self,
        vector: EncryptedVector | PackedEncryptedVector,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> npt.NDArray[np.float64]:
        """Decrypt a vector (plain or packed) to a float64 array.

        Parameters
        ----------
        vector : EncryptedVector or PackedEncryptedVector
            Ciphertexts under :attr:`public_key`.
        n_jobs : int, optional
            Worker threads (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        numpy.ndarray
            One float64 per value.

        Raises
        ------
        PlaintextOverflowError
            If a plaintext lies in the overflow band.
        KeyMismatchError
            If the vector is under another key.
        TypeError
            If ``vector`` is a :class:`MaskedVector` (use :meth:`decrypt_raw`).

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> ev = public_key.encrypt_vector([1.0, 2.0, 3.0])
        >>> private_key.decrypt_vector(ev.pack()).tolist()
        [1.0, 2.0, 3.0]
        """
        raw = self.decrypt_raw(vector, n_jobs=n_jobs, executor=executor)
        n = self.public_key.n
        if isinstance(vector, PackedEncryptedVector):
            mantissas = unpack_mantissas(raw, vector.layout)
        elif isinstance(vector, EncryptedVector):
            mantissas = [to_signed(m, n) for m in raw]
        else:
            raise TypeError(
                f"decrypt_vector expects an EncryptedVector or PackedEncryptedVector, got "
                f"{type(vector).__name__}; a MaskedVector is decrypted with decrypt_raw"
            )
        return decode_array(mantissas, vector.exponent)


def _rebuild_private_key(n: int, allow_weak_key: bool, p: int, q: int) -> PaillierPrivateKey:
    return PaillierPrivateKey(PaillierPublicKey(n, allow_weak_key=allow_weak_key), p, q)


def generate_paillier_keypair(
    n_length: int = DEFAULT_KEY_BITS, *, allow_weak_key: bool = False
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Generate a Paillier key pair from the operating system's CSPRNG.

    ``p`` and ``q`` are primes of ``n_length / 2`` bits, both 3 mod 4, with
    ``gcd(p - 1, q - 1) == 2`` and far apart: ``|p - q| > 2**(n_length/2 - 100)``,
    the FIPS 186-4 bound that defeats Fermat factoring.

    Parameters
    ----------
    n_length : int, default 2048
        Bit length of ``n`` (even).
    allow_weak_key : bool, default False
        Permit ``n_length < 2048`` (tests and benchmarks only).

    Returns
    -------
    tuple
        ``(public_key, private_key)``.

    Raises
    ------
    WeakKeyError
        If ``n_length`` is below 2048 and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``n_length`` is not an even int between 64 and 16384.

    Examples
    --------
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> public_key.bits, private_key.public_key == public_key
    (1024, True)
    >>> private_key.decrypt(public_key.encrypt(41) + 1)
    42
    """
    if isinstance(n_length, bool) or not isinstance(n_length, int):
        raise InvalidKeyError(f"n_length must be an int, got {n_length!r}")
    if n_length < MIN_KEY_BITS and not allow_weak_key:
        raise WeakKeyError(
            f"refusing to generate a {n_length}-bit key: the minimum is {MIN_KEY_BITS} "
            "bits (NIST SP 800-57); pass allow_weak_key=True in tests and benchmarks only"
        )
    if n_length % 2 or not 64 <= n_length <= MAX_KEY_BITS:
        raise InvalidKeyError(
            f"n_length must be even and between 64 and {MAX_KEY_BITS}, got {n_length}"
        )
    half = n_length // 2
    min_distance_bits = max(half - 100, half // 2)
    p = random_prime(half)
    while True:
        q = random_prime(half)
        if gmpy2.gcd(p - 1, q - 1) == 2 and abs(p - q).bit_length() > min_distance_bits:
            break
    n = p * q  # both primes have their top two bits set: n has exactly n_length bits
    public_key = PaillierPublicKey(int(n), allow_weak_key=allow_weak_key)
    return public_key, PaillierPrivateKey(public_key, int(p), int(q))
