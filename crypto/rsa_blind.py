"""RSA blind signatures for RSA-PSI (full-domain hash, CRT signing, verified unblinding).

The host owns an RSA key ``(n, e, d)``; the guest owns identifiers.

1. The guest hashes each id into ``Z_n`` (:meth:`RsaBlindPublicKey.full_domain_hash`)
   and blinds it with a fresh uniform unit ``r``: ``FDH(id) * r**e mod n``
   (:meth:`RsaBlindPublicKey.blind`).  The blinded value is uniform in ``Z_n*``
   and says nothing about the id.
2. The host signs the blinded values: ``FDH(id)**d * r mod n``
   (:meth:`RsaBlindPrivateKey.sign`).
3. The guest removes ``r``, *verifies* every signature (``s**e == FDH(id)``: a host
   that cheats or a corrupted message is caught, naming the index) and turns it
   into a 32-byte tag (:meth:`RsaBlindPublicKey.unblind_tags`).
4. The host computes the tags of its own ids directly
   (:meth:`RsaBlindPrivateKey.tags`); equal ids give equal tags.

Tags are ``SHA-256(b"VFL-PSI-RSA-TAG-V1" || len(salt) || salt || s)`` with ``s`` the
signature as ``byte_length`` big-endian bytes.  Without ``d`` nobody can compute
the tag of an id, so the guest learns only which of its ids the host holds.

Lengths inside hashed encodings are 8-byte big-endian prefixes, so no two
``(salt, id)`` pairs share an encoding.

Notes
-----
The guest's privacy assumes the host's key is well formed (``x -> x**e`` is a
permutation of ``Z_n*``).  A malicious host could choose ``n`` with
``e | p - 1``; then blinded values leak the ``e``-th residue class of ``FDH(id)``
modulo ``p``.  Against such hosts a proof that the key is a permutation must be
added at the protocol level (e.g. the host returns ``e``-th roots of a few
hash-derived challenges).

Parallelism: signing spends its time in ``gmpy2.powmod_base_list``, which
releases the GIL (two threads run about twice as fast as one), so it runs on a
thread pool and the private key never leaves the process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from functools import lru_cache

import gmpy2
from cryptography.hazmat.primitives.asymmetric import rsa
from gmpy2 import mpz

from crypto import parallel
from crypto.exceptions import (
    InvalidKeyError,
    InvalidSignatureError,
    KeyMismatchError,
    MalformedInputError,
    WeakKeyError,
)
from crypto.paillier.validation import batch_invert

__all__ = [
    "ABSOLUTE_MIN_KEY_BITS",
    "DEFAULT_KEY_BITS",
    "FDH_DOMAIN_TAG",
    "MAX_KEY_BITS",
    "MIN_KEY_BITS",
    "PUBLIC_EXPONENT",
    "TAG_BYTES",
    "TAG_DOMAIN_TAG",
    "RsaBlindPrivateKey",
    "RsaBlindPublicKey",
    "RsaBlinding",
    "generate_rsa_blind_key",
    "ints_from_bytes",
    "ints_to_bytes",
]

MIN_KEY_BITS = 2048
"""Shortest modulus generated without ``allow_weak_key=True`` (NIST SP 800-57 to 2030)."""
ABSOLUTE_MIN_KEY_BITS = 1024
"""Shortest modulus accepted at all, even with ``allow_weak_key=True``."""
DEFAULT_KEY_BITS = 2048
MAX_KEY_BITS = 16384
"""Longest modulus accepted (bounds the work a peer's key can cause)."""
PUBLIC_EXPONENT = 65537
FDH_DOMAIN_TAG = b"VFL-PSI-RSA-FDH-V1"
TAG_DOMAIN_TAG = b"VFL-PSI-RSA-TAG-V1"
TAG_BYTES = 32
"""Length of one tag (SHA-256)."""

_FDH_EXTRA_BITS = 128  # FDH output is key_length + 128 bits: 2**-128 from uniform mod n
_MIN_CHUNK_SIGN = 8
_MILLER_RABIN_ROUNDS = 25


@lru_cache(maxsize=1)
def _small_primes_product() -> mpz:
    return gmpy2.primorial(2**16)


def _length_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _check_salt(salt: object) -> bytes:
    if not isinstance(salt, bytes | bytearray):
        raise TypeError(f"salt must be bytes, got {type(salt).__name__}")
    return bytes(salt)


def _check_int(value: object, what: str) -> mpz:
    if isinstance(value, bool) or not isinstance(value, int | gmpy2.mpz):
        raise InvalidKeyError(f"{what} must be an int, got {type(value).__name__}")
    return mpz(value)


def _to_values(values: Sequence[int], n: mpz, what: str) -> list[mpz]:
    """``values`` as mpz, each checked to lie in ``(0, n)``."""
    checked: list[mpz] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | gmpy2.mpz):
            raise MalformedInputError(f"{what} {index} is a {type(value).__name__}, not an int")
        number = mpz(value)
        if not 0 < number < n:
            raise MalformedInputError(
                f"{what} {index} is outside (0, n): the peer sent a malformed value"
            )
        checked.append(number)
    return checked


def _tag(prefix: hashlib._Hash, signature: mpz, width: int) -> bytes:
    state = prefix.copy()
    state.update(signature.to_bytes(width, "big"))
    return state.digest()


class RsaBlindPublicKey:
    """The public half ``(n, e)`` of an RSA blind-signature key.

    Parameters
    ----------
    n : int
        The modulus: odd, 1024 to 16384 bits, not a square, without prime factors
        below ``2**16``.
    e : int, default 65537
        The public exponent: odd, at least 3, below ``n``.

    Raises
    ------
    InvalidKeyError
        If ``n`` or ``e`` fails a check.

    Examples
    --------
    The whole blind-signature exchange (the guest holds ``public_key``):

    >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)  # the host's
    >>> public_key = RsaBlindPublicKey(key.public_key.n, key.public_key.e)
    >>> salt = bytes(32)
    >>> blinded, blinding = public_key.blind([b"ann", b"bob"], salt)  # guest
    >>> signed = key.sign(blinded)  # host: sees only uniform values
    >>> guest_tags = public_key.unblind_tags(signed, blinding, salt)  # guest, verified
    >>> host_tags = key.tags([b"bob", b"cid"], salt)  # host's own ids
    >>> guest_tags[32:] == host_tags[:32], guest_tags[:32] == host_tags[32:]
    (True, False)
    """

    __slots__ = ("_byte_length", "_e", "_fdh_bytes", "_n")

    def __init__(self, n: int, e: int = PUBLIC_EXPONENT) -> None:
        n_mpz = _check_int(n, "the modulus n")
        e_mpz = _check_int(e, "the public exponent e")
        bits: int = n_mpz.bit_length()
        if n_mpz < 0 or n_mpz.is_even():
            raise InvalidKeyError("the RSA modulus n must be a positive odd number")
        if bits < ABSOLUTE_MIN_KEY_BITS:
            raise InvalidKeyError(
                f"a {bits}-bit RSA modulus is below the absolute minimum of "
                f"{ABSOLUTE_MIN_KEY_BITS} bits; use a 2048-bit (or longer) key"
            )
        if bits > MAX_KEY_BITS:
            raise InvalidKeyError(f"a {bits}-bit modulus exceeds the {MAX_KEY_BITS}-bit limit")
        if gmpy2.is_square(n_mpz) or gmpy2.gcd(n_mpz, _small_primes_product()) != 1:
            raise InvalidKeyError(
                "the RSA modulus n is a perfect square or has a prime factor below 2**16: "
                "it is not a product of two large primes"
            )
        if e_mpz < 3 or e_mpz.is_even() or e_mpz >= n_mpz:
            raise InvalidKeyError("the public exponent e must be odd and between 3 and n - 1")
        self._n = n_mpz
        self._e = e_mpz
        self._byte_length = (bits + 7) // 8
        self._fdh_bytes = (bits + _FDH_EXTRA_BITS + 7) // 8

    @property
    def n(self) -> int:
        """The modulus."""
        return int(self._n)

    @property
    def e(self) -> int:
        """The public exponent."""
        return int(self._e)

    @property
    def key_length(self) -> int:
        """Bit length of ``n``."""
        return int(self._n.bit_length())

    @property
    def byte_length(self) -> int:
        """Bytes of one value modulo ``n`` (signatures, blinded values)."""
        return self._byte_length

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the canonical encoding of ``(n, e)``: names the key."""
        n_bytes = int(self._n).to_bytes(self._byte_length, "big")
        e_bytes = int(self._e).to_bytes((self._e.bit_length() + 7) // 8, "big")
        encoding = b"VFL-PSI-RSA-KEY-V1" + _length_prefixed(n_bytes) + _length_prefixed(e_bytes)
        return hashlib.sha256(encoding).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RsaBlindPublicKey) and (self._n, self._e) == (other._n, other._e)

    def __hash__(self) -> int:
        return hash(("RsaBlindPublicKey", int(self._n), int(self._e)))

    def __repr__(self) -> str:
        return f"<RsaBlindPublicKey {self.key_length} bits {self.fingerprint[:32]}>"

    # hashing -------------------------------------------------------------------------
    def _fdh(self, ids: Sequence[bytes], salt: bytes) -> list[mpz]:
        salt = _check_salt(salt)
        prefix = hashlib.shake_256(FDH_DOMAIN_TAG + _length_prefixed(salt))
        n, size, from_bytes = self._n, self._fdh_bytes, mpz.from_bytes
        out: list[mpz] = []
        for index, identifier in enumerate(ids):
            if not isinstance(identifier, bytes | bytearray | memoryview):
                raise TypeError(f"id {index} must be bytes, got {type(identifier).__name__}")
            state = prefix.copy()
            state.update(len(identifier).to_bytes(8, "big"))
            state.update(identifier)
            out.append(from_bytes(state.digest(size), "big") % n)
        return out

    def full_domain_hash(self, ids: Sequence[bytes], salt: bytes) -> list[int]:
        """Hash every id into ``Z_n`` (statistically uniform).

        ``SHAKE-256(b"VFL-PSI-RSA-FDH-V1" || len(salt) || salt || len(id) || id)``,
        ``key_length + 128`` bits long, reduced modulo ``n``: within ``2**-128`` of
        uniform.

        Parameters
        ----------
        ids : sequence of bytes
            The identifiers.
        salt : bytes
            The job's salt.

        Returns
        -------
        list of int
            One value per id, in order.

        Raises
        ------
        TypeError
            If an id or the salt is not bytes.

        Examples
        --------
        >>> public_key = generate_rsa_blind_key(1024, allow_weak_key=True).public_key
        >>> a, b = public_key.full_domain_hash([b"ann", b"ann"], salt=bytes(32))
        >>> a == b, 0 < a < public_key.n
        (True, True)
        """
        return [int(value) for value in self._fdh(ids, salt)]

    def _tag_prefix(self, salt: bytes) -> hashlib._Hash:
        return hashlib.sha256(TAG_DOMAIN_TAG + _length_prefixed(_check_salt(salt)))

    # blinding ---------------------------------------------------------------------------
    def blind(self, ids: Sequence[bytes], salt: bytes) -> tuple[list[int], RsaBlinding]:
        """Blind the full-domain hashes of ``ids`` for signing by the key owner.

        Each factor ``r`` is uniform in ``Z_n*`` (:func:`secrets.randbelow`, non-units
        rejected); the blinded value ``FDH(id) * r**e mod n`` is then uniform too.

        Parameters
        ----------
        ids : sequence of bytes
            The identifiers.
        salt : bytes
            The job's salt.

        Returns
        -------
        tuple
            ``(blinded, blinding)``: the values to send, in order, and the secret
            state :meth:`unblind_tags` needs.

        Raises
        ------
        TypeError
            If an id or the salt is not bytes.

        Examples
        --------
        >>> public_key = generate_rsa_blind_key(1024, allow_weak_key=True).public_key
        >>> blinded, blinding = public_key.blind([b"ann", b"ann"], salt=bytes(32))
        >>> blinding, blinded[0] == blinded[1]  # fresh factors: equal ids look different
        (<RsaBlinding of 2 values (secret)>, False)
        """
        salt = _check_salt(salt)
        hashes = self._fdh(ids, salt)
        n = self._n
        factors: list[mpz] = []
        for _ in hashes:
            while True:
                r = mpz(secrets.randbelow(int(n)))
                if gmpy2.gcd(r, n) == 1:
                    break
            factors.append(r)
        powers = gmpy2.powmod_base_list(factors, self._e, n) if factors else []
        blinded = [int(h * rp % n) for h, rp in zip(hashes, powers, strict=True)]
        return blinded, RsaBlinding(self, salt, hashes, factors)

    def unblind_tags(self, signed: Sequence[int], blinding: RsaBlinding, salt: bytes) -> bytes:
        """Unblind, verify and tag the key owner's signatures of :meth:`blind`'s values.

        Parameters
        ----------
        signed : sequence of int
            The signed blinded values, in the order they were sent.
        blinding : RsaBlinding
            What :meth:`blind` returned with them.
        salt : bytes
            The same salt as for :meth:`blind`.

        Returns
        -------
        bytes
            ``32 * len(signed)`` bytes: one tag per id, in order.

        Raises
        ------
        InvalidSignatureError
            If an unblinded signature does not verify (the signer cheated or the
            message was corrupted), naming the index.
        MalformedInputError
            If the count differs from the blinding's or a value is outside ``(0, n)``.
        KeyMismatchError
            If the blinding belongs to another key or the salt differs.
        """
        if not isinstance(blinding, RsaBlinding):
            raise TypeError(f"blinding must be an RsaBlinding, got {type(blinding).__name__}")
        salt = _check_salt(salt)
        if blinding._key != self:
            raise KeyMismatchError(
                f"this blinding was made under key {blinding._key.fingerprint[:32]}, not "
                f"{self.fingerprint[:32]}"
            )
        if not hmac.compare_digest(blinding._salt, salt):
            raise KeyMismatchError("the salt differs from the one the values were blinded with")
        if len(signed) != len(blinding):
            raise MalformedInputError(
                f"the peer returned {len(signed)} signatures for {len(blinding)} blinded values"
            )
        n = self._n
        values = _to_values(signed, n, "signature")
        inverses = batch_invert(blinding._factors, n)
        signatures = [v * r_inv % n for v, r_inv in zip(values, inverses, strict=True)]
        if signatures:
            checks = gmpy2.powmod_base_list(signatures, self._e, n)
            for index, (check, expected) in enumerate(zip(checks, blinding._hashes, strict=True)):
                if check != expected:
                    raise InvalidSignatureError(
                        f"signature {index} does not verify: the signer cheated or the "
                        "message was corrupted"
                    )
        prefix = self._tag_prefix(salt)
        width = self._byte_length
        return b"".join(_tag(prefix, s, width) for s in signatures)


class RsaBlinding:
    """The guest's secret state between :meth:`RsaBlindPublicKey.blind` and unblinding.

    Holds the blinding factors (which would reveal the hashed ids behind the
    blinded values) and the hashes themselves; never send it anywhere.
    :meth:`RsaBlindPublicKey.blind` makes it.

    Parameters
    ----------
    key : RsaBlindPublicKey
        The key the values were blinded under.
    salt : bytes
        The job's salt.
    hashes : list of gmpy2.mpz
        The full-domain hashes of the ids.
    factors : list of gmpy2.mpz
        The blinding factors, one per id.

    Examples
    --------
    >>> import copy
    >>> public_key = generate_rsa_blind_key(1024, allow_weak_key=True).public_key
    >>> _, blinding = public_key.blind([b"ann", b"bob", b"cid"], salt=bytes(32))
    >>> len(blinding)
    3
    >>> copy.deepcopy(blinding)  # nor can it be pickled
    Traceback (most recent call last):
    ...
    TypeError: an RsaBlinding holds secret blinding factors and is not picklable
    """

    __slots__ = ("_factors", "_hashes", "_key", "_salt")

    def __init__(
        self, key: RsaBlindPublicKey, salt: bytes, hashes: list[mpz], factors: list[mpz]
    ) -> None:
        self._key = key
        self._salt = salt
        self._hashes = hashes
        self._factors = factors

    def __len__(self) -> int:
        return len(self._factors)

    def __repr__(self) -> str:
        return f"<RsaBlinding of {len(self)} values (secret)>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an RsaBlinding holds secret blinding factors and is not picklable")


def sign_kernel(
    p: mpz, q: mpz, dp: mpz, dq: mpz, q_inv: mpz, e: mpz, values: list[mpz]
) -> list[mpz]:
    """``v**d mod pq`` of every value with the CRT, each checked (a module-level kernel).

    Spends its time in ``powmod_base_list`` (GIL released).  Every signature is
    verified with ``e`` before it is returned, so a computation fault can never
    hand out a signature that is right modulo one prime only (which would reveal
    the factorisation).
    """
    n = p * q
    s_p = gmpy2.powmod_base_list([v % p for v in values], dp, p)
    s_q = gmpy2.powmod_base_list([v % q for v in values], dq, q)
    signatures = [sq + (q_inv * (sp - sq) % p) * q for sp, sq in zip(s_p, s_q, strict=True)]
    checks = gmpy2.powmod_base_list(signatures, e, n)
    for check, value in zip(checks, values, strict=True):
        if check != value:
            raise InvalidSignatureError(
                "an RSA-CRT signature failed its own check (a computation fault); "
                "nothing was released - retry, and check the hardware if it recurs"
            )
    return signatures


class RsaBlindPrivateKey:
    """An RSA blind-signature key: the factors of ``n`` and the CRT exponents.

    Parameters
    ----------
    public_key : RsaBlindPublicKey
        The matching public key.
    p, q : int
        The distinct prime factors of ``public_key.n``.

    Raises
    ------
    InvalidKeyError
        If ``p * q != n``, a factor is not prime, or ``e`` is not invertible
        modulo ``lcm(p - 1, q - 1)``.

    Examples
    --------
    >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)
    >>> same = RsaBlindPrivateKey(key.public_key, key.p, key.q)
    >>> same.d == key.d, pow(pow(5, key.d, key.public_key.n), 65537, key.public_key.n)
    (True, 5)
    >>> key.sign([5]) == same.sign([5]) == [pow(5, key.d, key.public_key.n)]
    True
    """

    __slots__ = ("_d", "_dp", "_dq", "_p", "_q", "_q_inv", "public_key")

    def __init__(self, public_key: RsaBlindPublicKey, p: int, q: int) -> None:
        if not isinstance(public_key, RsaBlindPublicKey):
            raise InvalidKeyError("public_key must be an RsaBlindPublicKey")
        p_mpz, q_mpz = _check_int(p, "p"), _check_int(q, "q")
        if p_mpz * q_mpz != public_key._n:
            raise InvalidKeyError("p * q does not equal the public key's n")
        if p_mpz == q_mpz:
            raise InvalidKeyError("p and q must be distinct primes")
        if not (
            gmpy2.is_prime(p_mpz, _MILLER_RABIN_ROUNDS)
            and gmpy2.is_prime(q_mpz, _MILLER_RABIN_ROUNDS)
        ):
            raise InvalidKeyError("p and q must both be prime")
        lam = gmpy2.lcm(p_mpz - 1, q_mpz - 1)
        if gmpy2.gcd(public_key._e, lam) != 1:
            raise InvalidKeyError("e is not invertible modulo lcm(p - 1, q - 1)")
        self.public_key = public_key
        self._p, self._q = p_mpz, q_mpz
        self._d = gmpy2.invert(public_key._e, lam)
        self._dp = self._d % (p_mpz - 1)
        self._dq = self._d % (q_mpz - 1)
        self._q_inv = gmpy2.invert(q_mpz, p_mpz)

    @property
    def p(self) -> int:
        """The first prime factor."""
        return int(self._p)

    @property
    def q(self) -> int:
        """The second prime factor."""
        return int(self._q)

    @property
    def d(self) -> int:
        """The private exponent, ``e**-1 mod lcm(p - 1, q - 1)``."""
        return int(self._d)

    def __repr__(self) -> str:
        return f"<RsaBlindPrivateKey for {self.public_key.fingerprint[:32]}>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(
            "an RsaBlindPrivateKey is not picklable; its signing runs on threads, so it "
            "never needs to leave the process"
        )

    def _sign(self, values: list[mpz], n_jobs: int | None, executor: Executor | None) -> list[mpz]:
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(len(values), workers, _MIN_CHUNK_SIGN)
        constants = (self._p, self._q, self._dp, self._dq, self._q_inv, self.public_key._e)
        results = parallel.run_chunks(
            sign_kernel,
            [(*constants, values[a:b]) for a, b in chunks],
            releases_gil=True,
            n_jobs=n_jobs,
            executor=executor,
        )
        return [s for chunk in results for s in chunk]

    def sign(
        self,
        values: Sequence[int],
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> list[int]:
        """Sign blinded values: ``v**d mod n`` for each, with the CRT.

        Parameters
        ----------
        values : sequence of int
            Values in ``(0, n)``, e.g. from :func:`ints_from_bytes`.
        n_jobs : int, optional
            Worker threads (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        list of int
            The signatures, in order.

        Raises
        ------
        MalformedInputError
            If a value is not an int in ``(0, n)``, naming its index.

        Examples
        --------
        >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)
        >>> n, e = key.public_key.n, key.public_key.e
        >>> [pow(s, e, n) for s in key.sign([2, 3])]
        [2, 3]
        >>> key.sign([0])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        crypto.exceptions.MalformedInputError: value 0 is outside (0, n): ...
        """
        checked = _to_values(values, self.public_key._n, "value")
        return [int(s) for s in self._sign(checked, n_jobs, executor)]

    def tags(
        self,
        ids: Sequence[bytes],
        salt: bytes,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> bytes:
        """The tags of the key owner's own ids: ``tag(FDH(id)**d)``.

        Equal to what :meth:`RsaBlindPublicKey.unblind_tags` gives the other party
        for the same id and salt.

        Parameters
        ----------
        ids : sequence of bytes
            The key owner's identifiers.
        salt : bytes
            The job's salt.
        n_jobs : int, optional
            Worker threads (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        bytes
            ``32 * len(ids)`` bytes, in the order of ``ids``.

        Raises
        ------
        TypeError
            If an id or the salt is not bytes.

        Examples
        --------
        >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)
        >>> tags = key.tags([b"ann", b"bob"], salt=bytes(32))
        >>> len(tags), tags[:32] == key.tags([b"ann"], salt=bytes(32))
        (64, True)
        >>> tags[:32] == key.tags([b"ann"], salt=bytes(16))  # another job, another tag
        False
        """
        public = self.public_key
        hashes = public._fdh(ids, salt)
        if any(not h for h in hashes):  # probability about 2**-2048
            raise MalformedInputError("an id hashes to 0 modulo n and cannot be signed")
        signatures = self._sign(hashes, n_jobs, executor)
        prefix = public._tag_prefix(salt)
        width = public._byte_length
        return b"".join(_tag(prefix, s, width) for s in signatures)


def generate_rsa_blind_key(
    key_length: int = DEFAULT_KEY_BITS, *, allow_weak_key: bool = False
) -> RsaBlindPrivateKey:
    """Generate an RSA blind-signature key with ``e = 65537``.

    The primes come from OpenSSL (through ``cryptography``), whose generator draws
    from the operating system's CSPRNG.

    Parameters
    ----------
    key_length : int, default 2048
        Bit length of ``n``, 1024 to 16384.
    allow_weak_key : bool, default False
        Permit ``key_length < 2048`` (tests and benchmarks only).

    Returns
    -------
    RsaBlindPrivateKey
        The key; its ``public_key`` goes to the other party.

    Raises
    ------
    WeakKeyError
        If ``key_length`` is below 2048 without ``allow_weak_key``, or below 1024.
    InvalidKeyError
        If ``key_length`` is not an int, or is above 16384.

    Examples
    --------
    >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)
    >>> key.public_key.key_length, key.public_key.e, key.p * key.q == key.public_key.n
    (1024, 65537, True)
    """
    if isinstance(key_length, bool) or not isinstance(key_length, int):
        raise InvalidKeyError(f"key_length must be an int, got {key_length!r}")
    if key_length < ABSOLUTE_MIN_KEY_BITS:
        raise WeakKeyError(
            f"refusing to generate a {key_length}-bit RSA key: the absolute minimum is "
            f"{ABSOLUTE_MIN_KEY_BITS} bits, and {MIN_KEY_BITS} bits outside tests"
        )
    if key_length < MIN_KEY_BITS and not allow_weak_key:
        raise WeakKeyError(
            f"refusing to generate a {key_length}-bit RSA key: the minimum is {MIN_KEY_BITS} "
            "bits (NIST SP 800-57); pass allow_weak_key=True in tests and benchmarks only"
        )
    if key_length > MAX_KEY_BITS:
        raise InvalidKeyError(f"key_length must be at most {MAX_KEY_BITS}, got {key_length}")
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=key_length)
    numbers = key.private_numbers()
    public_key = RsaBlindPublicKey(numbers.public_numbers.n, numbers.public_numbers.e)
    return RsaBlindPrivateKey(public_key, numbers.p, numbers.q)


def ints_to_bytes(values: Sequence[int], width: int) -> bytes:
    """Concatenate non-negative ints as fixed-width big-endian fields.

    Parameters
    ----------
    values : sequence of int
        The numbers, e.g. blinded values or signatures.
    width : int
        Bytes per number, e.g. :attr:`RsaBlindPublicKey.byte_length`.

    Returns
    -------
    bytes
        ``width * len(values)`` bytes.

    Raises
    ------
    MalformedInputError
        If a value is negative, not an int or does not fit in ``width`` bytes.
    ValueError
        If ``width`` is not a positive int.

    Examples
    --------
    >>> ints_to_bytes([1, 258], 2).hex()
    '00010102'
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    out: list[bytes] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | gmpy2.mpz):
            raise MalformedInputError(f"value {index} is a {type(value).__name__}, not an int")
        if value < 0 or value.bit_length() > 8 * width:
            raise MalformedInputError(f"value {index} does not fit in {width} unsigned bytes")
        out.append(int(value).to_bytes(width, "big"))
    return b"".join(out)


def ints_from_bytes(blob: bytes, width: int, modulus: int) -> list[int]:
    """Split fixed-width big-endian fields (e.g. from a peer) into ints in ``(0, modulus)``.

    Parameters
    ----------
    blob : bytes
        Concatenated fields, as :func:`ints_to_bytes` writes them.
    width : int
        Bytes per number.
    modulus : int
        Every number must lie in ``(0, modulus)``.

    Returns
    -------
    list of int
        The numbers, in order.

    Raises
    ------
    MalformedInputError
        If the length is not a multiple of ``width`` or a value is outside
        ``(0, modulus)``, naming the first bad index.
    TypeError
        If ``blob`` is not bytes.
    ValueError
        If ``width`` is not a positive int.

    Examples
    --------
    >>> ints_from_bytes(bytes.fromhex("00010102"), 2, modulus=1000)
    [1, 258]
    >>> ints_from_bytes(bytes.fromhex("000100"), 2, modulus=1000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.MalformedInputError: the peer sent 3 bytes, not a multiple of ...
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError(f"blob must be bytes, got {type(blob).__name__}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    blob = bytes(blob)
    if len(blob) % width:
        raise MalformedInputError(
            f"the peer sent {len(blob)} bytes, not a multiple of the {width}-byte field "
            "width: the message is truncated or corrupted"
        )
    values: list[int] = []
    for index, start in enumerate(range(0, len(blob), width)):
        value = int.from_bytes(blob[start : start + width], "big")
        if not 0 < value < modulus:
            raise MalformedInputError(
                f"value {index} from the peer is outside (0, modulus): malformed message"
            )
        values.append(value)
    return values
