"""The vector API every homomorphic backend implements, as :class:`typing.Protocol` types.

Protocols compute on vectors through these types only, so a backend is any set of
classes with these methods: this project's Paillier engine
(:mod:`crypto.paillier`), python-paillier (:mod:`crypto.phe_vectors`) and the
identity "encryption" of the equivalence tests (:mod:`crypto.plain`).  mypy checks
that each of them conforms (the ``_conforms`` functions at the end of this module).

* :class:`VectorPublicKey`: ``PaillierPublicKey``, ``PlainPublicKey``, ``PhePublicKey``;
* :class:`VectorPrivateKey`: ``PaillierPrivateKey``, ``PlainPrivateKey``,
  ``PhePrivateKey``;
* :class:`CipherVector`: ``EncryptedVector``, ``PlainVector``, ``PheVector``;
* :class:`PackedVector`: ``PackedEncryptedVector`` (the others pack to themselves);
* :class:`MaskedValues`: ``MaskedVector``, ``PlainMasked``, ``PheMasked``;
* :class:`Mask`: ``VectorMask``, ``PlainMask`` (= ``PheMask``).

A private key decrypts the vectors of its own backend only; its methods take
``Any`` because each backend names its own vector types there (checked at run
time: a vector of another key or backend raises a ``CryptoError``).

Examples
--------
>>> import numpy as np
>>> from crypto.plain import generate_plain_keypair
>>> def masked_sum(key: VectorPublicKey, values: np.ndarray) -> tuple[MaskedValues, Mask]:
...     vector: CipherVector = key.encrypt_vector(values)
...     return (vector + vector).mask()
>>> public_key, private_key = generate_plain_keypair(1024)
>>> masked, mask = masked_sum(public_key, np.array([1.5, -2.0]))
>>> mask.unmask(private_key.decrypt_raw(masked)).tolist()
[3.0, -4.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol, Self

import numpy as np
import numpy.typing as npt

__all__ = [
    "CipherVector",
    "HasModulus",
    "Mask",
    "MaskedValues",
    "PackedVector",
    "VectorPrivateKey",
    "VectorPublicKey",
]


class HasModulus(Protocol):
    """Anything with a modulus ``n`` (what a mask needs of a key)."""

    @property
    def n(self) -> int:
        """The modulus."""
        ...


class VectorPublicKey(Protocol):
    """A public key that encrypts vectors (``PaillierPublicKey.encrypt_vector``)."""

    @property
    def n(self) -> int:
        """The modulus."""
        ...

    @property
    def bits(self) -> int:
        """Bit length of :attr:`n`."""
        ...

    @property
    def fingerprint(self) -> str:
        """A short public name of the key."""
        ...

    def check_same(self, other: Self) -> None:
        """Raise ``KeyMismatchError`` unless ``other`` is this key."""
        ...

    def encrypt_vector(
        self,
        values: npt.ArrayLike,
        precision: float = ...,
        *,
        max_abs: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> CipherVector:
        """Encrypt a 1-D array at one shared exponent, with a public bound ``max_abs``."""
        ...


class Mask(Protocol):
    """The masking party's secret: turns the key owner's residues back into values."""

    def unmask(self, plaintexts: Sequence[int]) -> npt.NDArray[np.float64]:
        """Remove the masks from the decrypted residues and decode."""
        ...


class MaskedValues(Protocol):
    """Masked ciphertexts, ready for the key owner's ``decrypt_raw``."""

    @property
    def public_key(self) -> VectorPublicKey:
        """The key owner's key."""
        ...

    def __len__(self) -> int:
        """How many residues the key owner returns."""
        ...


class PackedVector(Protocol):
    """Several values per ciphertext (``EncryptedVector.pack``), to be masked."""

    @property
    def public_key(self) -> VectorPublicKey:
        """The key."""
        ...

    def __len__(self) -> int:
        """How many values it holds."""
        ...

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[MaskedValues, Mask]:
        """Hide every plaintext under a uniform mask: ``(to send, to keep)``."""
        ...


class CipherVector(Protocol):
    """Encrypted ``mantissa_i * 16**exponent`` with ``|mantissa_i| <= bound``.

    The arithmetic the protocols use: ``+`` and ``-`` with a vector of the same key
    or a plaintext, plaintext products, public bounds, re-randomisation, packing and
    masking (see :class:`~crypto.paillier.EncryptedVector`).
    """

    @property
    def public_key(self) -> VectorPublicKey:
        """The key."""
        ...

    @property
    def exponent(self) -> int:
        """The shared base-16 exponent."""
        ...

    @property
    def bound(self) -> int:
        """Public bound on every ``|mantissa|``."""
        ...

    def __len__(self) -> int:
        """How many values it holds."""
        ...

    def __add__(self, other: object) -> Self:
        """Add a vector of the same key, or a plaintext scalar or array."""
        ...

    def __sub__(self, other: object) -> Self:
        """Subtract a vector of the same key, or a plaintext scalar or array."""
        ...

    def __neg__(self) -> Self:
        """The negated values."""
        ...

    def with_bound(self, bound: int) -> Self:
        """The same ciphertexts claiming another public bound."""
        ...

    def multiply(
        self,
        other: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> Self:
        """Multiply by a plaintext scalar or elementwise by a plaintext array."""
        ...

    def matmul(
        self,
        matrix: npt.ArrayLike,
        *,
        precision: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> Self:
        """``matrix @ self`` for a 2-D plaintext ``matrix``."""
        ...

    def rerandomize(self, *, n_jobs: int | None = None, executor: Executor | None = None) -> Self:
        """The same values under fresh randomness."""
        ...

    def pack(self, *, n_jobs: int | None = None, executor: Executor | None = None) -> PackedVector:
        """Several values per ciphertext (a backend without packing returns itself)."""
        ...

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[MaskedValues, Mask]:
        """Hide every plaintext under a uniform mask: ``(to send, to keep)``."""
        ...


class VectorPrivateKey(Protocol):
    """The key owner's key: raw residues of masked values, decoded vectors."""

    @property
    def public_key(self) -> VectorPublicKey:
        """The matching public key."""
        ...

    def decrypt_raw(
        self, vector: Any, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> list[int]:
        """Residues in ``[0, n)`` of every ciphertext of a vector of this backend."""
        ...

    def decrypt_vector(
        self, vector: Any, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> npt.NDArray[np.float64]:
        """Decrypt and decode a (packed) vector of this backend."""
        ...


if TYPE_CHECKING:  # mypy checks that every backend conforms; nothing runs
    from crypto.paillier import (
        EncryptedVector,
        MaskedVector,
        PackedEncryptedVector,
        PaillierPrivateKey,
        PaillierPublicKey,
        VectorMask,
    )
    from crypto.phe_vectors import PheMasked, PhePrivateKey, PhePublicKey, PheVector
    from crypto.plain import PlainMask, PlainMasked, PlainPrivateKey, PlainPublicKey, PlainVector

    def _paillier_conforms(
        keys: tuple[PaillierPublicKey, PaillierPrivateKey],
        vectors: tuple[EncryptedVector, PackedEncryptedVector, MaskedVector, VectorMask],
    ) -> tuple[
        tuple[VectorPublicKey, VectorPrivateKey],
        tuple[CipherVector, PackedVector, MaskedValues, Mask],
    ]:
        return keys, vectors

    def _plain_conforms(
        keys: tuple[PlainPublicKey, PlainPrivateKey],
        vectors: tuple[PlainVector, PlainVector, PlainMasked, PlainMask],
    ) -> tuple[
        tuple[VectorPublicKey, VectorPrivateKey],
        tuple[CipherVector, PackedVector, MaskedValues, Mask],
    ]:
        return keys, vectors

    def _phe_conforms(
        keys: tuple[PhePublicKey, PhePrivateKey],
        vectors: tuple[PheVector, PheVector, PheMasked, PlainMask],
    ) -> tuple[
        tuple[VectorPublicKey, VectorPrivateKey],
        tuple[CipherVector, PackedVector, MaskedValues, Mask],
    ]:
        return keys, vectors
