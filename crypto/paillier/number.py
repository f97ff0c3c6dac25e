"""One encrypted number, interchangeable with phe's ``EncryptedNumber``."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import gmpy2
from gmpy2 import mpz

from crypto.encoding import alignment_factor, encode_scalar
from crypto.paillier import _kernels
from crypto.paillier.validation import validate_ciphertexts

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey

__all__ = ["EncryptedNumber"]


class EncryptedNumber:
    """A Paillier ciphertext of ``mantissa * 16**exponent`` (phe's format).

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key the number is encrypted under.
    ciphertext : int
        The ciphertext, in ``(0, n**2)`` and coprime to ``n`` (checked).
    exponent : int, default 0
        The base-16 exponent of the encoded plaintext.

    Notes
    -----
    Arithmetic follows phe: operands with different exponents are aligned to the
    smaller one, and a plaintext float gets the exponent that keeps its 53 bits.
    Overflow is detected when decrypting (the middle third of the plaintext space);
    :class:`EncryptedVector` additionally tracks bounds so that overflow is refused
    before it happens.  The exponent is public: it reveals the magnitude of a float
    encrypted without an explicit precision.

    Raises
    ------
    MalformedCiphertextError
        If ``ciphertext`` is outside ``(0, n**2)`` or shares a factor with ``n``.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> x = public_key.encrypt(2.5)
    >>> private_key.decrypt(3 * x + 1), private_key.decrypt(x - x / 5)
    (8.5, 2.0)
    >>> copy = EncryptedNumber(public_key, x.ciphertext(), x.exponent)  # e.g. from phe
    >>> private_key.decrypt(copy + x)
    5.0
    """

    __slots__ = ("_ciphertext", "exponent", "public_key")

    def __init__(self, public_key: PaillierPublicKey, ciphertext: int, exponent: int = 0) -> None:
        (checked,) = validate_ciphertexts([ciphertext], public_key._n, public_key._n2)
        self.public_key = public_key
        self._ciphertext = checked
        self.exponent = int(exponent)

    @classmethod
    def _trusted(
        cls, public_key: PaillierPublicKey, ciphertext: mpz, exponent: int
    ) -> EncryptedNumber:
        number = cls.__new__(cls)
        number.public_key = public_key
        number._ciphertext = ciphertext
        number.exponent = exponent
        return number

    def ciphertext(self, be_secure: bool = True) -> int:
        """The ciphertext as an int.

        ``be_secure`` exists for phe compatibility: ciphertexts here are obfuscated
        when created, so the value is always safe to share.

        Parameters
        ----------
        be_secure : bool, default True
            Ignored (phe compatibility).

        Returns
        -------
        int
            The ciphertext, in ``(0, n**2)``.
        """
        return int(self._ciphertext)

    def __repr__(self) -> str:
        return f"<EncryptedNumber exponent={self.exponent} key={self.public_key.fingerprint}>"

    # helpers -------------------------------------------------------------------
    def _same_key(self, other: EncryptedNumber) -> None:
        self.public_key.check_same(other.public_key)

    def decrease_exponent_to(self, new_exponent: int) -> EncryptedNumber:
        """Return the same value re-encoded at a smaller exponent.

        Costs one exponentiation by ``16**(exponent - new_exponent)``.

        Parameters
        ----------
        new_exponent : int
            At most :attr:`exponent`.

        Returns
        -------
        EncryptedNumber
            The same value at ``new_exponent``.

        Raises
        ------
        ValueError
            If ``new_exponent`` is larger than :attr:`exponent`.
        """
        factor = alignment_factor(self.exponent, new_exponent)
        if factor == 1:
            return self
        ciphertext = gmpy2.powmod(self._ciphertext, factor, self.public_key._n2)
        return EncryptedNumber._trusted(self.public_key, ciphertext, new_exponent)

    def _raw_add_plain(self, mantissa: int) -> mpz:
        n, n2 = self.public_key._n, self.public_key._n2
        return self._ciphertext * (1 + (mantissa % n) * n) % n2

    def _raw_mul(self, mantissa: int) -> mpz:
        n2 = self.public_key._n2
        if mantissa < 0:
            base = gmpy2.invert(self._ciphertext, n2)
            return _kernels.powmod_pairs_gil_free([base], [-mantissa], n2)[0]
        return _kernels.powmod_pairs_gil_free([self._ciphertext], [mantissa], n2)[0]

    # arithmetic ----------------------------------------------------------------
    def __add__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            self._same_key(other)
            exponent = min(self.exponent, other.exponent)
            a, b = self.decrease_exponent_to(exponent), other.decrease_exponent_to(exponent)
            ciphertext = a._ciphertext * b._ciphertext % self.public_key._n2
            return EncryptedNumber._trusted(self.public_key, ciphertext, exponent)
        if isinstance(other, numbers.Real):
            mantissa, exponent = encode_scalar(other, self.public_key.n)
            if exponent > self.exponent:
                mantissa, exponent = encode_scalar(other, self.public_key.n, exponent=self.exponent)
            aligned = self.decrease_exponent_to(exponent)
            return EncryptedNumber._trusted(
                self.public_key, aligned._raw_add_plain(mantissa), exponent
            )
        return NotImplemented

    def __radd__(self, other: object) -> EncryptedNumber:
        return self.__add__(other)

    def __neg__(self) -> EncryptedNumber:
        return self * -1

    def __sub__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            return self + (-other)
        if isinstance(other, numbers.Real):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other: object) -> EncryptedNumber:
        if isinstance(other, numbers.Real):
            return (-self) + other
        return NotImplemented

    def __mul__(self, other: object) -> EncryptedNumber:
        if isinstance(other, EncryptedNumber):
            raise TypeError(
                "Paillier cannot multiply two ciphertexts; multiply by a plaintext number"
            )
        if not isinstance(other, numbers.Real):
            return NotImplemented
        mantissa, exponent = encode_scalar(other, self.public_key.n)
        return EncryptedNumber._trusted(
            self.public_key, self._raw_mul(mantissa), self.exponent + exponent
        )

    def __rmul__(self, other: object) -> EncryptedNumber:
        return self.__mul__(other)

    def __truediv__(self, scalar: object) -> EncryptedNumber:
        if not isinstance(scalar, numbers.Real):
            return NotImplemented
        return self * (1 / float(scalar))

    def rerandomize(self) -> EncryptedNumber:
        """The same plaintext under a fresh, statistically uniform obfuscator.

        Returns
        -------
        EncryptedNumber
            A new ciphertext of the same value and exponent.
        """
        (ciphertext,) = _kernels.rerandomize_public(self.public_key._n, [self._ciphertext], None)
        return EncryptedNumber._trusted(self.public_key, ciphertext, self.exponent)
