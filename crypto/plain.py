"""Identity "encryption" with exactly the fixed-point arithmetic of the Paillier vectors.

A :class:`PlainVector` holds the signed mantissas that an
:class:`~crypto.paillier.EncryptedVector` would encrypt, with the same shared
exponent and the same public bound, and every operation (addition, plaintext
multiplication, matrix products, masking, decryption) changes them exactly as the
homomorphic operation changes the plaintexts under encryption.  A protocol run on
plain keys therefore produces bit-for-bit the values the encrypted run decrypts,
which is what equivalence tests compare against.

It hides nothing: use it only in tests and simulations.  It cannot be serialised,
so a deployment job, which sends every message through the wire codec, cannot use it.

Examples
--------
>>> import numpy as np
>>> public_key, private_key = generate_plain_keypair(1024)
>>> ev = public_key.encrypt_vector(np.array([1.5, -2.0, 0.25]))
>>> X = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
>>> private_key.decrypt_vector(X @ ev).round(6).tolist()
[-1.75, 0.5]
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.encoding import decode_array, encode_array, exponent_for_precision, to_signed
from crypto.exceptions import KeyMismatchError
from crypto.fixed_point import FixedPointPrivateKey, FixedPointVector
from crypto.paillier.encryption import vector_bound
from crypto.paillier.keys import DEFAULT_VECTOR_PRECISION
from crypto.vector_api import HasModulus

__all__ = [
    "PlainMask",
    "PlainMasked",
    "PlainPrivateKey",
    "PlainPublicKey",
    "PlainVector",
    "generate_plain_keypair",
]


class PlainPublicKey:
    """A stand-in public key: a modulus of the requested size, and no secret.

    Parameters
    ----------
    bits : int
        Size of the modulus ``n = 2**bits - 1`` (it only bounds the mantissas, as
        a Paillier modulus of that size would).

    Raises
    ------
    ValueError
        If ``bits`` is not an int of at least 64.

    Examples
    --------
    >>> public_key = PlainPublicKey(1024)
    >>> public_key.n == 2**1024 - 1
    True
    >>> public_key.encrypt_vector([0.5, -1.0]).mantissas  # at exponent -8
    [2147483648, -4294967296]
    """

    __slots__ = ("bits", "fingerprint", "n")

    def __init__(self, bits: int) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 64:
            raise ValueError(f"a plain key needs at least 64 bits, got {bits!r}")
        self.bits = bits
        self.n = (1 << bits) - 1
        self.fingerprint = f"plain-{secrets.token_hex(4)}"

    def __repr__(self) -> str:
        return f"<PlainPublicKey bits={self.bits} {self.fingerprint}>"

    def check_same(self, other: object) -> None:
        """Raise :class:`KeyMismatchError` unless ``other`` is this key.

        Parameters
        ----------
        other : object
            The key of another operand.

        Raises
        ------
        KeyMismatchError
            If ``other`` is not this very object.
        """
        if other is not self:
            raise KeyMismatchError("operands belong to different plain keys")

    def encrypt_vector(
        self,
        values: npt.ArrayLike,
        precision: float = DEFAULT_VECTOR_PRECISION,
        *,
        max_abs: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> PlainVector:
        """Encode a 1-D array as :meth:`PaillierPublicKey.encrypt_vector` would.

        Parameters
        ----------
        values : array_like of float
            The values (1-D).
        precision : float, default 2**-32
            Absolute resolution; sets the shared exponent.
        max_abs : float, optional
            A public bound on ``|values|``.
        n_jobs, executor
            Ignored (same signature as the Paillier key's).

        Returns
        -------
        PlainVector
            The mantissas, exponent and bound an encryption would have.

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
        bound = vector_bound(mantissas, max_abs, exponent, self.n)
        return PlainVector(self, mantissas, exponent, bound)


class PlainPrivateKey(FixedPointPrivateKey[PlainPublicKey]):
    """The matching "private key": decoding, with the Paillier key's checks.

    Parameters
    ----------
    public_key : PlainPublicKey
        The key it decodes for.

    Examples
    --------
    >>> public_key, private_key = generate_plain_keypair(1024)
    >>> v = public_key.encrypt_vector([0.5, -1.0])
    >>> private_key.decrypt_vector(v.multiply(3)).tolist()
    [1.5, -3.0]
    >>> private_key.decrypt_raw(v)[0] == 2**31  # -1.0 would be n - 2**32
    True
    """

    __slots__ = ("public_key",)

    def __init__(self, public_key: PlainPublicKey) -> None:
        self.public_key = public_key

    def decrypt_raw(
        self,
        vector: PlainMasked | PlainVector,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> list[int]:
        """Residues in ``[0, n)`` of every value, as ``decrypt_raw`` returns them.

        Parameters
        ----------
        vector : PlainMasked or PlainVector
            Under this key.
        n_jobs, executor
            Ignored.

        Returns
        -------
        list of int
            One residue per value.

        Raises
        ------
        KeyMismatchError
            If the vector belongs to another key.
        """
        self.public_key.check_same(vector.public_key)
        return [m % self.public_key.n for m in vector.mantissas]


def generate_plain_keypair(bits: int = 2048) -> tuple[PlainPublicKey, PlainPrivateKey]:
    """A plain key pair whose modulus has ``bits`` bits.

    Parameters
    ----------
    bits : int, default 2048
        Size of the modulus (at least 64).

    Returns
    -------
    tuple
        ``(PlainPublicKey, PlainPrivateKey)``.

    Examples
    --------
    >>> public_key, private_key = generate_plain_keypair(1024)
    >>> private_key.public_key is public_key, public_key.bits
    (True, 1024)
    """
    public_key = PlainPublicKey(bits)
    return public_key, PlainPrivateKey(public_key)


def _object_array(values: Sequence[int]) -> npt.NDArray[Any]:
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


class PlainVector(FixedPointVector[PlainPublicKey, int]):
    """Mantissas sharing one exponent, with the bound an encrypted vector would carry.

    Supports the operations the protocols use on
    :class:`~crypto.paillier.EncryptedVector` (see :class:`FixedPointVector`), plus
    :meth:`rerandomize`, :meth:`pack` and :meth:`mask`.

    Parameters
    ----------
    public_key : PlainPublicKey
        The key.
    mantissas : sequence of int
        Signed mantissas.
    exponent : int
        The shared base-16 exponent.
    bound : int
        Public bound on every ``|mantissa|``.

    Examples
    --------
    >>> public_key, private_key = generate_plain_keypair(1024)
    >>> v = PlainVector(public_key, [3, -5], exponent=0, bound=8)
    >>> (v + v).mantissas, (v + v).bound
    ([6, -10], 16)
    >>> private_key.decrypt_vector(v.matmul([[1, 1], [2, 0]])).tolist()
    [-2.0, 6.0]
    """

    __slots__ = ()

    def __init__(
        self, public_key: PlainPublicKey, mantissas: Sequence[int], exponent: int, bound: int
    ) -> None:
        super().__init__(public_key, [int(m) for m in mantissas], exponent, bound)

    @property
    def mantissas(self) -> list[int]:
        """The signed mantissas."""
        return self.items

    def _rescaled(self, factor: int, new_exponent: int) -> list[int]:
        return [m * factor for m in self.items]

    def _sum_items(self, other: list[int]) -> list[int]:
        return [x + y for x, y in zip(self.items, other, strict=True)]

    def _plus_mantissas(self, mantissas: list[int]) -> list[int]:
        return self._sum_items(mantissas)

    def _negated(self) -> list[int]:
        return [-m for m in self.items]

    def _times_mantissas(self, factors: list[int], exponent: int) -> list[int]:
        return [x * y for x, y in zip(self.items, factors, strict=True)]

    def _matrix_rows(self, rows: list[list[int]], exponent: int) -> list[int]:
        if not self.items:
            return [0] * len(rows)
        products = _object_array([a for row in rows for a in row]).reshape(len(rows), -1)
        return [int(p) for p in products.dot(_object_array(self.items))]

    def rerandomize(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> PlainVector:
        """The same vector (there is no randomness to refresh).

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        PlainVector
            ``self``.
        """
        return self

    def pack(self, *, n_jobs: int | None = None, executor: Executor | None = None) -> PlainVector:
        """The same vector (packing is lossless, so it changes no value).

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        PlainVector
            ``self``.
        """
        return self

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[PlainMasked, PlainMask]:
        """Add uniform masks in ``Z_n``, as :meth:`EncryptedVector.mask` does.

        Parameters
        ----------
        n_jobs, executor
            Ignored.

        Returns
        -------
        tuple
            ``(PlainMasked to send, PlainMask to keep)``.

        Examples
        --------
        >>> public_key, private_key = generate_plain_keypair(1024)
        >>> masked, mask = public_key.encrypt_vector([1.5, -2.0]).mask()
        >>> mask.unmask(private_key.decrypt_raw(masked)).tolist()
        [1.5, -2.0]
        """
        n = self.public_key.n
        masks = [secrets.randbelow(n) for _ in self.items]
        masked = [(m + r) % n for m, r in zip(self.items, masks, strict=True)]
        return PlainMasked(self.public_key, masked), PlainMask(
            self.public_key, masks, self.exponent
        )


class PlainMasked:
    """Masked residues, ready for the "key owner" to return.

    Parameters
    ----------
    public_key : PlainPublicKey
        The key.
    mantissas : list of int
        The masked residues, in ``[0, n)``.

    Examples
    --------
    >>> public_key, private_key = generate_plain_keypair(1024)
    >>> masked, mask = public_key.encrypt_vector([1.0, 2.0, 3.0]).mask()
    >>> len(masked), private_key.decrypt_raw(masked) == masked.mantissas
    (3, True)
    """

    __slots__ = ("mantissas", "public_key")

    def __init__(self, public_key: PlainPublicKey, mantissas: list[int]) -> None:
        self.public_key = public_key
        self.mantissas = mantissas

    def __len__(self) -> int:
        return len(self.mantissas)


class PlainMask:
    """The masking party's secret: masks and exponent (any key with a modulus ``n``).

    Parameters
    ----------
    public_key : HasModulus
        A key with a modulus ``n``.
    masks : list of int
        One mask in ``[0, n)`` per value.
    exponent : int
        The base-16 exponent of the masked values.

    Examples
    --------
    >>> mask = PlainMask(PlainPublicKey(64), masks=[10, 20], exponent=0)
    >>> mask.unmask([13, 15]).tolist()  # 13 - 10 and 15 - 20
    [3.0, -5.0]
    """

    __slots__ = ("_masks", "exponent", "public_key")

    def __init__(self, public_key: HasModulus, masks: list[int], exponent: int) -> None:
        self.public_key = public_key
        self._masks = masks
        self.exponent = exponent

    def unmask(self, plaintexts: Sequence[int]) -> npt.NDArray[np.float64]:
        """Remove the masks and decode, with :meth:`VectorMask.unmask`'s checks.

        Parameters
        ----------
        plaintexts : sequence of int
            The key owner's residues, in order.

        Returns
        -------
        numpy.ndarray
            The values, as float64.

        Raises
        ------
        ValueError
            If the count is wrong or a value is outside ``[0, n)``.
        PlaintextOverflowError
            If an unmasked value lies in the overflow band.
        """
        n = self.public_key.n
        if len(plaintexts) != len(self._masks):
            raise ValueError(f"expected {len(self._masks)} decryptions, got {len(plaintexts)}")
        signed = []
        for index, (value, mask) in enumerate(zip(plaintexts, self._masks, strict=True)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
                raise ValueError(f"decryption {index} is not an integer in [0, n)")
            signed.append(to_signed((value - mask) % n, n))
        return decode_array(signed, self.exponent)
