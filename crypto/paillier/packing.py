"""Plaintext packing: several fixed-point values in one Paillier plaintext.

A 2048-bit plaintext holds far more than one 60-bit gradient.  Packing shifts each
value to ``[0, 2 * bound]`` and places value ``k`` of a group at bit ``k * B``
(``B`` = bit length of ``2 * bound``), homomorphically, by Horner's rule:
``acc = acc**(2**B) * c_k``.  Decrypting a packed vector then needs one decryption
per group instead of one per value, which is what makes masked gradients cheap to
decrypt.  Packing costs ``B`` squarings per value, paid by the party that packs
(the one without the private key), and runs on GIL-releasing ``powmod_base_list``
calls.

The layout (length, slot width, slots per ciphertext, bound) is public.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gmpy2 import mpz

from crypto import parallel
from crypto.exceptions import PlaintextOverflowError
from crypto.paillier import _kernels
from crypto.paillier.randomization import rerandomize_ciphertexts

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey
    from crypto.paillier.masking import MaskedVector, VectorMask
    from crypto.paillier.vector import EncryptedVector

__all__ = ["PackedEncryptedVector", "PackingLayout", "pack_vector", "unpack_mantissas"]

_MIN_GROUPS_PER_CHUNK = 4


@dataclass(frozen=True)
class PackingLayout:
    """Where each value sits in the packed plaintexts.

    Attributes
    ----------
    length : int
        Number of packed values.
    slot_bits : int
        Width ``B`` of one slot.
    slots : int
        Values per ciphertext (the last ciphertext may hold fewer).
    bound : int
        Every mantissa lies in ``[-bound, bound]``; a slot stores ``mantissa + bound``.

    Examples
    --------
    >>> layout = PackingLayout.for_bound(200, bound=1000, modulus_bits=1024)
    >>> layout
    PackingLayout(length=200, slot_bits=11, slots=93, bound=1000)
    >>> layout.ciphertexts, layout.group_sizes()
    (3, [93, 93, 14])
    """

    length: int
    slot_bits: int
    slots: int
    bound: int

    @classmethod
    def for_bound(cls, length: int, bound: int, modulus_bits: int) -> PackingLayout:
        """The densest layout for ``length`` values with ``|mantissa| <= bound``.

        Parameters
        ----------
        length : int
            Number of values.
        bound : int
            Public bound on every ``|mantissa|``.
        modulus_bits : int
            Bit length of the key's ``n``.

        Returns
        -------
        PackingLayout
            Slots of ``bits(2 * bound)`` bits, as many per ciphertext as fit.

        Raises
        ------
        PlaintextOverflowError
            If fewer than two values fit in one plaintext.
        """
        slot_bits = max(1, (2 * bound).bit_length())
        slots = (modulus_bits - 1) // slot_bits
        if slots < 2:
            raise PlaintextOverflowError(
                f"values of up to {slot_bits} bits do not pack: at least two must fit "
                f"in {modulus_bits - 1} bits"
            )
        return cls(length=length, slot_bits=slot_bits, slots=slots, bound=bound)

    @property
    def ciphertexts(self) -> int:
        """Number of ciphertexts the layout needs."""
        return -(-self.length // self.slots)

    def group_sizes(self) -> list[int]:
        """Number of values in each ciphertext.

        Returns
        -------
        list of int
            :attr:`slots` for every ciphertext but possibly the last.
        """
        full, rest = divmod(self.length, self.slots)
        return [self.slots] * full + ([rest] if rest else [])

    def validate(self, modulus_bits: int) -> None:
        """Raise ``ValueError`` if the layout does not fit a ``modulus_bits`` key.

        Parameters
        ----------
        modulus_bits : int
            Bit length of the key's ``n``.

        Raises
        ------
        ValueError
            If a field is negative, the slots exceed the plaintext space or the
            bound does not fit a slot.
        """
        if self.length < 0 or self.slot_bits < 1 or self.slots < 1 or self.bound < 0:
            raise ValueError("packing layout fields must be positive")
        if self.slot_bits * self.slots > modulus_bits - 1:
            raise ValueError("packing layout exceeds the plaintext space")
        if (2 * self.bound).bit_length() > self.slot_bits:
            raise ValueError("packing bound does not fit the slot width")


class PackedEncryptedVector:
    """Ciphertexts each holding up to ``layout.slots`` fixed-point values.

    Decrypt with :meth:`PaillierPrivateKey.decrypt_vector`, or :meth:`mask` it
    first when the key owner is another party.  Make one with :func:`pack_vector`
    (or ``EncryptedVector.pack``).

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key.
    ciphertexts : list of gmpy2.mpz
        ``layout.ciphertexts`` packed ciphertexts (not checked: deserialise a
        peer's with :func:`~crypto.paillier.serialization.vector_from_bytes`).
    exponent : int
        The shared base-16 exponent.
    layout : PackingLayout
        Where each value sits.

    Raises
    ------
    ValueError
        If the layout does not fit the key or the ciphertext count is wrong.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> packed = public_key.encrypt_vector([1.5, -2.0, 0.25]).pack()
    >>> len(packed), len(packed.ciphertexts)  # three values in one ciphertext
    (3, 1)
    >>> private_key.decrypt_vector(packed.rerandomize()).tolist()
    [1.5, -2.0, 0.25]
    """

    __slots__ = ("_ciphertexts", "exponent", "layout", "public_key")

    def __init__(
        self,
        public_key: PaillierPublicKey,
        ciphertexts: list[mpz],
        exponent: int,
        layout: PackingLayout,
    ) -> None:
        layout.validate(public_key.bits)
        if len(ciphertexts) != layout.ciphertexts:
            raise ValueError(
                f"layout needs {layout.ciphertexts} ciphertexts, got {len(ciphertexts)}"
            )
        self.public_key = public_key
        self._ciphertexts = ciphertexts
        self.exponent = exponent
        self.layout = layout

    def __len__(self) -> int:
        return self.layout.length

    @property
    def bound(self) -> int:
        """Public bound on every packed mantissa."""
        return self.layout.bound

    @property
    def ciphertexts(self) -> list[int]:
        """The packed ciphertexts as Python ints (a copy)."""
        return [int(c) for c in self._ciphertexts]

    def __repr__(self) -> str:
        return (
            f"<PackedEncryptedVector len={len(self)} ciphertexts={len(self._ciphertexts)} "
            f"slot_bits={self.layout.slot_bits} key={self.public_key.fingerprint}>"
        )

    def rerandomize(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> PackedEncryptedVector:
        """The same packed plaintexts under fresh, statistically uniform obfuscators.

        Parameters
        ----------
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        PackedEncryptedVector
            New ciphertexts of the same plaintexts and layout.
        """
        return PackedEncryptedVector(
            self.public_key,
            rerandomize_ciphertexts(
                self.public_key, self._ciphertexts, n_jobs=n_jobs, executor=executor
            ),
            self.exponent,
            self.layout,
        )

    def mask(
        self, *, n_jobs: int | None = None, executor: Executor | None = None
    ) -> tuple[MaskedVector, VectorMask]:
        """Hide the packed plaintexts under uniform masks (see :mod:`.masking`).

        Parameters
        ----------
        n_jobs, executor
            See :mod:`crypto.parallel`.

        Returns
        -------
        tuple
            ``(MaskedVector to send, VectorMask to keep)``.
        """
        from crypto.paillier.masking import mask_vector

        return mask_vector(self, n_jobs=n_jobs, executor=executor)

    def to_bytes(self) -> bytes:
        """Serialise; see :mod:`.serialization`.

        Returns
        -------
        bytes
            The vector format of :func:`~crypto.paillier.serialization.vector_to_bytes`.
        """
        from crypto.paillier.serialization import vector_to_bytes

        return vector_to_bytes(self)


def pack_vector(
    vector: EncryptedVector, *, n_jobs: int | None = None, executor: Executor | None = None
) -> PackedEncryptedVector:
    """Pack an :class:`EncryptedVector` as densely as its bound allows.

    Parameters
    ----------
    vector : EncryptedVector
        The values to pack.
    n_jobs, executor
        See :mod:`crypto.parallel` (the work releases the GIL: threads by default).

    Returns
    -------
    PackedEncryptedVector
        The same values, ``layout.slots`` per ciphertext.

    Raises
    ------
    PlaintextOverflowError
        If the vector's bound is too large for two values to share a plaintext.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> ev = public_key.encrypt_vector([float(i) for i in range(40)], max_abs=64.0)
    >>> packed = pack_vector(ev)
    >>> packed.layout.slots, len(packed.ciphertexts)
    (25, 2)
    >>> private_key.decrypt_vector(packed)[[0, 24, 25, 39]].tolist()
    [0.0, 24.0, 25.0, 39.0]
    """
    public_key = vector.public_key
    layout = PackingLayout.for_bound(len(vector), max(vector.bound, 1), public_key.bits)
    ciphertexts = vector._ciphertexts
    groups: list[list[mpz]] = []
    start = 0
    for size in layout.group_sizes():
        groups.append(list(ciphertexts[start : start + size]))
        start += size
    n, n2 = public_key._n, public_key._n2
    workers = parallel.effective_workers(n_jobs, executor)
    chunks = parallel.chunk_bounds(len(groups), workers, _MIN_GROUPS_PER_CHUNK)
    results = parallel.run_chunks(
        _kernels.pack_groups_gil_free,
        [(groups[a:b], layout.slot_bits, n2) for a, b in chunks],
        releases_gil=True,
        n_jobs=n_jobs,
        executor=executor,
    )
    packed = [c for chunk in results for c in chunk]
    # add `bound` to every slot so that slots hold non-negative numbers
    offsets: dict[int, mpz] = {}
    shifted = []
    for ciphertext, size in zip(packed, layout.group_sizes(), strict=True):
        if size not in offsets:
            offset = sum(layout.bound << (k * layout.slot_bits) for k in range(size))
            offsets[size] = 1 + (offset % n) * n
        shifted.append(ciphertext * offsets[size] % n2)
    return PackedEncryptedVector(public_key, shifted, vector.exponent, layout)


def unpack_mantissas(plaintexts: Sequence[int], layout: PackingLayout) -> list[int]:
    """Signed mantissas from decrypted packed plaintexts.

    Parameters
    ----------
    plaintexts : sequence of int
        One decrypted plaintext per packed ciphertext, in order.
    layout : PackingLayout
        The layout of the packed vector.

    Returns
    -------
    list of int
        ``layout.length`` signed mantissas.

    Raises
    ------
    ValueError
        If the number of plaintexts does not match the layout.
    PlaintextOverflowError
        If a plaintext or slot is outside what the layout allows (a corrupted or
        dishonestly decrypted value).

    Examples
    --------
    Two 4-bit slots holding ``1 + 3`` and ``-2 + 3``:

    >>> layout = PackingLayout(length=2, slot_bits=4, slots=2, bound=3)
    >>> unpack_mantissas([4 + (1 << 4)], layout)
    [1, -2]
    """
    if len(plaintexts) != layout.ciphertexts:
        raise ValueError(f"expected {layout.ciphertexts} plaintexts, got {len(plaintexts)}")
    slot_mask = (1 << layout.slot_bits) - 1
    ceiling = 2 * layout.bound
    mantissas: list[int] = []
    for plaintext, size in zip(plaintexts, layout.group_sizes(), strict=True):
        if plaintext < 0 or plaintext.bit_length() > size * layout.slot_bits:
            raise PlaintextOverflowError(
                "a packed plaintext is larger than its layout allows: it was corrupted "
                "or decrypted with the wrong key"
            )
        for k in range(size):
            slot = (plaintext >> (k * layout.slot_bits)) & slot_mask
            if slot > ceiling:
                raise PlaintextOverflowError("a packed slot exceeds its bound")
            mantissas.append(slot - layout.bound)
    return mantissas
