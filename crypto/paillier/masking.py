"""Masked decryption: let the key owner decrypt values it must not learn.

The party holding ciphertexts under someone else's key adds a mask ``R`` drawn
uniformly from ``Z_n`` to every plaintext and re-randomises the ciphertext
(statistically uniform obfuscator).  The key owner decrypts and returns
``(m + R) mod n``, which is uniform in ``Z_n`` whatever ``m`` is: it learns
nothing.  The masking party subtracts ``R`` and decodes.  Masks uniform over the
whole plaintext space, not 64-bit masks over larger values, are what make this
hold (short masks leak the top bits of ``m``).

Packed vectors are masked after packing, so one uniform mask hides a whole group
and the owner decrypts one ciphertext per group.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

from crypto.encoding import decode_array, to_signed
from crypto.exceptions import DeserializationError
from crypto.paillier.packing import PackedEncryptedVector, PackingLayout, unpack_mantissas
from crypto.paillier.randomization import rerandomize_ciphertexts

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey
    from crypto.paillier.vector import EncryptedVector

__all__ = ["MaskedVector", "VectorMask", "mask_vector"]


class MaskedVector:
    """Ciphertexts of uniformly masked plaintexts, ready to go to the key owner.

    The owner calls :meth:`PaillierPrivateKey.decrypt_raw` and sends the list of
    integers back; the masking party recovers the values with :meth:`VectorMask.unmask`.
    Make one with :func:`mask_vector` (or ``EncryptedVector.mask``).

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key owner's key.
    ciphertexts : list of gmpy2.mpz
        The masked, re-randomised ciphertexts (not checked: use :meth:`from_bytes`
        for ciphertexts from a peer).

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> masked, mask = public_key.encrypt_vector([1.5, -2.0]).mask()
    >>> len(masked)
    2
    >>> received = MaskedVector.from_bytes(masked.to_bytes(), public_key)
    >>> mask.unmask(private_key.decrypt_raw(received)).tolist()
    [1.5, -2.0]
    """

    __slots__ = ("_ciphertexts", "public_key")

    def __init__(self, public_key: PaillierPublicKey, ciphertexts: list[mpz]) -> None:
        self.public_key = public_key
        self._ciphertexts = ciphertexts

    def __len__(self) -> int:
        return len(self._ciphertexts)

    @property
    def ciphertexts(self) -> list[int]:
        """The masked ciphertexts as Python ints (a copy)."""
        return [int(c) for c in self._ciphertexts]

    def __repr__(self) -> str:
        return f"<MaskedVector ciphertexts={len(self)} key={self.public_key.fingerprint}>"

    def to_bytes(self) -> bytes:
        """Serialise; see :mod:`.serialization`.

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
    ) -> MaskedVector:
        """Deserialise and validate masked ciphertexts under ``public_key``.

        Parameters
        ----------
        data : bytes
            Output of :meth:`to_bytes`.
        public_key : PaillierPublicKey
            The key the ciphertexts must be under.
        max_bytes : int, optional
            Refuse larger inputs (default 1 GiB).

        Returns
        -------
        MaskedVector
            The validated vector.

        Raises
        ------
        DeserializationError
            If ``data`` is malformed or holds another kind of vector.
        KeyMismatchError
            If the vector is under another key.
        """
        from crypto.paillier.serialization import vector_from_bytes

        vector = vector_from_bytes(data, public_key, max_bytes=max_bytes)
        if not isinstance(vector, MaskedVector):
            raise DeserializationError(f"expected a MaskedVector, got {type(vector).__name__}")
        return vector


class VectorMask:
    """The masking party's secret: the masks and how to decode the unmasked values.

    Keep it in memory; never send it.  :func:`mask_vector` makes it.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key owner's key.
    masks : list of int
        One mask in ``[0, n)`` per ciphertext.
    exponent : int
        The base-16 exponent of the masked values.
    length : int
        Number of values.
    layout : PackingLayout or None
        The packing layout when the masked vector was packed.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> masked, mask = public_key.encrypt_vector([0.5, 1.0, -4.0]).pack().mask()
    >>> mask
    <VectorMask values=3 packed=True>
    >>> mask.unmask(private_key.decrypt_raw(masked)).tolist()
    [0.5, 1.0, -4.0]
    """

    __slots__ = ("_masks", "exponent", "layout", "length", "public_key")

    def __init__(
        self,
        public_key: PaillierPublicKey,
        masks: list[int],
        exponent: int,
        length: int,
        layout: PackingLayout | None,
    ) -> None:
        self.public_key = public_key
        self._masks = masks
        self.exponent = exponent
        self.length = length
        self.layout = layout

    def __repr__(self) -> str:
        return f"<VectorMask values={self.length} packed={self.layout is not None}>"

    def unmask(self, plaintexts: Sequence[int]) -> npt.NDArray[np.float64]:
        """Remove the masks from the owner's decryptions and decode the values.

        Parameters
        ----------
        plaintexts : sequence of int
            ``decrypt_raw`` output of the owner, in order.

        Returns
        -------
        numpy.ndarray
            The values, as float64.

        Raises
        ------
        ValueError
            If the count is wrong or a value is outside ``[0, n)``.
        PlaintextOverflowError
            If an unmasked value is impossible (overflow, or a dishonest decryption).
        """
        return decode_array(self.unmask_mantissas(plaintexts), self.exponent)

    def unmask_mantissas(self, plaintexts: Sequence[int]) -> list[int]:
        """The exact signed mantissas behind the masks (at :attr:`exponent`).

        :meth:`unmask` rounds them to float64; these are the integers the masking
        party can compute exactly (the label attack of ``tests/protocols/test_label_attack.py``
        uses them, as a curious party would).

        Parameters
        ----------
        plaintexts : sequence of int
            ``decrypt_raw`` output of the owner, in order.

        Returns
        -------
        list of int

        Raises
        ------
        ValueError, PlaintextOverflowError
            As :meth:`unmask`.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> masked, mask = public_key.encrypt_vector([0.5, -1.0]).mask()
        >>> mask.unmask_mantissas(private_key.decrypt_raw(masked)) == [2**31, -(2**32)]
        True
        """
        n = self.public_key.n
        if len(plaintexts) != len(self._masks):
            raise ValueError(f"expected {len(self._masks)} decryptions, got {len(plaintexts)}")
        unmasked = []
        for index, (value, mask) in enumerate(zip(plaintexts, self._masks, strict=True)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
                raise ValueError(f"decryption {index} is not an integer in [0, n)")
            unmasked.append((value - mask) % n)
        if self.layout is None:
            return [to_signed(m, n) for m in unmasked]
        return unpack_mantissas(unmasked, self.layout)


def mask_vector(
    vector: EncryptedVector | PackedEncryptedVector,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> tuple[MaskedVector, VectorMask]:
    """Mask every ciphertext of ``vector`` with a uniform ``R`` in ``Z_n``.

    Parameters
    ----------
    vector : EncryptedVector or PackedEncryptedVector
        Ciphertexts under another party's key.
    n_jobs : int, optional
        Workers (``-1``: every core); see :mod:`crypto.parallel`.
    executor : concurrent.futures.Executor, optional
        Run the work on this executor.

    Returns
    -------
    tuple
        ``(MaskedVector to send, VectorMask to keep)``.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> masked, mask = mask_vector(public_key.encrypt_vector([1.5, -2.0]))
    >>> raw = private_key.decrypt_raw(masked)  # what the key owner sees: uniform in Z_n
    >>> mask.unmask(raw).tolist()
    [1.5, -2.0]
    """
    public_key = vector.public_key
    n = public_key.n
    masks = [secrets.randbelow(n) for _ in range(len(vector._ciphertexts))]
    masked = rerandomize_ciphertexts(
        public_key, vector._ciphertexts, masks, n_jobs=n_jobs, executor=executor
    )
    layout = vector.layout if isinstance(vector, PackedEncryptedVector) else None
    return (
        MaskedVector(public_key, masked),
        VectorMask(public_key, masks, vector.exponent, len(vector), layout),
    )
