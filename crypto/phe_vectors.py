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

from crypto.encoding import encode_array, exponent_for_precision
from crypto.exceptions import KeyMismatchError
from crypto.fixed_point import FixedPointPrivateKey, FixedPointVector
from crypto.paillier.encryption import vector_bound
from crypto.paillier.keys import DEFAULT_VECTOR_PRECISION
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

    Raises
    ------
    TypeError
        If ``raw`` is not a ``phe.PaillierPublicKey``.
    ImportError
        If phe is not installed.

    Examples
    --------
    >>> import phe
    >>> from crypto.paillier import PaillierPublicKey
    >>> raw_public, _ = phe.generate_paillier_keypair(n_length=1024)
    >>> public_key = PhePublicKey(raw_public)
    >>> public_key.bits
    1024
    >>> public_key.fingerprint == PaillierPublicKey(raw_public.n, allow_weak_key=True).fingerprint
    True
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
        """Raise :class:`KeyMismatchError` unless ``other`` is this key.

        Parameters
        ----------
        other : object
            The key of another operand.

        Raises
        ------
        KeyMismatchError
            If ``other`` is not a :class:`PhePublicKey` with the same modulus.
        """
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

        Raises
        ------
        ValueError
            If ``values`` is not 1-D.

        Examples
        --------
        >>> public_key, private_key = generate_phe_keypair(1024)
        >>> v = public_key.encrypt_vector([0.5, -1.0])
        >>> v.exponent, len(v.numbers), private_key.decrypt_vector(v).tolist()
        (-8, 2, [0.5, -1.0])
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


class PhePrivateKey(FixedPointPrivateKey[PhePublicKey]):
    """A ``phe`` private key behind the backend API.

    Parameters
    ----------
    raw : phe.PaillierPrivateKey
        The wrapped key (available as :attr:`raw`).
    public_key : PhePublicKey
        The matching public key.

    Raises
    ------
    TypeError
        If ``raw`` is not a ``phe.PaillierPrivateKey``.
    KeyMismatchError
        If ``raw`` does not belong to ``public_key``.
    ImportError
        If phe is not installed.

    Examples
    --------
    >>> import phe
    >>> raw_public, raw_private = phe.generate_paillier_keypair(n_length=1024)
    >>> public_key = PhePublicKey(raw_public)
    >>> private_key = PhePrivateKey(raw_private, public_key)
    >>> private_key.decrypt_vector(public_key.encrypt_vector([2.5, 4.0]) + 1).tolist()
    [3.5, 5.0]
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

        Parameters
        ----------
        vector : PheMasked or PheVector
            Under this key.
        n_jobs, executor
            Ignored.

        Returns
        -------
        list of int
            One residue per ciphertext.

        Raises
        ------
        KeyMismatchError
            If the vector is under another key.
        """
        self.public_key.check_same(vector.public_key)
        return [int(self.raw.raw_decrypt(x.ciphertext(be_secure=False))) for x in vector.numbers]


def generate_phe_keypair(bits: int = 2048) -> tuple[PhePublicKey, PhePrivateKey]:
    """A phe key pair (``phe.generate_paillier_keypair(n_length=bits)``), wrapped.

    Parameters
    ----------
    bits : int, default 2048
        Length of the modulus.

    Returns
    -------
    tuple
        ``(PhePublicKey, PhePrivateKey)``.

    Raises
    ------
    ImportError
        If phe is not installed.

    Examples
    --------
    >>> public_key, private_key = generate_phe_keypair(1024)
    >>> public_key.bits, private_key.public_key is public_key
    (1024, True)
    """
    raw_public, raw_private = _phe().generate_paillier_keypair(n_length=bits)
    public_key = PhePublicKey(raw_public)
    return public_key, PhePrivateKey(raw_private, public_key)


class PheVector(FixedPointVector[PhePublicKey, Any]):
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

    Raises
    ------
    TypeError
        If an item is not a ``phe.EncryptedNumber``.
    KeyMismatchError
        If a number is under another key.
    ValueError
        If a number is at another exponent.

    Examples
    --------
    >>> import numpy as np
    >>> public_key, private_key = generate_phe_keypair(1024)
    >>> v = public_key.encrypt_vector([1.0, 2.0])
    >>> w = PheVector(public_key, v.numbers[::-1], v.exponent, v.bound)
    >>> private_key.decrypt_vector(v - w).tolist()
    [-1.0, 1.0]
    >>> private_key.decrypt_vector(np.array([[1.0, 1.0]]) @ v).tolist()
    [3.0]
    """

    __slots__ = ()

    def __init__(
        self, public_key: PhePublicKey, numbers: Sequence[Any], exponent: int, bound: int
    ) -> None:
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
        super().__init__(public_key, numbers, exponent, bound)

    @property
    def numbers(self) -> list[Any]:
        """The ``phe.EncryptedNumber`` objects."""
        return self.items

    def _rescaled(self, factor: int, new_exponent: int) -> list[Any]:
        return [x.decrease_exponent_to(new_exponent) for x in self.items]

    def _sum_items(self, other: list[Any]) -> list[Any]:
        return [x + y for x, y in zip(self.items, other, strict=True)]

    def _plus_mantissas(self, mantissas: list[int]) -> list[Any]:
        encode = self.public_key._encoded
        return [x + encode(m, self.exponent) for x, m in zip(self.items, mantissas, strict=True)]

    def _negated(self) -> list[Any]:
        minus_one = self.public_key._encoded(-1, 0)  # as phe's own ``* -1`` does it
        return [x * minus_one for x in self.items]

    def _times_mantissas(self, factors: list[int], exponent: int) -> list[Any]:
        encode = self.public_key._encoded
        return [x * encode(f, exponent) for x, f in zip(self.items, factors, strict=True)]

    def _matrix_rows(self, rows: list[list[int]], exponent: int) -> list[Any]:
        """Row ``i``: the phe sum of ``number_k * EncodedNumber(A_ik)``, zeros included.

        The naive way, which is the baseline.
        """
        encode = self.public_key._encoded
        numbers = []
        for row in rows:
            terms = [x * encode(a, exponent) for x, a in zip(self.items, row, strict=True)]
            if not terms:  # no columns: the (unobfuscated) encryption of 0, ciphertext 1
                terms = [_phe().EncryptedNumber(self.public_key.raw, 1, self.exponent + exponent)]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            numbers.append(total)
        return numbers

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
        """The same values under fresh randomness (phe's ``obfuscate`` on copies).

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        PheVector
            New ciphertexts of the same values.
        """
        numbers = self._copies()
        for number in numbers:
            number.obfuscate()
        return PheVector(self.public_key, numbers, self.exponent, self.bound)

    def pack(self, *, n_jobs: int | None = None, executor: Executor | None = None) -> PheVector:
        """The same vector: phe has no packing.

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        PheVector
            ``self``.
        """
        return self

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[PheMasked, PheMask]:
        """Add uniform masks in ``Z_n`` and obfuscate, as ``EncryptedVector.mask`` does.

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        masked : PheMasked
            Ciphertexts of ``(mantissa_i + r_i) mod n``, for the key owner to decrypt.
        mask : PheMask
            The masks, kept by the caller to recover the values.

        Examples
        --------
        >>> public_key, private_key = generate_phe_keypair(1024)
        >>> masked, mask = public_key.encrypt_vector([1.5, -2.0]).mask()
        >>> mask.unmask(private_key.decrypt_raw(masked)).tolist()
        [1.5, -2.0]
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
    """Masked phe ciphertexts, ready for the key owner's :meth:`PhePrivateKey.decrypt_raw`.

    Parameters
    ----------
    public_key : PhePublicKey
        The key owner's key.
    numbers : list of phe.EncryptedNumber
        The masked, obfuscated ciphertexts.

    Examples
    --------
    >>> public_key, private_key = generate_phe_keypair(1024)
    >>> masked, mask = public_key.encrypt_vector([1.0, 2.0, 3.0]).mask()
    >>> isinstance(masked, PheMasked), len(masked)
    (True, 3)
    """

    __slots__ = ("numbers", "public_key")

    def __init__(self, public_key: PhePublicKey, numbers: list[Any]) -> None:
        self.public_key = public_key
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.numbers)


PheMask = PlainMask
"""The masking party's secret (masks and exponent): the same as the plain backend's."""
